/**
 * Shared by the certificate workflows (certRotationWorkflow, caRotationWorkflow, certExpiryCheckWorkflow): the
 * activity options, the `notify` activity, and waiting for proxies to ACK what a certificate activity published.
 * Deterministic helpers only; contracts are imported as types.
 */
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { MaterialPublished } from '../contracts/cert-rotation.schema';
import type { NotifyActivities } from '../contracts/notify.schema';
import type { Actor, PublishActivities } from '../contracts/workflows.schema';

/** Options of the database-bound certificate activities (issue, publish, list, retire). */
export const PKI_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
} as const;

/** The webhook `notify` activity with the certificate workflows' retry policy. */
export const { notify } = proxyActivities<NotifyActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

/** A function that waits for every proxy of every node group to ACK `published`; throws on NACK or timeout. */
export function materialAckWaiter(tenantId: string, actor: Actor, ackTimeoutMs: number): (published: MaterialPublished) => Promise<void> {
  const { awaitProxyAck } = proxyActivities<PublishActivities>({
    startToCloseTimeout: ackTimeoutMs + 60_000,
    heartbeatTimeout: '20 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 5 },
  });
  return async (published) => {
    if (published.revisionId === null) return;
    const revisionId = published.revisionId;
    await Promise.all(
      published.snapshots.map(async (s) => {
        const r = await awaitProxyAck({ tenantId, revisionId, actor, nodeGroup: s.nodeGroup, version: s.version, timeoutMs: ackTimeoutMs });
        if (r.outcome === 'timedOut') {
          throw ApplicationFailure.nonRetryable(
            `node group ${s.nodeGroup}: ${r.pending.map((p) => p.nodeId).join(', ')} did not ACK version ${s.version} within ${ackTimeoutMs} ms`,
            'ProxyAckTimeout',
          );
        }
      }),
    );
  };
}
