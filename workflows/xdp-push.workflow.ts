/**
 * Push one XDP policy version to a node group and wait until its agents enforce it:
 *   pushXdpBundle (make the version the group's desired state; the agent channels push the bundle)
 *   → awaitAgentAck (every connected agent of the group reports the version as applied)
 *   → result with the version and the agents that applied it.
 * An agent that rejects the bundle (verifier, unknown interface, protected CIDR…) fails the workflow with a
 * non-retryable ApplicationFailure (type XdpAgentRejected) carrying the agent's error; agents that do not
 * apply it within ackTimeoutMs fail it with XdpAckTimeout naming them. When a newer version of the group is
 * pushed meanwhile, this push ends with outcome `superseded` (the newer workflow does the waiting).
 * Start it with server/temporal/client.ts startPushXdpPolicy (workflow id xdp-push:<tenant>:<group>:<policy>).
 *
 * Deterministic code only: no I/O, no clocks, no randomness; contracts are imported as types.
 */
import { ActivityFailure, ApplicationFailure, defineQuery, proxyActivities, setHandler } from '@temporalio/workflow';
import { errorText, surfaced } from './activity-failure';
import type { PushXdpPolicyInput, PushXdpPolicyResult, XdpPushStatus } from '../contracts/workflows.schema';
import type { XdpActivities } from '../contracts/xdp.schema';

/** Phase, version and ACK counts of the push. */
export const xdpPushStatusQuery = defineQuery<XdpPushStatus>('xdpPushStatus');

// Same strings as XdpFailureType in contracts/xdp.schema.ts (values cannot be imported: the bundle stays zod-free).
const AGENT_REJECTED = 'XdpAgentRejected';
const ACK_TIMEOUT = 'XdpAckTimeout';

/** Margin between the activity's own ACK deadline and Temporal's hard limit on one attempt. */
const ACK_ACTIVITY_MARGIN_MS = 60_000;

export async function pushXdpPolicyWorkflow(input: PushXdpPolicyInput): Promise<PushXdpPolicyResult> {
  const status: XdpPushStatus = {
    phase: 'pushing',
    tenantId: input.tenantId,
    nodeGroup: input.nodeGroup,
    policyId: input.policyId,
    version: null,
    agentsAcked: 0,
    agentsPending: 0,
  };
  setHandler(xdpPushStatusQuery, () => status);

  const { pushXdpBundle } = proxyActivities<XdpActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
  });
  const { awaitAgentAck } = proxyActivities<XdpActivities>({
    startToCloseTimeout: input.ackTimeoutMs + ACK_ACTIVITY_MARGIN_MS,
    heartbeatTimeout: '20 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 5 },
  });

  try {
    const pushed = await pushXdpBundle({ tenantId: input.tenantId, nodeGroup: input.nodeGroup, policyId: input.policyId, actor: input.actor });
    status.version = pushed.version;
    status.phase = 'awaitingAck';

    const ack = await awaitAgentAck({ tenantId: input.tenantId, nodeGroup: input.nodeGroup, version: pushed.version, timeoutMs: input.ackTimeoutMs });
    status.agentsAcked = ack.acked.length;
    status.agentsPending = ack.pending.length;
    if (ack.outcome === 'timedOut') {
      const who = ack.pending.map((p) => p.nodeName).join(', ');
      throw ApplicationFailure.create({
        type: ACK_TIMEOUT,
        nonRetryable: true,
        message: `node group ${input.nodeGroup}: ${ack.pending.length} agents did not apply XDP version ${pushed.version} within ${input.ackTimeoutMs} ms (${who})`,
        details: [{ nodeGroup: ack.nodeGroup, version: ack.version, acked: ack.acked, pending: ack.pending }],
      });
    }
    status.phase = ack.outcome === 'superseded' ? 'superseded' : 'completed';
    return {
      tenantId: input.tenantId,
      nodeGroup: input.nodeGroup,
      policyId: input.policyId,
      version: pushed.version,
      changed: pushed.changed,
      outcome: ack.outcome,
      agentsAcked: ack.acked,
    };
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : err;
    const type = cause instanceof ApplicationFailure ? cause.type : undefined;
    status.phase = type === AGENT_REJECTED ? 'rejected' : type === ACK_TIMEOUT ? 'timedOut' : 'failed';
    status.error = errorText(err);
    throw surfaced(err);
  }
}
