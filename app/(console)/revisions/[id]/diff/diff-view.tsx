'use client';

import { Background, Controls, MarkerType, ReactFlow, type Edge } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useRouter } from 'next/navigation';
import { useEffect, useMemo, useState } from 'react';
import type { RouteGraph } from '@/contracts/route-graph.schema';
import { API, callConsoleApi, describeConsoleFailure } from '../../../../_lib/console-api';
import { columnLayout, elkLayout } from '../../../../_lib/graph-layout';
import { useHydrated } from '../../../../_lib/use-hydrated';
import { diffRouteGraphs } from '../../../../_lib/route-graph-diff';
import { KIND_LABEL } from '../../../../_lib/route-graph-model';
import { nodeTypes, type GraphFlowNode } from '../../../graph/graph-node';

const show = (v: unknown) => (v === undefined ? '—' : JSON.stringify(v));

export function DiffView({
  before,
  after,
  revision,
  againstId,
  canApply,
  canRollout,
}: {
  before: RouteGraph;
  after: RouteGraph;
  revision: { id: string; number: number; live: boolean; state: string };
  againstId: string | null;
  canApply: boolean;
  canRollout: boolean;
}) {
  const router = useRouter();
  const diff = useMemo(() => diffRouteGraphs(before, after), [before, after]);
  const [positions, setPositions] = useState(() => columnLayout(diff.nodes));
  useEffect(() => {
    let cancelled = false;
    if (diff.nodes.length <= 300) {
      elkLayout(diff.nodes, diff.links)
        .then((p) => !cancelled && setPositions(p))
        .catch(() => {});
    }
    return () => {
      cancelled = true;
    };
  }, [diff]);
  const nodes: GraphFlowNode[] = useMemo(
    () =>
      diff.nodes.map((n) => ({
        id: n.id,
        type: 'graph',
        position: positions.get(n.id) ?? { x: 0, y: 0 },
        data: { kind: n.kind, name: n.name, detail: n.detail, issues: 0, change: n.change },
        draggable: false,
        connectable: false,
      })),
    [diff, positions],
  );
  const edges: Edge[] = useMemo(
    () =>
      diff.links.map((e) => {
        const change = diff.edges.find((x) => x.id === e.id);
        const label = e.weight !== undefined ? (change?.change === 'changed' ? `weight ${change.before} → ${change.after}` : `weight ${e.weight}`) : undefined;
        return {
          id: e.id,
          source: e.source,
          target: e.target,
          className: e.change === 'same' ? '' : `diff-${e.change}`,
          markerEnd: { type: MarkerType.ArrowClosed },
          ...(label ? { label } : {}),
        };
      }),
    [diff],
  );

  const [plan, setPlan] = useState<{ data: unknown; error: string | null } | null>(null);
  useEffect(() => {
    let cancelled = false;
    void callConsoleApi<unknown>('GET', API.revisionPlan(revision.id)).then((r) => {
      if (cancelled) return;
      setPlan(r.ok ? { data: r.data, error: null } : { data: null, error: describeConsoleFailure(r, 'The plan (xDS resources that would change) and the admission result', 'GET /api/v1/revisions/{id}/plan') });
    });
    return () => {
      cancelled = true;
    };
  }, [revision.id]);

  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  // Apply and the rollout form need JavaScript: until hydration the button is disabled, and the layout says
  // when it is ready (data-hydrated), so a click before then cannot half-toggle the form.
  const hydrated = useHydrated();
  const apply = async () => {
    setBusy(true);
    const r = await callConsoleApi<unknown>('POST', API.applyRevision(revision.id), {});
    setBusy(false);
    if (!r.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(r, 'Applying a revision', 'POST /api/v1/revisions/{id}/apply') });
    setStatus({ kind: 'ok', text: `Revision #${revision.number} applied.` });
    router.refresh();
  };

  // Rollout: a route whose clusters changed, stable = the cluster that had the weight, canary = the other.
  const forwardRoutes = after.routes.filter((r) => r.action.kind === 'forward');
  const changedRoute = forwardRoutes.find((r) => diff.objects.some((o) => o.id === `r:${r.name}`)) ?? forwardRoutes[0];
  const [route, setRoute] = useState(changedRoute?.name ?? '');
  const clustersOf = (name: string) => {
    const r = after.routes.find((x) => x.name === name);
    return r?.action.kind === 'forward' ? r.action.clusters.map((c) => c.cluster) : [];
  };
  const [stable, setStable] = useState(() => clustersOf(route)[0] ?? '');
  const [canary, setCanary] = useState(() => clustersOf(route)[1] ?? '');
  const [stepsText, setStepsText] = useState(
    JSON.stringify(
      [
        { kind: 'setWeight', weight: 20 },
        { kind: 'approval', timeoutMs: 3_600_000 },
        { kind: 'setWeight', weight: 100 },
      ],
      null,
      2,
    ),
  );
  const startRollout = async () => {
    let steps: unknown;
    try {
      steps = JSON.parse(stepsText);
    } catch (err) {
      return setStatus({ kind: 'error', text: `Steps are not JSON: ${err instanceof Error ? err.message : String(err)}` });
    }
    setBusy(true);
    const r = await callConsoleApi<{ rollout?: { id: string }; id?: string }>('POST', API.rollouts, { revisionId: revision.id, spec: { route, stableCluster: stable, canaryCluster: canary, steps } });
    setBusy(false);
    if (!r.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(r, 'Starting a rollout', 'POST /api/v1/rollouts') });
    const id = r.data.rollout?.id ?? r.data.id;
    router.push(id ? `/rollouts/${id}` : '/rollouts');
  };

  const counts = { added: 0, removed: 0, changed: 0 };
  for (const o of diff.objects) counts[o.change]++;
  const edgeCounts = { added: 0, removed: 0, changed: 0 };
  for (const e of diff.edges) edgeCounts[e.change]++;

  return (
    <div className="diff-layout" data-hydrated={hydrated ? '' : undefined}>
      <p className="subtitle" role="status">
        Objects: <span className="diff-chip added">{counts.added} added</span> <span className="diff-chip removed">{counts.removed} removed</span>{' '}
        <span className="diff-chip changed">{counts.changed} changed</span> · Connections: {edgeCounts.added} added, {edgeCounts.removed} removed, {edgeCounts.changed} changed
        {diff.objects.length === 0 && diff.edges.length === 0 && ' — the two revisions have the same graph.'}
      </p>
      <div className="diff-canvas" aria-label="Graph with changes highlighted">
        <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} nodesDraggable={false} nodesConnectable={false} onlyRenderVisibleElements fitView fitViewOptions={{ maxZoom: 1.2 }} colorMode="system" minZoom={0.05}>
          <Background gap={24} size={1} />
          <Controls showInteractive={false} />
        </ReactFlow>
      </div>

      <div className="card">
        <h2 className="panel-title">Field-level changes</h2>
        {diff.objects.length === 0 && diff.edges.length === 0 ? (
          <p className="muted">No changes.</p>
        ) : (
          <ul className="change-list">
            {diff.objects.map((o) => (
              <li key={o.id} className={`change-${o.change}`}>
                <strong>{o.change}</strong> {KIND_LABEL[o.kind].toLowerCase()} <span className="mono">{o.name}</span>
                {o.fields.length > 0 && (
                  <table className="field-changes">
                    <tbody>
                      {o.fields.map((f) => (
                        <tr key={f.path}>
                          <td className="mono">{f.path}</td>
                          <td className="mono removed-text">{show(f.before)}</td>
                          <td aria-hidden>→</td>
                          <td className="mono added-text">{show(f.after)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </li>
            ))}
            {diff.edges.map((e) => (
              <li key={e.id} className={`change-${e.change}`}>
                <strong>{e.change}</strong> connection <span className="mono">{e.source.replace(/^[a-z]+:/, '')}</span> → <span className="mono">{e.target.replace(/^[a-z]+:/, '')}</span>
                {e.change === 'changed' && ` (weight ${e.before} → ${e.after})`}
                {e.change === 'added' && e.after !== undefined && ` (weight ${e.after})`}
              </li>
            ))}
          </ul>
        )}
      </div>

      <div className="card">
        <h2 className="panel-title">Plan and admission</h2>
        {!plan ? <p className="muted">Loading the plan…</p> : plan.error ? <p className="muted">{plan.error}</p> : <pre>{JSON.stringify(plan.data, null, 2)}</pre>}
      </div>

      {(canApply || canRollout) && (
        <div className="card">
          <h2 className="panel-title">Apply</h2>
          {status && (
            <p className={status.kind === 'error' ? 'error' : 'ok'} role="alert">
              {status.text}
            </p>
          )}
          {revision.live ? (
            <p className="muted">This revision is live.</p>
          ) : (
            <div className="btn-group">
              {canApply && (
                <button type="button" onClick={() => void apply()} disabled={busy || !hydrated}>
                  Apply directly
                </button>
              )}
            </div>
          )}
          {canRollout && forwardRoutes.length > 0 && !revision.live && (
            <details className="rollout-form">
              <summary>…or apply as a canary rollout</summary>
              <div className="inline">
                <label>
                  Route
                  <select
                    value={route}
                    onChange={(e) => {
                      setRoute(e.target.value);
                      const cs = clustersOf(e.target.value);
                      setStable(cs[0] ?? '');
                      setCanary(cs[1] ?? '');
                    }}
                  >
                    {forwardRoutes.map((r) => (
                      <option key={r.name}>{r.name}</option>
                    ))}
                  </select>
                </label>
                <label>
                  Stable cluster
                  <select value={stable} onChange={(e) => setStable(e.target.value)}>
                    {after.clusters.map((c) => (
                      <option key={c.name}>{c.name}</option>
                    ))}
                  </select>
                </label>
                <label>
                  Canary cluster
                  <select value={canary} onChange={(e) => setCanary(e.target.value)}>
                    {after.clusters.map((c) => (
                      <option key={c.name}>{c.name}</option>
                    ))}
                  </select>
                </label>
              </div>
              <label>
                Steps (setWeight, pause, analysis, approval, setHeaderRoute, mirror)
                <textarea rows={8} value={stepsText} onChange={(e) => setStepsText(e.target.value)} spellCheck={false} />
              </label>
              <button type="button" onClick={() => void startRollout()} disabled={busy || !route || !stable || !canary}>
                Start rollout
              </button>
            </details>
          )}
        </div>
      )}
      {againstId && (
        <p className="muted small">
          Compared with revision <a href={`/revisions/${againstId}`}>{againstId.slice(0, 8)}</a>.
        </p>
      )}
    </div>
  );
}
