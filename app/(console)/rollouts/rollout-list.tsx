'use client';

import Link from 'next/link';
import { API, describeConsoleFailure, type ConsoleResult } from '../../_lib/console-api';
import { formatTime } from '../../_lib/format';
import { LiveStatus } from '../../_lib/live-status';
import { useLiveData } from '../../_lib/use-live-data';
import { phaseClass, type RolloutItem } from './rollout-types';
import { DataTable } from '../../_lib/data-table';

export function RolloutList({ onlyAwaitingApproval = false }: { onlyAwaitingApproval?: boolean }) {
  const { result, live, updatedAt } = useLiveData<{ rollouts: RolloutItem[] }>(`${API.rollouts}?limit=100`, ['rollouts']);
  return (
    <>
      <LiveStatus state={live} updatedAt={updatedAt} />
      <RolloutRows result={result} onlyAwaitingApproval={onlyAwaitingApproval} />
    </>
  );
}

function RolloutRows({ result, onlyAwaitingApproval }: { result: ConsoleResult<{ rollouts: RolloutItem[] }> | null; onlyAwaitingApproval: boolean }) {
  if (!result) return <p className="muted">Loading…</p>;
  if (!result.ok) return <p className={result.missing ? 'muted' : 'error'}>{describeConsoleFailure(result, 'Rollouts', 'GET /api/v1/rollouts')}</p>;
  const rows = onlyAwaitingApproval ? result.data.rollouts.filter((r) => r.pauseReason === 'AwaitingApproval' && r.phase === 'Paused') : result.data.rollouts;
  if (rows.length === 0) {
    return (
      <p className="muted">
        {onlyAwaitingApproval
          ? 'Nothing is waiting for an approval.'
          : 'No rollouts yet. Save a revision in the Graph editor, open its diff, and choose “apply as a canary rollout”.'}
      </p>
    );
  }
  return (
    <DataTable columns={['Route', 'Phase', 'Step', 'Canary weight', 'Started', 'By']}>
      {rows.map((r) => (
        <tr key={r.id}>
          <td>
            <Link href={`/rollouts/${r.id}`}>{r.route}</Link>
            <div className="muted small mono">
              {r.spec.stableCluster} → {r.spec.canaryCluster}
            </div>
          </td>
          <td>
            <span className={`badge ${phaseClass(r.phase)}`}>{r.phase}</span>
            {r.pauseReason && <div className="small muted">{r.pauseReason}</div>}
          </td>
          <td>
            {Math.min(r.currentStepIndex + 1, r.steps)} / {r.steps}
          </td>
          <td style={{ minWidth: '8rem' }}>
            <div className="progress" role="progressbar" aria-valuenow={r.canaryWeight} aria-valuemin={0} aria-valuemax={100} aria-label={`Canary weight of ${r.route}`}>
              <span style={{ width: `${r.canaryWeight}%` }} />
            </div>
            <span className="small">{r.canaryWeight}%</span>
          </td>
          <td>{formatTime(r.createdAt)}</td>
          <td>{r.startedBy.name}</td>
        </tr>
      ))}
    </DataTable>
  );
}
