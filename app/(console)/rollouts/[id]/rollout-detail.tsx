'use client';

import { useState } from 'react';
import type { AnalysisMeasurement, MetricMeasurement, RolloutStep } from '@/contracts/rollout.schema';
import { API, callConsoleApi, describeConsoleFailure } from '../../../_lib/console-api';
import { formatTime } from '../../../_lib/format';
import { LiveStatus } from '../../../_lib/live-status';
import { useLiveData } from '../../../_lib/use-live-data';
import { FINISHED, phaseClass, type RolloutDetail } from '../rollout-types';
import { DataTable } from '../../../_lib/data-table';

function describeStep(s: RolloutStep): string {
  switch (s.kind) {
    case 'setWeight':
      return `set canary weight to ${s.weight}%${s.bakeMs ? `, bake ${s.bakeMs / 1000} s` : ''}`;
    case 'pause':
      return s.durationMs ? `pause ${s.durationMs / 1000} s` : 'pause until resumed';
    case 'analysis':
      return `analysis: ${s.metrics.map((m) => m.name).join(', ')} × ${s.count}`;
    case 'approval':
      return `approval by ${s.approvers} ${s.requiredRole}${s.approvers === 1 ? '' : 's'}`;
    case 'setHeaderRoute':
      return s.match ? `header route ${s.match.name}: ${s.match.exact}` : 'remove header route';
    case 'mirror':
      return `mirror ${s.percent}%`;
  }
}

/** A tiny line chart of one metric per version over the analysis runs (canary vs stable). */
function MetricChart({ analyses, metric, label }: { analyses: AnalysisMeasurement[]; metric: 'successRate' | 'latencyP95' | 'latencyP99'; label: string }) {
  const points = analyses.flatMap((a) => a.metrics.filter((m) => m.metric === metric).map((m) => ({ canary: m.canary, stable: m.stable })));
  if (points.length === 0) return null;
  const values = points.flatMap((p) => [p.canary, p.stable]).filter((v): v is number => v !== null);
  const max = Math.max(...values, metric === 'successRate' ? 1 : 1);
  const min = metric === 'successRate' ? Math.min(...values, 0.9) : 0;
  const w = 260;
  const h = 80;
  const x = (i: number) => (points.length === 1 ? w / 2 : (i / (points.length - 1)) * (w - 10) + 5);
  const y = (v: number) => h - 5 - ((v - min) / (max - min || 1)) * (h - 10);
  const line = (k: 'canary' | 'stable') =>
    points
      .map((p, i) => (p[k] === null ? null : `${x(i)},${y(p[k]!)}`))
      .filter(Boolean)
      .join(' ');
  const last = points.at(-1)!;
  return (
    <figure className="metric-chart">
      <svg width={w} height={h} role="img" aria-label={`${label}: canary ${last.canary ?? 'n/a'}, stable ${last.stable ?? 'n/a'}`}>
        <polyline points={line('stable')} fill="none" stroke="var(--muted)" strokeWidth="2" />
        <polyline points={line('canary')} fill="none" stroke="var(--accent)" strokeWidth="2" />
      </svg>
      <figcaption className="small">
        {label}: <span style={{ color: 'var(--accent)' }}>canary {last.canary ?? 'n/a'}</span> · <span className="muted">stable {last.stable ?? 'n/a'}</span>
      </figcaption>
    </figure>
  );
}

const METRIC_LABEL: Record<MetricMeasurement['metric'], string> = { successRate: 'Success rate', latencyP95: 'Latency p95 (ms)', latencyP99: 'Latency p99 (ms)' };
const figure = (m: MetricMeasurement['metric'], v: number | null) => (v === null ? 'n/a' : m === 'successRate' ? `${(v * 100).toFixed(2)} %` : v.toFixed(1));

/** The latest analysis run as figures per version (canary vs stable), with its verdict per metric. */
function LatestFigures({ analysis: a }: { analysis: AnalysisMeasurement }) {
  return (
    <DataTable
      columns={['Metric', `Canary (${a.canaryRequests} req)`, `Stable (${a.stableRequests} req)`, 'Verdict']}
      className="small"
      caption={
        <caption>
          Latest analysis (step {a.stepIndex + 1}, run {a.run}): <span className={`badge ${a.verdict === 'pass' ? 'synced' : a.verdict === 'fail' ? 'failed' : 'stale'}`}>{a.verdict}</span>
        </caption>
      }
    >
      {a.metrics.map((m) => (
        <tr key={m.metric}>
          <th scope="row">{METRIC_LABEL[m.metric]}</th>
          <td className="mono">{figure(m.metric, m.canary)}</td>
          <td className="mono">{figure(m.metric, m.stable)}</td>
          <td title={m.reason}>
            {m.verdict}
            {m.reason && <div className="muted">{m.reason}</div>}
          </td>
        </tr>
      ))}
    </DataTable>
  );
}

export function RolloutDetailView({ id, canDecide, canControl }: { id: string; canDecide: boolean; canControl: boolean }) {
  const { result, refresh, updatedAt, live } = useLiveData<RolloutDetail>(API.rollout(id), ['rollouts'], (c) => c.id === id);
  const [comment, setComment] = useState('');
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  if (!result) return <p className="muted">Loading…</p>;
  if (!result.ok) return <p className="error">{describeConsoleFailure(result, 'This rollout', 'GET /api/v1/rollouts/{id}')}</p>;
  const { rollout: r, approvals, events } = result.data;
  const st = r.status;
  const analyses = st.analyses ?? [];
  const finished = FINISHED.has(r.phase);
  const awaiting = r.pauseReason === 'AwaitingApproval' && !finished;

  const act = async (action: string, body: { comment?: string; reason?: string }) => {
    setBusy(true);
    const res = await callConsoleApi<unknown>('POST', API.rolloutAction(r.id, action), body);
    setBusy(false);
    if (!res.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(res, `${action}`, `POST /api/v1/rollouts/{id}/${action}`) });
    setStatus({ kind: 'ok', text: `${action[0]!.toUpperCase()}${action.slice(1)} sent.` });
    setComment('');
    refresh();
  };
  const withComment = comment.trim() ? { comment: comment.trim() } : {};
  const withReason = comment.trim() ? { reason: comment.trim() } : {};

  return (
    <>
      <h1>
        Rollout of <span className="mono">{r.route}</span> <span className={`badge ${phaseClass(r.phase)}`}>{r.phase}</span>
      </h1>
      <p className="subtitle">
        {r.spec.stableCluster} (stable) → {r.spec.canaryCluster} (canary) · started {formatTime(r.createdAt)} by {r.startedBy.name}
        {r.pauseReason && ` · paused: ${r.pauseReason}`}
      </p>
      <LiveStatus state={live} updatedAt={updatedAt} />
      <div className="card">
        <div className="progress" role="progressbar" aria-valuenow={r.canaryWeight} aria-valuemin={0} aria-valuemax={100} aria-label="Canary weight">
          <span style={{ width: `${r.canaryWeight}%` }} />
        </div>
        <p>
          Canary weight <strong>{r.canaryWeight}%</strong>
          {st.traffic?.headerRoute && ` · header route ${st.traffic.headerRoute.name}=${st.traffic.headerRoute.exact}`}
          {st.traffic && st.traffic.mirrorPercent > 0 && ` · mirroring ${st.traffic.mirrorPercent}%`}
        </p>
        {r.failure && (
          <p className="error" role="alert">
            {r.failure.reason}: {r.failure.message}
          </p>
        )}
      </div>

      {!finished && (canDecide || canControl) && (
        <div className="card">
          {awaiting && <p className="notice card">This rollout waits for an approval{st.currentStep?.kind === 'approval' ? ` (${describeStep(st.currentStep)})` : ''}.</p>}
          <label>
            Comment / reason (optional)
            <input value={comment} onChange={(e) => setComment(e.target.value)} maxLength={2000} />
          </label>
          <p className="btn-group">
            {canDecide && awaiting && (
              <>
                <button type="button" disabled={busy} onClick={() => void act('approve', withComment)}>
                  Approve
                </button>
                <button type="button" className="danger" disabled={busy} onClick={() => void act('reject', withComment)}>
                  Reject
                </button>
              </>
            )}
            {canControl && r.phase !== 'Paused' && (
              <button type="button" className="secondary" disabled={busy} onClick={() => void act('pause', withReason)}>
                Pause
              </button>
            )}
            {canControl && r.phase === 'Paused' && !awaiting && (
              <button type="button" className="secondary" disabled={busy} onClick={() => void act('resume', withReason)}>
                Resume
              </button>
            )}
            {canControl && r.pauseReason === 'AnalysisInconclusive' && (
              <button type="button" className="secondary" disabled={busy} onClick={() => void act('retry', withReason)}>
                Retry analysis
              </button>
            )}
            {canDecide && (
              <button type="button" className="secondary" disabled={busy} onClick={() => void act('promote', withComment)}>
                Promote now
              </button>
            )}
            {canControl && (
              <button type="button" className="danger" disabled={busy} onClick={() => void act('abort', withReason)}>
                Abort
              </button>
            )}
          </p>
          {status && (
            <p className={status.kind === 'error' ? 'error' : 'ok'} role="alert">
              {status.text}
            </p>
          )}
        </div>
      )}

      <div className="policy-grid">
        <div className="card">
          <h2 className="panel-title">Steps</h2>
          <ol className="steps">
            {r.spec.steps.map((s, i) => (
              <li key={i} className={i < r.currentStepIndex || r.phase === 'Promoted' ? 'done' : i === r.currentStepIndex && !finished ? 'current' : ''}>
                {i + 1}. {describeStep(s)}
              </li>
            ))}
          </ol>
        </div>
        <div className="card">
          <h2 className="panel-title">Analysis</h2>
          {analyses.length === 0 ? (
            <p className="muted">No analysis ran yet.</p>
          ) : (
            <>
              <LatestFigures analysis={analyses.at(-1)!} />
              <MetricChart analyses={analyses} metric="successRate" label="Success rate" />
              <MetricChart analyses={analyses} metric="latencyP95" label="Latency p95 (ms)" />
              <MetricChart analyses={analyses} metric="latencyP99" label="Latency p99 (ms)" />
            </>
          )}
        </div>
        <div className="card">
          <h2 className="panel-title">Approvals</h2>
          {approvals.length === 0 ? (
            <p className="muted">None yet.</p>
          ) : (
            <ul className="ref-list">
              {approvals.map((a, i) => (
                <li key={i}>
                  <strong>{a.decision}</strong> by {a.name} ({a.role}) at step {a.stepIndex + 1}, {formatTime(a.at)}
                  {a.comment && ` — “${a.comment}”`}
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      <details className="card">
        <summary>History ({events.length} events)</summary>
        <ul className="ref-list small">
          {events.map((e, i) => (
            <li key={i}>
              {formatTime(e.at)} <span className="mono">{e.action}</span>
              {e.stepIndex !== undefined && ` (step ${e.stepIndex + 1})`}
            </li>
          ))}
        </ul>
      </details>
    </>
  );
}
