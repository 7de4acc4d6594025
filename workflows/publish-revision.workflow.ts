/**
 * Publish one revision and wait until the data plane has it:
 *   publishRevision (compile, store snapshots, mark live, notify xds)
 *   → awaitProxyAck for every targeted node group, in parallel
 *   → result with the versions and per-group ACK counts.
 * A NACK fails the workflow with a non-retryable ApplicationFailure (type ProxyNack) naming the proxy and
 * carrying Envoy's error text; proxies that do not ACK within ackTimeoutMs fail it with ProxyAckTimeout.
 * Start it with server/temporal/client.ts startPublishRevision (workflow id publish:<tenant>:<revision>).
 *
 * Deterministic code only: no I/O, no clocks, no randomness; contracts are imported as types.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import { errorText, surfaced } from './activity-failure';
import type {
  AwaitProxyAckResult,
  PublishActivities,
  PublishAckCounts,
  PublishRevisionInput,
  PublishRevisionResult,
  PublishStatus,
  SnapshotVersion,
} from '../contracts/workflows.schema';

/** Current phase, published versions and the node groups that finished waiting. */
export const publishStatusQuery = defineQuery<PublishStatus>('publishStatus');

// Same strings as PublishFailureType in contracts (values cannot be imported: the bundle stays zod-free).
const NACK = 'ProxyNack';
const ACK_TIMEOUT = 'ProxyAckTimeout';

/** Margin between the activity's own ACK deadline and Temporal's hard limit on one attempt. */
const ACK_ACTIVITY_MARGIN_MS = 60_000;

export async function publishRevisionWorkflow(input: PublishRevisionInput): Promise<PublishRevisionResult> {
  const status: PublishStatus = {
    phase: 'publishing',
    tenantId: input.tenantId,
    revisionId: input.revisionId,
    versions: [],
    acked: [],
  };
  setHandler(publishStatusQuery, () => status);

  const { publishRevision } = proxyActivities<PublishActivities>({
    startToCloseTimeout: '2 minutes',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
  });
  const { awaitProxyAck } = proxyActivities<PublishActivities>({
    startToCloseTimeout: input.ackTimeoutMs + ACK_ACTIVITY_MARGIN_MS,
    heartbeatTimeout: '20 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 5 },
  });

  let published: Awaited<ReturnType<PublishActivities['publishRevision']>>;
  try {
    published = await publishRevision({ tenantId: input.tenantId, revisionId: input.revisionId, actor: input.actor });
  } catch (err) {
    status.phase = 'failed';
    status.error = errorText(err);
    throw surfaced(err);
  }
  status.versions = published.snapshots.map((s) => ({ nodeGroup: s.nodeGroup, version: s.version }));

  const wanted = input.nodeGroups;
  const targets: SnapshotVersion[] = wanted ? status.versions.filter((s) => wanted.includes(s.nodeGroup)) : status.versions;

  status.phase = 'awaitingAck';
  const scope = new CancellationScope();
  let results: AwaitProxyAckResult[];
  try {
    results = await scope.run(() =>
      Promise.all(
        targets.map(async (target) => {
          const result = await awaitProxyAck({
            tenantId: input.tenantId,
            revisionId: input.revisionId,
            actor: input.actor,
            nodeGroup: target.nodeGroup,
            version: target.version,
            timeoutMs: input.ackTimeoutMs,
          });
          status.acked.push(ackCounts(result));
          if (result.outcome === 'timedOut') {
            const who = result.pending.map((p) => p.nodeId).join(', ');
            throw ApplicationFailure.create({
              type: ACK_TIMEOUT,
              nonRetryable: true,
              message: `node group ${target.nodeGroup}: ${result.pending.length} proxies did not ACK version ${target.version} within ${input.ackTimeoutMs} ms (${who})`,
              details: [{ nodeGroup: result.nodeGroup, version: result.version, acked: result.acked, pending: result.pending, nacked: result.nacked }],
            });
          }
          return result;
        }),
      ),
    );
  } catch (err) {
    // One group failed: stop waiting for the others.
    scope.cancel();
    const cause = err instanceof ActivityFailure ? err.cause : err;
    const type = cause instanceof ApplicationFailure ? cause.type : undefined;
    status.phase = type === NACK ? 'nacked' : type === ACK_TIMEOUT ? 'timedOut' : 'failed';
    status.error = errorText(err);
    throw surfaced(err);
  }

  status.phase = 'completed';
  return {
    tenantId: input.tenantId,
    revisionId: input.revisionId,
    changed: published.changed,
    versions: status.versions,
    acked: results.map(ackCounts),
  };
}

function ackCounts(r: AwaitProxyAckResult): PublishAckCounts {
  return {
    nodeGroup: r.nodeGroup,
    version: r.version,
    proxiesAcked: r.acked.length,
    pending: r.pending.length,
    nacked: r.nacked,
  };
}
