'use client';

import { useState } from 'react';
import { callConsoleApi, describeConsoleFailure } from '../../_lib/console-api';
import { formatTime } from '../../_lib/format';
import { LiveStatus } from '../../_lib/live-status';
import { useLiveData } from '../../_lib/use-live-data';
import { DataTable } from '../../_lib/data-table';

interface RunItem {
  id: string;
  target: string;
  phase: string;
  currentStepIndex: number;
  pauseReason: string | null;
  trigger: { type: string };
  failure: { reason: string; message: string } | null;
  status: { steps?: number; elapsedMs?: number; timeBudgetMs?: number };
  startedBy: { name: string };
  createdAt: string;
}

const RUNS = '/api/v1/playbooks/runs';

/** canDecide: may approve or reject (approvals.decide); canControl: may abort (playbooks.write). Buttons a role may not use are not shown. */
export function PlaybookRuns({ canDecide, canControl }: { canDecide: boolean; canControl: boolean }) {
  const { result, refresh, live, updatedAt } = useLiveData<{ runs: RunItem[] }>(`${RUNS}?limit=100`, ['playbooks']);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const status = <LiveStatus state={live} updatedAt={updatedAt} />;
  if (!result) return <>{status}<p className="muted">Loading…</p></>;
  if (!result.ok) return <>{status}<p className={result.missing ? 'muted' : 'error'}>{describeConsoleFailure(result, 'Playbook runs', 'GET /api/v1/playbooks/runs')}</p></>;
  const act = async (id: string, action: 'approve' | 'reject' | 'abort') => {
    setBusy(true);
    const r = await callConsoleApi<{ status: { phase: string } }>('POST', `${RUNS}/${encodeURIComponent(id)}/${action}`, {});
    setBusy(false);
    setMessage(r.ok ? `${action}: the run is ${r.data.status.phase}` : describeConsoleFailure(r, 'Playbook runs', `POST ${RUNS}/[id]/${action}`));
    refresh();
  };
  if (result.data.runs.length === 0) {
    return (
      <>
        {status}
        <p className="muted">
          No playbook runs yet. Start one with <code>npm run cli -- playbooks run</code> or <code>POST /api/v1/playbooks/&lt;id&gt;/runs</code>, or let a trigger start it.
        </p>
      </>
    );
  }
  return (
    <>
      {status}
      {message && (
        <p className="small" role="status">
          {message}
        </p>
      )}
      <DataTable columns={['Target', 'Phase', 'Step', 'Started', 'By', 'Actions']}>
        {result.data.runs.map((r) => {
          const steps = r.status.steps ?? 0;
          const done = Math.min(r.currentStepIndex, steps);
          const running = !['Completed', 'Compensated', 'Failed'].includes(r.phase);
          return (
            <tr key={r.id}>
              <td>
                <span className="mono">{r.target}</span>
                <div className="muted small">{r.trigger.type === 'auto' ? 'started by a trigger' : 'started by hand'}</div>
              </td>
              <td>
                <span className="badge">{r.phase}</span>
                {r.failure && <div className="small error">{r.failure.message}</div>}
              </td>
              <td style={{ minWidth: '8rem' }}>
                <div className="progress" role="progressbar" aria-valuenow={done} aria-valuemin={0} aria-valuemax={steps} aria-label={`Steps done of the run on ${r.target}`}>
                  <span style={{ width: `${steps === 0 ? 0 : (done / steps) * 100}%` }} />
                </div>
                <span className="small">
                  {done} / {steps}
                </span>
              </td>
              <td>{formatTime(r.createdAt)}</td>
              <td>{r.startedBy.name}</td>
              <td>
                {canDecide && r.phase === 'AwaitingApproval' && (
                  <>
                    <button type="button" disabled={busy} onClick={() => void act(r.id, 'approve')}>
                      Approve
                    </button>{' '}
                    <button type="button" disabled={busy} onClick={() => void act(r.id, 'reject')}>
                      Reject
                    </button>{' '}
                  </>
                )}
                {canControl && running && r.phase !== 'Compensating' && (
                  <button type="button" disabled={busy} onClick={() => void act(r.id, 'abort')}>
                    Abort
                  </button>
                )}
              </td>
            </tr>
          );
        })}
      </DataTable>
    </>
  );
}
