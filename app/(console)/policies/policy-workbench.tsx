'use client';

import dynamic from 'next/dynamic';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { RouteGraph } from '@/contracts/route-graph.schema';
import { API, callConsoleApi, describeConsoleFailure } from '../../_lib/console-api';
import { formatTime } from '../../_lib/format';
import type { RegoMarker } from './rego-editor';

/** Monaco is big: it loads after the page, in its own chunk. */
const RegoEditor = dynamic(() => import('./rego-editor'), {
  ssr: false,
  loading: () => (
    <p className="muted" role="status">
      Loading the Rego editor…
    </p>
  ),
});

export interface PolicySummary {
  name: string;
  kind: 'admission' | 'request';
  live: boolean;
}

export interface LoadedPolicy {
  name: string;
  kind: 'admission' | 'request';
  description: string;
  liveVersion: number | null;
  versions: { number: number; status: string; createdBy: string; createdAt: string; live: boolean }[];
  modules: { file: string; source: string }[];
  data: Record<string, unknown>;
  shownVersion: number | null;
}

interface Diagnostic {
  file: string;
  row: number;
  col: number;
  code: string;
  message: string;
}

interface TestResult {
  package: string;
  name: string;
  file: string;
  row: number;
  passed: boolean;
  skipped: boolean;
  error?: string;
  durationNs: number;
  output?: string;
}

interface DecisionRow {
  id: string;
  at?: string;
  createdAt?: string;
  allowed: boolean;
  method?: string;
  path?: string;
  route?: string;
  status?: number;
  durationUs?: number;
  error?: string | null;
}

const TEMPLATES: Record<'request' | 'admission', { file: string; source: string }[]> = {
  request: [
    {
      file: 'policy.rego',
      source: `package proxyshard.request

import rego.v1

# Requests are denied unless a rule below allows them.
default allow := false

# Allow requests that carry an x-user header.
allow if {
\tinput.attributes.request.http.headers["x-user"] != ""
}
`,
    },
    {
      file: 'policy_test.rego',
      source: `package proxyshard.request_test

import rego.v1

import data.proxyshard.request

test_allows_a_user if {
\trequest.allow with input as {"attributes": {"request": {"http": {"method": "GET", "headers": {"x-user": "ada"}}}}}
}

test_denies_anonymous if {
\tnot request.allow with input as {"attributes": {"request": {"http": {"method": "GET", "headers": {}}}}}
}
`,
    },
  ],
  admission: [
    {
      file: 'policy.rego',
      source: `package proxyshard.admission

import rego.v1

# Refuse revisions that send all traffic of a route to a single new cluster at once.
deny contains msg if {
\tsome route in input.revision.graph.routes
\troute.action.kind == "forward"
\tcount(route.action.clusters) == 0
\tmsg := sprintf("route %s forwards to no cluster", [route.name])
}
`,
    },
  ],
};
import { DataTable } from '../../_lib/data-table';

const SAMPLE_INPUT = {
  request: { attributes: { request: { http: { method: 'GET', path: '/', host: 'example.com', headers: { 'x-user': 'ada' } } } }, parsed_path: [''] },
  admission: { revision: { graph: { routes: [] } }, diff: {}, actor: { type: 'user', id: 'u', name: 'ada' } },
};

/** `modules[1]:7:3` → module 1, row 7, col 3 (the API's located issues). */
function parseIssueLocation(path: string): { module: number; row: number; col: number } | null {
  const m = /^modules\[(\d+)\]:(\d+):(\d+)$/.exec(path);
  return m ? { module: Number(m[1]), row: Number(m[2]), col: Number(m[3]) } : null;
}

export function PolicyWorkbench({
  policies,
  loaded,
  newName,
  canWrite,
  canBind,
  liveRevision,
  routeNames,
}: {
  policies: PolicySummary[];
  loaded: LoadedPolicy | null;
  newName: string | null;
  canWrite: boolean;
  canBind: boolean;
  liveRevision: { id: string; number: number } | null;
  routeNames: string[];
}) {
  const router = useRouter();
  const [name, setName] = useState(loaded?.name ?? newName ?? '');
  const [kind, setKind] = useState<'request' | 'admission'>(loaded?.kind ?? 'request');
  const [modules, setModules] = useState(loaded && loaded.modules.length > 0 ? loaded.modules : TEMPLATES[loaded?.kind ?? 'request']);
  const [active, setActive] = useState(0);
  const [dataText, setDataText] = useState(JSON.stringify(loaded?.data ?? {}, null, 2));
  const [inputText, setInputText] = useState(JSON.stringify(SAMPLE_INPUT[loaded?.kind ?? 'request'], null, 2));
  const [diagnostics, setDiagnostics] = useState<Diagnostic[]>([]);
  const [checkState, setCheckState] = useState<'idle' | 'checking' | 'ok' | 'errors' | 'unavailable'>('idle');
  const [tests, setTests] = useState<{ results: TestResult[]; summary?: { passed: number; failed: number; skipped: number } } | null>(null);
  const [evaluation, setEvaluation] = useState<unknown>(null);
  const [status, setStatus] = useState<{ kind: 'ok' | 'error' | 'info'; text: string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [activate, setActivate] = useState(true);
  const [bindRoutes, setBindRoutes] = useState<string[]>([]);
  const [decisions, setDecisions] = useState<{ rows: DecisionRow[]; error: string | null } | null>(null);
  const isNew = loaded === null;
  const current = modules[active] ?? modules[0]!;

  // ---- live `opa check` while typing (debounced), markers on the right line and column
  const checkSeq = useRef(0);
  useEffect(() => {
    const seq = ++checkSeq.current;
    const timer = setTimeout(async () => {
      setCheckState('checking');
      const r = await callConsoleApi<{ ok: boolean; diagnostics: Diagnostic[] }>('POST', API.policyCheck, { modules });
      if (seq !== checkSeq.current) return;
      if (!r.ok) {
        setCheckState(r.missing ? 'unavailable' : 'errors');
        if (!r.missing) setStatus({ kind: 'error', text: describeConsoleFailure(r, 'Checking', 'POST /api/v1/policies/check') });
        return;
      }
      setDiagnostics(r.data.diagnostics);
      setCheckState(r.data.ok ? 'ok' : 'errors');
    }, 700);
    return () => clearTimeout(timer);
  }, [modules]);

  const markers: RegoMarker[] = useMemo(() => diagnostics.filter((d) => d.file === current.file).map((d) => ({ row: d.row, col: d.col, message: d.message, code: d.code })), [diagnostics, current.file]);

  const setSource = useCallback((v: string) => setModules((ms) => ms.map((m, i) => (i === active ? { ...m, source: v } : m))), [active]);

  const parseData = (): Record<string, unknown> | null => {
    try {
      const d = JSON.parse(dataText || '{}') as unknown;
      if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new Error('the data document must be a JSON object');
      return d as Record<string, unknown>;
    } catch (err) {
      setStatus({ kind: 'error', text: `Data document: ${err instanceof Error ? err.message : String(err)}` });
      return null;
    }
  };

  const format = async () => {
    setBusy('format');
    const r = await callConsoleApi<{ ok: boolean; source?: string; changed?: boolean; diagnostics: Diagnostic[] }>('POST', API.policyFormat, { module: current });
    setBusy(null);
    if (!r.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(r, 'Formatting', 'POST /api/v1/policies/format') });
    if (!r.data.ok || r.data.source === undefined) {
      setDiagnostics(r.data.diagnostics);
      return setStatus({ kind: 'error', text: 'Cannot format: fix the syntax errors first (marked in the editor).' });
    }
    setSource(r.data.source);
    setStatus({ kind: 'ok', text: r.data.changed ? `Formatted ${current.file}.` : `${current.file} was already formatted.` });
  };

  const runTests = async () => {
    const data = parseData();
    if (!data) return;
    setBusy('test');
    const r = await callConsoleApi<{ ok: boolean; results: TestResult[]; summary: { passed: number; failed: number; skipped: number }; diagnostics: Diagnostic[] }>('POST', API.policyTest, { modules, data });
    setBusy(null);
    if (!r.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(r, 'Running tests', 'POST /api/v1/policies/test') });
    setTests({ results: r.data.results, summary: r.data.summary });
    if (r.data.diagnostics.length) setDiagnostics(r.data.diagnostics);
    const s = r.data.summary;
    if (r.data.results.length === 0 && r.data.diagnostics.length === 0) setStatus({ kind: 'info', text: 'No tests found: add a module whose name ends in _test.rego with test_ rules.' });
    else setStatus({ kind: r.data.ok ? 'ok' : 'error', text: r.data.diagnostics.length ? 'The tests could not run: see the markers.' : `Tests: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped.` });
  };

  const save = async () => {
    const data = parseData();
    if (!data) return;
    setBusy('save');
    const r = isNew
      ? await callConsoleApi<{ version: { number: number } }>('POST', API.policies, { name, kind, modules, data, activate })
      : await callConsoleApi<{ version: { number: number } }>('POST', `${API.policy(name)}/versions`, { modules, data, activate });
    setBusy(null);
    if (!r.ok) {
      const located = (r.error.issues ?? []).map((i) => ({ loc: parseIssueLocation(i.path), message: i.message })).filter((x) => x.loc);
      if (located.length > 0) {
        setDiagnostics(located.map((x) => ({ file: modules[x.loc!.module]?.file ?? '', row: x.loc!.row, col: x.loc!.col, code: 'error', message: x.message })));
      }
      return setStatus({ kind: 'error', text: describeConsoleFailure(r, 'Saving a policy', 'POST /api/v1/policies') });
    }
    setStatus({ kind: 'ok', text: `Saved ${name} version ${r.data.version.number}${activate ? ' and made it live' : ''}.` });
    router.push(`/policies?name=${encodeURIComponent(name)}`);
    router.refresh();
  };

  const evaluate = async () => {
    let input: unknown;
    try {
      input = JSON.parse(inputText);
    } catch (err) {
      return setStatus({ kind: 'error', text: `Sample input is not JSON: ${err instanceof Error ? err.message : String(err)}` });
    }
    if (isNew) return setStatus({ kind: 'info', text: 'Save the policy first: evaluation runs a compiled version.' });
    setBusy('evaluate');
    const r = await callConsoleApi<unknown>('POST', `${API.policy(name)}/evaluate`, { input });
    setBusy(null);
    if (!r.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(r, 'Evaluating', 'POST /api/v1/policies/{id}/evaluate') });
    setEvaluation(r.data);
    setStatus({ kind: 'ok', text: 'Evaluated the live version with the sample input.' });
  };

  const bind = async () => {
    if (!liveRevision) return setStatus({ kind: 'error', text: 'Nothing is live yet: create and apply a route graph in the Graph editor first.' });
    if (bindRoutes.length === 0) return setStatus({ kind: 'info', text: 'Choose at least one route to bind.' });
    setBusy('bind');
    try {
      const live = await callConsoleApi<{ revision: { graph: RouteGraph } }>('GET', API.revision(liveRevision.id));
      if (!live.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(live, 'Reading the live revision', 'GET /api/v1/revisions/{id}') });
      const g = live.data.revision.graph;
      const graph: RouteGraph = { ...g, routes: g.routes.map((r) => (bindRoutes.includes(r.name) ? { ...r, extAuthz: { policy: name } } : r)) };
      const created = await callConsoleApi<{ revision?: { id: string; number?: number }; id?: string; number?: number }>('POST', API.revisions, {
        graph,
        message: `bind policy ${name} to ${bindRoutes.join(', ')}`,
      });
      if (!created.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(created, 'Binding (it creates a new revision)', 'POST /api/v1/revisions') });
      const rev = created.data.revision ?? created.data;
      if (!rev.id) return setStatus({ kind: 'error', text: 'The revision was created but its id was not returned; apply it from Revisions.' });
      const applied = await callConsoleApi<unknown>('POST', API.applyRevision(rev.id), {});
      if (!applied.ok) return setStatus({ kind: 'error', text: `Revision #${rev.number ?? '?'} binds the policy but was not applied: ${describeConsoleFailure(applied, 'Applying', 'POST /api/v1/revisions/{id}/apply')}` });
      setStatus({ kind: 'ok', text: `Bound ${name} to ${bindRoutes.join(', ')}: revision #${rev.number ?? '?'} applied.` });
      router.refresh();
    } finally {
      setBusy(null);
    }
  };

  const loadDecisions = useCallback(async () => {
    if (isNew || !name) return;
    const r = await callConsoleApi<{ decisions: DecisionRow[] }>('GET', `${API.policy(name)}/decisions?limit=50`);
    if (!r.ok) return setDecisions({ rows: [], error: describeConsoleFailure(r, 'The decision log', 'GET /api/v1/policies/{id}/decisions') });
    setDecisions({ rows: r.data.decisions, error: null });
  }, [isNew, name]);
  useEffect(() => {
    if (kind !== 'request' || isNew) return;
    const first = setTimeout(() => void loadDecisions(), 0);
    const timer = setInterval(() => void loadDecisions(), 5000);
    return () => {
      clearTimeout(first);
      clearInterval(timer);
    };
  }, [kind, isNew, loadDecisions]);

  const addModule = () => {
    const base = modules.some((m) => m.file === 'policy_test.rego') ? `extra_${modules.length}.rego` : 'policy_test.rego';
    setModules((ms) => [...ms, { file: base, source: `package ${kind === 'request' ? 'proxyshard.request' : 'proxyshard.admission'}_test\n\nimport rego.v1\n` }]);
    setActive(modules.length);
  };

  const diagCount = diagnostics.length;

  return (
    <div className="policy-layout">
      <nav className="card policy-list" aria-label="Policies">
        <h2 className="panel-title">Policies</h2>
        {policies.length === 0 ? (
          <p className="muted small">No policies yet. Write one on the right and save it.</p>
        ) : (
          <ul className="ref-list">
            {policies.map((p) => (
              <li key={p.name}>
                <Link href={`/policies?name=${encodeURIComponent(p.name)}`} aria-current={p.name === loaded?.name ? 'page' : undefined}>
                  {p.name}
                </Link>{' '}
                <span className="badge">{p.kind}</span>
                {!p.live && <span className="badge warn">not live</span>}
              </li>
            ))}
          </ul>
        )}
        <p>
          <Link href="/policies">+ New policy</Link>
        </p>
      </nav>

      <section className="policy-main" aria-label="Policy">
        <div className="inline card policy-head">
          <label>
            Name
            <input value={name} onChange={(e) => setName(e.target.value)} readOnly={!isNew} required pattern="[a-z0-9]([a-z0-9-]*[a-z0-9])?" placeholder="require-user" />
          </label>
          <label>
            Kind
            <select
              value={kind}
              disabled={!isNew}
              onChange={(e) => {
                const k = e.target.value as 'request' | 'admission';
                setKind(k);
                setModules(TEMPLATES[k]);
                setInputText(JSON.stringify(SAMPLE_INPUT[k], null, 2));
                setActive(0);
              }}
            >
              <option value="request">request (ext_authz)</option>
              <option value="admission">admission (guardrail)</option>
            </select>
          </label>
          {loaded && (
            <span className="muted small">
              showing version {loaded.shownVersion ?? '—'}
              {loaded.liveVersion !== null ? ` · live version ${loaded.liveVersion}` : ' · no live version'}
            </span>
          )}
        </div>

        <div className="tabs" role="tablist" aria-label="Modules">
          {modules.map((m, i) => (
            <button key={m.file} type="button" role="tab" aria-selected={i === active} className={i === active ? 'tab active' : 'tab'} onClick={() => setActive(i)}>
              {m.file}
              {diagnostics.some((d) => d.file === m.file) && <span className="error"> ●</span>}
            </button>
          ))}
          {canWrite && (
            <button type="button" className="tab" onClick={addModule} title="Add a module">
              +
            </button>
          )}
        </div>
        <div className="rego-editor-box">
          <RegoEditor path={current.file} value={current.source} onChange={setSource} markers={markers} readOnly={!canWrite} label={`Rego module ${current.file}`} />
        </div>
        <div className="policy-status" role="status" aria-live="polite">
          <span className={checkState === 'ok' ? 'ok' : checkState === 'errors' ? 'error' : 'muted'} data-check-state={checkState}>
            {checkState === 'checking'
              ? 'Checking…'
              : checkState === 'ok'
                ? '✓ opa check: no errors'
                : checkState === 'errors'
                  ? `${diagCount} problem${diagCount === 1 ? '' : 's'}`
                  : checkState === 'unavailable'
                    ? 'opa check is not available on this server yet'
                    : ''}
          </span>
          {status && <span className={status.kind === 'error' ? 'error' : status.kind === 'ok' ? 'ok' : 'muted'}> {status.text}</span>}
        </div>
        {diagCount > 0 && (
          <ul className="issue-list error" aria-label="Diagnostics">
            {diagnostics.map((d, i) => (
              <li key={i}>
                <button type="button" className="link" onClick={() => setActive(Math.max(0, modules.findIndex((m) => m.file === d.file)))}>
                  {d.file}:{d.row}:{d.col}
                </button>{' '}
                {d.message} <span className="muted">({d.code})</span>
              </li>
            ))}
          </ul>
        )}
        <div className="btn-group">
          <button type="button" className="secondary" onClick={() => void format()} disabled={busy !== null || !canWrite}>
            Format
          </button>
          <button type="button" className="secondary" onClick={() => void runTests()} disabled={busy !== null}>
            {busy === 'test' ? 'Running…' : 'Run tests'}
          </button>
          {canWrite && (
            <>
              <label className="inline-label small">
                <input type="checkbox" checked={activate} onChange={(e) => setActivate(e.target.checked)} /> make live when it compiles
              </label>
              <button type="button" onClick={() => void save()} disabled={busy !== null || !name}>
                {busy === 'save' ? 'Saving…' : isNew ? 'Create policy' : 'Save new version'}
              </button>
            </>
          )}
        </div>

        {tests && (
          <div className="card">
            <h2 className="panel-title">Test results</h2>
            {tests.results.length === 0 ? (
              <p className="muted">No test ran.</p>
            ) : (
              <ul className="test-results">
                {tests.results.map((t) => (
                  <li key={`${t.file}:${t.name}`} className={t.passed ? 'ok' : t.skipped ? 'muted' : 'error'}>
                    {t.passed ? '✓ PASS' : t.skipped ? '○ SKIP' : '✗ FAIL'} <span className="mono">{t.name}</span> <span className="muted small">({t.file}:{t.row}, {(t.durationNs / 1e6).toFixed(2)} ms)</span>
                    {t.error && <div className="small">{t.error}</div>}
                    {t.output && <pre className="small">{t.output}</pre>}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}

        <div className="policy-grid">
          <div className="card">
            <h2 className="panel-title">Data document</h2>
            <textarea rows={6} value={dataText} onChange={(e) => setDataText(e.target.value)} aria-label="Data document (JSON)" spellCheck={false} />
          </div>
          <div className="card">
            <h2 className="panel-title">Playground</h2>
            <textarea rows={6} value={inputText} onChange={(e) => setInputText(e.target.value)} aria-label="Sample input (JSON)" spellCheck={false} />
            <button type="button" className="secondary small" onClick={() => void evaluate()} disabled={busy !== null}>
              Evaluate live version
            </button>
            {evaluation !== null && <pre aria-label="Evaluation result">{JSON.stringify(evaluation, null, 2)}</pre>}
          </div>
        </div>

        {kind === 'request' && !isNew && (
          <div className="card">
            <h2 className="panel-title">Bind to routes</h2>
            {routeNames.length === 0 ? (
              <p className="muted">No routes are live yet. Build one in the Graph editor first.</p>
            ) : (
              <>
                <p className="muted small">
                  Binding sets <code>extAuthz: {`{ policy: "${name}" }`}</code> on the chosen routes of the live revision
                  {liveRevision ? ` (#${liveRevision.number})` : ''}, saves that as a new revision and applies it. You can also draw a route → policy edge in the Graph editor.
                </p>
                <fieldset className="route-picks">
                  <legend className="visually-hidden">Routes</legend>
                  {routeNames.map((r) => (
                    <label key={r} className="inline-label">
                      <input type="checkbox" checked={bindRoutes.includes(r)} onChange={(e) => setBindRoutes((xs) => (e.target.checked ? [...xs, r] : xs.filter((x) => x !== r)))} /> {r}
                    </label>
                  ))}
                </fieldset>
                <button type="button" onClick={() => void bind()} disabled={!canBind || busy !== null}>
                  {busy === 'bind' ? 'Binding…' : 'Bind and apply'}
                </button>
              </>
            )}
          </div>
        )}

        {loaded && (
          <div className="card">
            <h2 className="panel-title">Versions</h2>
            <ul className="ref-list">
              {loaded.versions.map((v) => (
                <li key={v.number}>
                  v{v.number} <span className={`badge ${v.status}`}>{v.status}</span>
                  {v.live && <span className="badge live">live</span>} <span className="muted small">{formatTime(v.createdAt)} by {v.createdBy}</span>
                </li>
              ))}
            </ul>
          </div>
        )}

        {kind === 'request' && !isNew && (
          <div className="card">
            <h2 className="panel-title">Decision log (sampled, refreshes every 5 s)</h2>
            {decisions?.error ? (
              <p className="error">{decisions.error}</p>
            ) : !decisions || decisions.rows.length === 0 ? (
              <p className="muted">No decisions logged yet. Decisions are sampled (EXTAUTHZ_DECISION_LOG_SAMPLE_RATE); send requests through a bound route.</p>
            ) : (
              <DataTable columns={['At', 'Decision', 'Request', 'Route', 'Time']}>
                {decisions.rows.map((d) => (
                  <tr key={d.id}>
                    <td>{formatTime(d.at ?? d.createdAt)}</td>
                    <td>
                      <span className={`badge ${d.allowed ? 'live' : 'rejected'}`}>{d.allowed ? 'allow' : 'deny'}</span>
                      {d.error && <span className="error small"> {d.error}</span>}
                    </td>
                    <td className="mono">
                      {d.method} {d.path}
                    </td>
                    <td className="mono">{d.route ?? '—'}</td>
                    <td>{d.durationUs !== undefined ? `${d.durationUs} µs` : '—'}</td>
                  </tr>
                ))}
              </DataTable>
            )}
          </div>
        )}
      </section>
    </div>
  );
}
