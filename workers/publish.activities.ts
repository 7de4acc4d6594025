/**
 * Activities of publishRevisionWorkflow. Dependencies are explicit (createPublishActivities(deps)), so
 * tests can pass a small publish implementation and the worker passes the real services.
 *
 * Audit: the publish itself is audited by the publish service (in its transaction); awaitProxyAck audits the
 * outcome per node group (revision.publish.acked / .nacked / .ack_timeout) with the publishing actor. An
 * attempt that dies between the audit write and reporting its result repeats the entry on retry.
 *
 * Failure policy: domain errors (the revision cannot be published, a proxy NACKed, the snapshot does not
 * exist) are non-retryable ApplicationFailures; anything else (database down, connection reset) is
 * thrown as is and retried by Temporal under the workflow's retry policy.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  PublishAuditAction,
  PublishFailureType,
  type Actor,
  type AwaitProxyAckInput,
  type AwaitProxyAckResult,
  type PublishActivities,
  type PublishRevisionActivityInput,
  type PublishRevisionActivityResult,
} from '../contracts/workflows.schema';
import type { Db } from '../server/db/client';
import { getProxyAckStatus, getSnapshotAckTarget } from '../server/db/proxy-ack.repo';
import { isAppError } from '../server/errors';

/** server/services/publish.service.ts publishRevision (idempotent: publishing the same revision twice changes nothing). */
export type PublishRevisionFn = (
  db: Db,
  input: { tenantId: string; revisionId: string; actor: Actor },
) => Promise<PublishRevisionActivityResult>;

export interface AuditEntryInput {
  tenantId: string;
  actor: Actor;
  action: string;
  target: { type: string; id: string };
  before?: unknown;
  after?: unknown;
  details?: Record<string, unknown>;
}

/** server/audit/audit.service.ts appendAudit. */
export type AppendAuditFn = (db: Db, entry: AuditEntryInput) => Promise<unknown>;

export interface PublishActivityDeps {
  db: Db;
  publishRevision: PublishRevisionFn;
  appendAudit: AppendAuditFn;
  /** Wall clock in ms (tests may pass a fake one). */
  now?: () => number;
  /** How often awaitProxyAck reads ProxyResourceState; default 500 ms. */
  pollIntervalMs?: number;
  /** Decides whether a publish error is a domain error (non-retryable); default: isDomainError. */
  isDomainError?: (err: unknown) => boolean;
}

/** Proxies listed by name in one audit entry (the counts are always complete). */
const AUDIT_MAX_PROXIES = 50;

interface AckHeartbeat {
  startedAtMs: number;
  acked: number;
  pending: number;
}

export function createPublishActivities(deps: PublishActivityDeps): PublishActivities {
  const now = deps.now ?? Date.now;
  const pollIntervalMs = deps.pollIntervalMs ?? 500;
  const domainError = deps.isDomainError ?? isDomainError;

  return {
    async publishRevision(input: PublishRevisionActivityInput): Promise<PublishRevisionActivityResult> {
      let result: PublishRevisionActivityResult;
      try {
        result = await deps.publishRevision(deps.db, {
          tenantId: input.tenantId,
          revisionId: input.revisionId,
          actor: input.actor,
        });
      } catch (err) {
        if (!domainError(err)) throw err;
        throw ApplicationFailure.create({
          type: PublishFailureType.publishRejected,
          nonRetryable: true,
          message: `revision ${input.revisionId} cannot be published: ${errorMessage(err)}`,
          details: [{ code: errorCode(err) ?? null }],
          cause: err instanceof Error ? err : undefined,
        });
      }
      // The publish itself is audited by the publish service, in its transaction (exactly once per change).
      return { snapshots: result.snapshots.map((s) => ({ nodeGroup: s.nodeGroup, version: s.version })), changed: result.changed };
    },

    async awaitProxyAck(input: AwaitProxyAckInput): Promise<AwaitProxyAckResult> {
      const ctx = Context.current();
      // The deadline survives retries: the first attempt's start is carried in the heartbeat details.
      const previous = ctx.info.heartbeatDetails as Partial<AckHeartbeat> | undefined;
      const startedAtMs = typeof previous?.startedAtMs === 'number' ? previous.startedAtMs : now();
      const deadline = startedAtMs + input.timeoutMs;
      const target = { tenantId: input.tenantId, nodeGroup: input.nodeGroup, version: input.version };

      // Proxies ACK per type, at the snapshot's version of each type (unchanged types keep theirs).
      const ackTarget = await getSnapshotAckTarget(deps.db, target);
      const typeVersions = ackTarget?.typeVersions;
      let typeUrls: string[];
      if (input.typeUrls && input.typeUrls.length > 0) {
        typeUrls = [...input.typeUrls];
      } else {
        const types = ackTarget?.typeUrls ?? null;
        if (types === null) {
          throw ApplicationFailure.create({
            type: PublishFailureType.snapshotNotFound,
            nonRetryable: true,
            message: `no snapshot ${input.version} for node group ${input.nodeGroup}`,
            details: [{ nodeGroup: input.nodeGroup, version: input.version }],
          });
        }
        typeUrls = types;
      }

      const audit = (action: string, details: Record<string, unknown>) =>
        deps.appendAudit(deps.db, {
          tenantId: input.tenantId,
          actor: input.actor,
          action,
          target: { type: 'revision', id: input.revisionId },
          details: { nodeGroup: input.nodeGroup, version: input.version, workflowId: ctx.info.workflowExecution?.workflowId ?? null, ...details },
        });

      for (;;) {
        const summary = await getProxyAckStatus(deps.db, { ...target, typeUrls, ...(typeVersions !== undefined ? { typeVersions } : {}) });
        ctx.heartbeat({ startedAtMs, acked: summary.acked.length, pending: summary.pending.length } satisfies AckHeartbeat);
        const first = summary.nacked[0];
        if (first) {
          await audit(PublishAuditAction.nacked, {
            nacked: summary.nacked.slice(0, AUDIT_MAX_PROXIES),
            nackedCount: summary.nacked.length,
            proxiesAcked: summary.acked.length,
            pendingCount: summary.pending.length,
          });
          throw ApplicationFailure.create({
            type: PublishFailureType.nack,
            nonRetryable: true,
            message: `proxy ${first.nodeId} (${first.proxyId}) in node group ${input.nodeGroup} rejected version ${input.version} of ${first.typeUrl}: ${first.error}`,
            details: [{ ...first, nodeGroup: input.nodeGroup, version: input.version, nacked: summary.nacked }],
          });
        }
        if (summary.pending.length === 0) {
          await audit(PublishAuditAction.acked, { proxiesAcked: summary.acked.length, typeUrls });
          return { ...summary, outcome: 'acked', typeUrls };
        }
        const left = deadline - now();
        if (left <= 0) {
          await audit(PublishAuditAction.ackTimeout, {
            proxiesAcked: summary.acked.length,
            pendingCount: summary.pending.length,
            pending: summary.pending.slice(0, AUDIT_MAX_PROXIES).map((p) => ({ nodeId: p.nodeId, pendingTypeUrls: p.pendingTypeUrls })),
            timeoutMs: input.timeoutMs,
          });
          return { ...summary, outcome: 'timedOut', typeUrls };
        }
        // Cancellable: throws CancelledFailure when the workflow stops waiting (delivered via heartbeat).
        await ctx.sleep(Math.min(pollIntervalMs, left));
      }
    },
  };
}

function errorCode(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Default classification of errors thrown by the publish service. Domain errors (not retried): an AppError
 * (server/errors.ts) other than `internal` (revision not found, invalid graph, conflict…), a zod validation
 * error, a non-retryable ApplicationFailure. Everything else (connection refused/reset, pool or transaction
 * timeouts, serialization conflicts, unknown bugs) is retried under the workflow's bounded retry policy.
 */
export function isDomainError(err: unknown): boolean {
  if (err instanceof ApplicationFailure) return err.nonRetryable === true;
  if (isAppError(err)) return err.code !== 'internal';
  return err instanceof Error && err.name === 'ZodError';
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
