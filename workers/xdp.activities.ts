/**
 * XDP activities (createXdpActivities(deps) → pushXdpBundle, awaitAgentAck), used by an XDP push workflow
 * exactly like publishRevision/awaitProxyAck for Envoy.
 *
 * - pushXdpBundle makes a stored policy version the node group's desired state and notifies the agent
 *   channels (which push the bundle on the agents' streams). Idempotent per version: a retry or a second
 *   push of the same version changes nothing (changed=false) and writes no second audit entry.
 * - awaitAgentAck polls the Agent rows until every connected agent of the group reports the version as
 *   applied; an agent that rejected it (verifier, unknown interface, protected CIDR) fails the activity
 *   non-retryably with the agent's error; the deadline survives retries (heartbeat details). When another
 *   version became the group's desired one meanwhile, it returns `superseded` (the newer push waits).
 * Domain errors are non-retryable ApplicationFailures; database/network errors are thrown as is (retried).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  AwaitAgentAckInputSchema,
  PushXdpBundleInputSchema,
  XdpFailureType,
  type AwaitAgentAckInput,
  type AwaitAgentAckResult,
  type PushXdpBundleInput,
  type PushXdpBundleResult,
  type XdpActivities,
} from '../contracts/xdp.schema';
import type { Db } from '../server/db/client';
import { getAgentAckStatus } from '../server/db/agent.repo';
import { findDesiredXdpVersion } from '../server/db/xdp-policy.repo';
import { isAppError } from '../server/errors';
import { publishXdpPolicy } from '../server/services/xdp.service';

export interface XdpActivityDeps {
  db: Db;
  now?: () => number;
  /** How often awaitAgentAck reads agent status; default 100 ms (one indexed query per poll). */
  pollIntervalMs?: number;
}

export function createXdpActivities(deps: XdpActivityDeps): XdpActivities {
  const now = deps.now ?? Date.now;
  const pollIntervalMs = deps.pollIntervalMs ?? 100;
  return {
    async pushXdpBundle(raw: PushXdpBundleInput): Promise<PushXdpBundleResult> {
      const input = PushXdpBundleInputSchema.parse(raw);
      try {
        const r = await publishXdpPolicy(deps.db, input);
        return { nodeGroup: input.nodeGroup, version: r.version, changed: r.changed };
      } catch (err) {
        if (isAppError(err) && err.code === 'not_found') {
          throw ApplicationFailure.create({
            type: XdpFailureType.notFound,
            nonRetryable: true,
            message: `XDP policy ${input.policyId} of node group ${input.nodeGroup} does not exist`,
          });
        }
        throw err;
      }
    },

    async awaitAgentAck(raw: AwaitAgentAckInput): Promise<AwaitAgentAckResult> {
      const input = AwaitAgentAckInputSchema.parse(raw);
      const ctx = Context.current();
      const previous = ctx.info.heartbeatDetails as { startedAtMs?: number } | undefined;
      const startedAtMs = typeof previous?.startedAtMs === 'number' ? previous.startedAtMs : now();
      const deadline = startedAtMs + (input.timeoutMs ?? 60_000);
      for (;;) {
        const summary = await getAgentAckStatus(deps.db, input);
        ctx.heartbeat({ startedAtMs, acked: summary.acked.length, pending: summary.pending.length });
        const first = summary.failed[0];
        if (first) {
          throw ApplicationFailure.create({
            type: XdpFailureType.agentRejected,
            nonRetryable: true,
            message: `agent ${first.nodeName} in node group ${input.nodeGroup} rejected XDP bundle ${input.version}: ${first.error.slice(0, 1000)}`,
            details: [{ nodeGroup: input.nodeGroup, version: input.version, failed: summary.failed }],
          });
        }
        const total = summary.acked.length + summary.pending.length;
        if (total === 0) return { ...summary, outcome: 'noAgents' };
        if (summary.pending.length === 0) return { ...summary, outcome: 'acked' };
        const desired = await findDesiredXdpVersion(deps.db, input.tenantId, input.nodeGroup);
        if (desired !== null && desired !== input.version) return { ...summary, outcome: 'superseded' };
        const left = deadline - now();
        if (left <= 0) return { ...summary, outcome: 'timedOut' };
        await ctx.sleep(Math.min(pollIntervalMs, left));
      }
    },
  };
}
