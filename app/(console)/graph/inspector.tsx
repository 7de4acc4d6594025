'use client';

import { memo, useState, type ReactNode } from 'react';
import { ResourceNameSchema, type Cluster, type Endpoint, type Listener, type NodeGroup, type Route, type RouteGraph, type VirtualHost } from '@/contracts/route-graph.schema';
import type { ValidationIssue } from '@/contracts/route-graph.validate';
import { disconnect, findObject, KIND_LABEL, nodeId, parseNodeId, replaceObject, setWeight } from '../../_lib/route-graph-model';

interface InspectorProps {
  graph: RouteGraph;
  selectedIds: string[];
  selectedEdgeIds: string[];
  issuesByNode: Map<string, ValidationIssue[]>;
  canWrite: boolean;
  commit: (g: RouteGraph, key?: string) => void;
  onRenamed: (fromId: string, toId: string) => void;
  onSelect: (id: string) => void;
  onError: (text: string) => void;
  /** Shown under the selected object's fields (live policy counts); keep it stable (memoised) across renders. */
  extra?: ReactNode;
}

/**
 * The side panel: every field of the selected object, its validation issues, and its connections. Memoised:
 * dragging nodes or panning does not re-render it (its props are stable then).
 */
export const Inspector = memo(function Inspector(props: InspectorProps) {
  const { graph, selectedIds, selectedEdgeIds } = props;
  let body: ReactNode;
  if (selectedIds.length === 1) body = parseNodeId(selectedIds[0]!)?.kind === 'xdpRuleSet' ? null : <ObjectPanel key={selectedIds[0]} id={selectedIds[0]!} {...props} />;
  else if (selectedIds.length > 1) body = <p className="muted">{selectedIds.length} objects selected. Ctrl+C copies them, Delete removes them.</p>;
  else if (selectedEdgeIds.length === 1) body = <EdgePanel key={selectedEdgeIds[0]} id={selectedEdgeIds[0]!} {...props} />;
  else
    body = (
      <div className="muted">
        <p>Select a node or connection to see and edit its fields.</p>
        <p className="small">
          Shortcuts: <kbd>/</kbd> search, <kbd>Delete</kbd> remove, <kbd>Ctrl</kbd>+<kbd>Z</kbd>/<kbd>Y</kbd> undo/redo, <kbd>Ctrl</kbd>+<kbd>C</kbd>/<kbd>V</kbd> copy/paste,
          Shift+click to select several.
        </p>
        <p className="small">
          {graph.listeners.length} listeners · {graph.virtualHosts.length} virtual hosts · {graph.routes.length} routes · {graph.clusters.length} clusters · {graph.nodeGroups.length} node groups
        </p>
      </div>
    );
  return (
    <aside className="inspector" aria-label="Selected object">
      {body}
      {props.extra}
    </aside>
  );
});

function EdgePanel({ id, graph, canWrite, commit }: InspectorProps & { id: string }) {
  const [kind, source, target] = id.split('|') as [string, string, string];
  const s = parseNodeId(source);
  const t = parseNodeId(target);
  if (!s || !t) return null;
  const route = kind === 'r-c' ? graph.routes.find((r) => r.name === s.name) : undefined;
  const wc = route?.action.kind === 'forward' ? route.action.clusters.find((c) => c.cluster === t.name) : undefined;
  return (
    <div>
      <h2 className="panel-title">Connection</h2>
      <p>
        {KIND_LABEL[s.kind]} <strong>{s.name}</strong> → {KIND_LABEL[t.kind]} <strong>{t.name}</strong>
      </p>
      {route && wc && <WeightControl route={route.name} cluster={wc.cluster} weight={wc.weight} total={totalWeight(route)} disabled={!canWrite} graph={graph} commit={commit} />}
      {canWrite && (
        <button type="button" className="danger small" onClick={() => commit(disconnect(graph, id))}>
          Remove connection
        </button>
      )}
    </div>
  );
}

function totalWeight(r: Route): number {
  return r.action.kind === 'forward' ? r.action.clusters.reduce((a, c) => a + c.weight, 0) : 0;
}

function WeightControl({ route, cluster, weight, total, disabled, graph, commit }: { route: string; cluster: string; weight: number; total: number; disabled: boolean; graph: RouteGraph; commit: InspectorProps['commit'] }) {
  const set = (v: number) => commit(setWeight(graph, route, cluster, v), `weight:${route}:${cluster}`);
  const share = total > 0 ? Math.round((weight / total) * 1000) / 10 : 0;
  return (
    <div className="weight-row">
      <span className="mono weight-name">{cluster}</span>
      <input type="range" min={0} max={Math.max(100, weight)} step={1} value={weight} disabled={disabled} aria-label={`Weight of ${cluster} (slider)`} onChange={(e) => set(Number(e.target.value))} />
      <input
        type="number"
        className="weight-number"
        min={0}
        max={10000}
        step={1}
        value={weight}
        disabled={disabled}
        aria-label={`Weight of ${cluster}`}
        onChange={(e) => set(e.target.value === '' ? 0 : Number(e.target.value))}
      />
      <span className="muted small">{share}%</span>
    </div>
  );
}

// ------------------------------------------------------------------------------------------- fields

function Field({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
      {hint && <span className="muted small">{hint}</span>}
    </label>
  );
}

/** A text input that commits on blur or Enter (names, lists): typing does not rewrite the graph per key. */
function CommitInput({ value, onCommit, label, disabled, placeholder }: { value: string; onCommit: (v: string) => string | null; label: string; disabled: boolean; placeholder?: string }) {
  const [draft, setDraft] = useState(value);
  const [error, setError] = useState<string | null>(null);
  const [prev, setPrev] = useState(value);
  if (prev !== value) {
    setPrev(value);
    setDraft(value);
  }
  const done = () => {
    if (draft === value) return setError(null);
    setError(onCommit(draft));
  };
  return (
    <Field label={label}>
      <input
        value={draft}
        disabled={disabled}
        placeholder={placeholder}
        aria-invalid={error ? true : undefined}
        onChange={(e) => setDraft(e.target.value)}
        onBlur={done}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            done();
          } else if (e.key === 'Escape') {
            setDraft(value);
            setError(null);
          }
        }}
      />
      {error && (
        <span className="error small" role="alert">
          {error}
        </span>
      )}
    </Field>
  );
}

function NumberInput({ label, value, onChange, disabled, min, max, optional }: { label: string; value: number | undefined; onChange: (v: number | undefined) => void; disabled: boolean; min?: number; max?: number; optional?: boolean }) {
  return (
    <Field label={label}>
      <input
        type="number"
        value={value ?? ''}
        min={min}
        max={max}
        disabled={disabled}
        placeholder={optional ? 'not set' : undefined}
        onChange={(e) => onChange(e.target.value === '' ? (optional ? undefined : 0) : Number(e.target.value))}
      />
    </Field>
  );
}

function Select<T extends string>({ label, value, options, onChange, disabled }: { label: string; value: T; options: readonly T[]; onChange: (v: T) => void; disabled: boolean }) {
  return (
    <Field label={label}>
      <select value={value} disabled={disabled} onChange={(e) => onChange(e.target.value as T)}>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </Field>
  );
}

const splitList = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

function nameError(name: string): string | null {
  const r = ResourceNameSchema.safeParse(name);
  return r.success ? null : (r.error.issues[0]?.message ?? 'invalid name');
}

// --------------------------------------------------------------------------------------- the object

function ObjectPanel({ id, graph, issuesByNode, canWrite, commit, onRenamed, onSelect, onError }: InspectorProps & { id: string }) {
  const obj = findObject(graph, id);
  if (!obj) return <p className="muted">The selected object no longer exists.</p>;
  const issues = issuesByNode.get(id) ?? [];
  const disabled = !canWrite;
  const update = (value: unknown, key: string) => {
    const r = replaceObject(graph, id, value);
    if (!r.ok) return onError(r.error);
    commit(r.graph, `${id}:${key}`);
  };
  const rename = (to: string): string | null => {
    if (obj.kind === 'endpoint') return null;
    const err = nameError(to);
    if (err) return err;
    const r = replaceObject(graph, id, { ...obj.value, name: to });
    if (!r.ok) return r.error;
    onRenamed(id, nodeId(obj.kind, to));
    commit(r.graph);
    return null;
  };

  let fields: ReactNode = null;
  switch (obj.kind) {
    case 'listener': {
      const v: Listener = obj.value;
      fields = (
        <>
          <CommitInput label="Name" value={v.name} onCommit={rename} disabled={disabled} />
          <CommitInput label="Address" value={v.address} onCommit={(s) => (update({ ...v, address: s }, 'address'), null)} disabled={disabled} />
          <NumberInput label="Port" value={v.port} min={1} max={65535} onChange={(p) => update({ ...v, port: p ?? 0 }, 'port')} disabled={disabled} />
          <Select label="Protocol" value={v.protocol} options={['auto', 'http1', 'http2'] as const} onChange={(p) => update({ ...v, protocol: p }, 'protocol')} disabled={disabled} />
          <CommitInput
            label="TLS certificate (name, empty for plain text)"
            value={v.tls?.certificate ?? ''}
            onCommit={(s) => {
              const { tls: _t, ...rest } = v;
              update(s ? { ...v, tls: { certificate: s } } : rest, 'tls');
              return null;
            }}
            disabled={disabled}
          />
          <Refs label="Virtual hosts" ids={v.virtualHosts.map((n) => nodeId('virtualHost', n))} onSelect={onSelect} />
        </>
      );
      break;
    }
    case 'virtualHost': {
      const v: VirtualHost = obj.value;
      fields = (
        <>
          <CommitInput label="Name" value={v.name} onCommit={rename} disabled={disabled} />
          <CommitInput
            label="Domains (comma-separated)"
            value={v.domains.join(', ')}
            onCommit={(s) => (update({ ...v, domains: splitList(s) }, 'domains'), null)}
            disabled={disabled}
          />
          <PolicyBinding value={v.extAuthz} onChange={(b) => update(withBinding(v, b), 'extAuthz')} disabled={disabled} allowDisabled={false} />
          <Refs label="Routes (match order)" ids={v.routes.map((n) => nodeId('route', n))} onSelect={onSelect} />
        </>
      );
      break;
    }
    case 'route': {
      const v: Route = obj.value;
      fields = <RouteFields route={v} graph={graph} update={update} rename={rename} disabled={disabled} commit={commit} onSelect={onSelect} />;
      break;
    }
    case 'cluster': {
      const v: Cluster = obj.value;
      fields = (
        <>
          <CommitInput label="Name" value={v.name} onCommit={rename} disabled={disabled} />
          <Select label="Load balancing" value={v.lbPolicy} options={['roundRobin', 'leastRequest', 'ringHash', 'maglev'] as const} onChange={(p) => update({ ...v, lbPolicy: p }, 'lb')} disabled={disabled} />
          <NumberInput label="Connect timeout (ms)" value={v.connectTimeoutMs} min={1} onChange={(n) => update({ ...v, connectTimeoutMs: n ?? 1000 }, 'ct')} disabled={disabled} />
          <Refs label="Endpoints" ids={v.endpoints.map((_, i) => `e:${v.name}#${i}`)} labels={v.endpoints.map((e) => `${e.address}:${e.port}`)} onSelect={onSelect} />
          {canWrite && (
            <button type="button" className="secondary small" onClick={() => update({ ...v, endpoints: [...v.endpoints, { address: '127.0.0.1', port: 8080, weight: 1, locality: { region: '', zone: '' }, priority: 0 }] }, 'add-endpoint')}>
              + Endpoint
            </button>
          )}
        </>
      );
      break;
    }
    case 'endpoint': {
      const v: Endpoint = obj.value;
      fields = (
        <>
          <p className="muted small">
            Endpoint {obj.index + 1} of cluster <strong>{obj.cluster}</strong>
          </p>
          <CommitInput label="Address" value={v.address} onCommit={(s) => (update({ ...v, address: s }, 'address'), null)} disabled={disabled} />
          <NumberInput label="Port" value={v.port} min={1} max={65535} onChange={(p) => update({ ...v, port: p ?? 0 }, 'port')} disabled={disabled} />
          <NumberInput label="Weight" value={v.weight} min={1} max={128} onChange={(p) => update({ ...v, weight: p ?? 1 }, 'weight')} disabled={disabled} />
          <NumberInput label="Priority" value={v.priority} min={0} max={10} onChange={(p) => update({ ...v, priority: p ?? 0 }, 'priority')} disabled={disabled} />
          <CommitInput label="Region" value={v.locality.region} onCommit={(s) => (update({ ...v, locality: { ...v.locality, region: s } }, 'region'), null)} disabled={disabled} />
          <CommitInput label="Zone" value={v.locality.zone} onCommit={(s) => (update({ ...v, locality: { ...v.locality, zone: s } }, 'zone'), null)} disabled={disabled} />
        </>
      );
      break;
    }
    case 'nodeGroup': {
      const v: NodeGroup = obj.value;
      fields = (
        <>
          <CommitInput label="Name" value={v.name} onCommit={rename} disabled={disabled} />
          <Select
            label="Members"
            value={v.kind ?? 'envoy'}
            options={['envoy', 'grpc'] as const}
            onChange={(k) => {
              const { kind: _k, ...rest } = v;
              update(k === 'envoy' ? rest : { ...v, kind: k }, 'kind');
            }}
            disabled={disabled}
          />
          <Refs label="Listeners" ids={v.listeners.map((n) => nodeId('listener', n))} onSelect={onSelect} />
        </>
      );
      break;
    }
    case 'policy':
      fields = (
        <>
          <p>
            Request policy <strong className="mono">{obj.value.name}</strong>, enforced by Envoy&apos;s ext_authz filter on the routes and virtual hosts bound to it.
          </p>
          <CommitInput label="Policy name (renames every binding)" value={obj.value.name} onCommit={(to) => nameError(to) ?? (update({ name: to }, 'policy'), onRenamed(id, nodeId('policy', to)), null)} disabled={disabled} />
          <p>
            <a href={`/policies?name=${encodeURIComponent(obj.value.name)}`}>Open in the Rego editor</a>
          </p>
        </>
      );
      break;
  }

  return (
    <div>
      <h2 className="panel-title">
        {KIND_LABEL[obj.kind]} <span className="mono">{obj.kind === 'endpoint' ? `${obj.value.address}:${obj.value.port}` : obj.value.name}</span>
      </h2>
      {issues.length > 0 && (
        <ul className="issue-list error" aria-label="Validation issues">
          {issues.map((i, n) => (
            <li key={n}>
              <code>{i.path}</code>: {i.message}
            </li>
          ))}
        </ul>
      )}
      <div className="fields">{fields}</div>
      {obj.kind !== 'policy' && <JsonEditor key={JSON.stringify(obj.value)} value={obj.value} disabled={disabled} onApply={(v) => update(v, 'json')} onError={onError} />}
    </div>
  );
}

function Refs({ label, ids, labels, onSelect }: { label: string; ids: string[]; labels?: string[]; onSelect: (id: string) => void }) {
  return (
    <div className="field">
      <span>{label}</span>
      {ids.length === 0 ? (
        <span className="muted small">none — draw a connection from this node</span>
      ) : (
        <ul className="ref-list">
          {ids.map((id, i) => (
            <li key={`${id}-${i}`}>
              <button type="button" className="link" onClick={() => onSelect(id)}>
                {labels?.[i] ?? parseNodeId(id)?.name ?? id}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

type Binding = Route['extAuthz'];

function withBinding<T extends { extAuthz?: Binding }>(v: T, b: Binding): T {
  const { extAuthz: _x, ...rest } = v;
  return (b ? { ...rest, extAuthz: b } : rest) as T;
}

function PolicyBinding({ value, onChange, disabled, allowDisabled }: { value: Binding; onChange: (b: Binding) => void; disabled: boolean; allowDisabled: boolean }) {
  const mode = !value ? 'none' : 'policy' in value ? 'policy' : 'disabled';
  return (
    <fieldset className="field">
      <legend>Request policy (ext_authz)</legend>
      <select
        aria-label="Request policy binding"
        value={mode}
        disabled={disabled}
        onChange={(e) => onChange(e.target.value === 'none' ? undefined : e.target.value === 'disabled' ? { disabled: true } : { policy: value && 'policy' in value ? value.policy : 'policy' })}
      >
        <option value="none">{allowDisabled ? 'inherit from the virtual host' : 'none'}</option>
        <option value="policy">bound to a policy</option>
        {allowDisabled && <option value="disabled">exempt (disabled)</option>}
      </select>
      {value && 'policy' in value && (
        <CommitInput label="Policy name" value={value.policy} onCommit={(s) => nameError(s) ?? (onChange({ policy: s }), null)} disabled={disabled} />
      )}
    </fieldset>
  );
}

function RouteFields({
  route: v,
  graph,
  update,
  rename,
  disabled,
  commit,
  onSelect,
}: {
  route: Route;
  graph: RouteGraph;
  update: (value: unknown, key: string) => void;
  rename: (to: string) => string | null;
  disabled: boolean;
  commit: InspectorProps['commit'];
  onSelect: (id: string) => void;
}) {
  const matchKind = v.match.path !== undefined ? 'path' : v.match.regex !== undefined ? 'regex' : 'prefix';
  const matchValue = v.match.path ?? v.match.regex ?? v.match.prefix ?? '';
  const setMatch = (kind: string, value: string) => {
    const { prefix: _p, path: _q, regex: _r, ...rest } = v.match;
    update({ ...v, match: { ...rest, [kind]: value } }, 'match');
  };
  const a = v.action;
  const total = totalWeight(v);
  const available = graph.clusters.filter((c) => a.kind !== 'forward' || !a.clusters.some((w) => w.cluster === c.name));
  return (
    <>
      <CommitInput label="Name" value={v.name} onCommit={rename} disabled={disabled} />
      <div className="field-row">
        <Select label="Match" value={matchKind} options={['prefix', 'path', 'regex'] as const} onChange={(k) => setMatch(k, k === 'regex' ? '.*' : matchValue.startsWith('/') ? matchValue : '/')} disabled={disabled} />
        <CommitInput label="Value" value={matchValue} onCommit={(s) => (setMatch(matchKind, s), null)} disabled={disabled} />
      </div>
      <p className="muted small">
        {v.match.headers.length} header match{v.match.headers.length === 1 ? '' : 'es'}, {v.match.queryParameters.length} query match
        {v.match.queryParameters.length === 1 ? '' : 'es'} (edit in JSON below).
      </p>
      <Select
        label="Action"
        value={a.kind}
        options={['forward', 'redirect', 'directResponse'] as const}
        onChange={(k) =>
          update(
            { ...v, action: k === 'forward' ? { kind: 'forward', clusters: [] } : k === 'redirect' ? { kind: 'redirect', https: false, status: 302 } : { kind: 'directResponse', status: 200, body: '' } },
            'action',
          )
        }
        disabled={disabled}
      />
      {a.kind === 'forward' && (
        <div className="field">
          <span>Destinations (weights, total {total})</span>
          {a.clusters.length === 0 && <span className="muted small">none — draw a connection to a cluster, or add one here</span>}
          {a.clusters.map((c) => (
            <div key={c.cluster}>
              <button type="button" className="link small" onClick={() => onSelect(nodeId('cluster', c.cluster))}>
                {c.cluster}
              </button>
              <WeightControl route={v.name} cluster={c.cluster} weight={c.weight} total={total} disabled={disabled} graph={graph} commit={commit} />
            </div>
          ))}
          {!disabled && available.length > 0 && (
            <select
              aria-label="Add destination cluster"
              value=""
              onChange={(e) => e.target.value && update({ ...v, action: { kind: 'forward', clusters: [...a.clusters, { cluster: e.target.value, weight: a.clusters.length === 0 ? 100 : 0 }] } }, 'add-dest')}
            >
              <option value="">+ add destination cluster…</option>
              {available.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name}
                </option>
              ))}
            </select>
          )}
        </div>
      )}
      {a.kind === 'redirect' && (
        <>
          <CommitInput label="Host" value={a.host ?? ''} onCommit={(s) => (update({ ...v, action: { ...a, host: s || undefined } }, 'rhost'), null)} disabled={disabled} />
          <CommitInput label="Path" value={a.path ?? ''} onCommit={(s) => (update({ ...v, action: { ...a, path: s || undefined } }, 'rpath'), null)} disabled={disabled} />
          <Select label="Status" value={String(a.status) as '301'} options={['301', '302', '303', '307', '308'] as const} onChange={(s) => update({ ...v, action: { ...a, status: Number(s) } }, 'rstatus')} disabled={disabled} />
        </>
      )}
      {a.kind === 'directResponse' && (
        <>
          <NumberInput label="Status" value={a.status} min={100} max={599} onChange={(s) => update({ ...v, action: { ...a, status: s ?? 200 } }, 'dstatus')} disabled={disabled} />
          <CommitInput label="Body" value={a.body} onCommit={(s) => (update({ ...v, action: { ...a, body: s } }, 'dbody'), null)} disabled={disabled} />
        </>
      )}
      <NumberInput label="Timeout (ms)" value={v.timeoutMs} optional min={1} onChange={(n) => update(n === undefined ? omit(v, 'timeoutMs') : { ...v, timeoutMs: n }, 'timeout')} disabled={disabled} />
      <PolicyBinding value={v.extAuthz} onChange={(b) => update(withBinding(v, b), 'extAuthz')} disabled={disabled} allowDisabled />
    </>
  );
}

function omit<T extends object, K extends keyof T>(v: T, k: K): Omit<T, K> {
  const copy = { ...v };
  delete copy[k];
  return copy;
}

/** Every field of the model, as JSON (headers, retries, circuit breakers, health checks…). */
function JsonEditor({ value, disabled, onApply, onError }: { value: unknown; disabled: boolean; onApply: (v: unknown) => void; onError: (text: string) => void }) {
  const [text, setText] = useState(() => JSON.stringify(value, null, 2));
  const [error, setError] = useState<string | null>(null);
  return (
    <details className="json-editor">
      <summary>All fields (JSON)</summary>
      <textarea
        rows={12}
        spellCheck={false}
        value={text}
        readOnly={disabled}
        aria-label="Object as JSON"
        aria-invalid={error ? true : undefined}
        onChange={(e) => setText(e.target.value)}
      />
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      {!disabled && (
        <button
          type="button"
          className="secondary small"
          onClick={() => {
            try {
              const v = JSON.parse(text) as unknown;
              setError(null);
              onApply(v);
            } catch (err) {
              const msg = `Not valid JSON: ${err instanceof Error ? err.message : String(err)}`;
              setError(msg);
              onError(msg);
            }
          }}
        >
          Apply JSON
        </button>
      )}
    </details>
  );
}
