/**
 * Activities of canaryPromotionWorkflow, from createRolloutActivities(deps) so dependencies are explicit.
 *
 * Idempotency: applyRolloutTraffic derives the step's graph from the live graph under the tenant's publish
 * lock; when the live graph already has that traffic (a retried attempt whose first try committed) nothing
 * is created or published. recordRolloutEvent writes once per (rolloutId, seq). awaitRolloutServing and
 * readClusterStats only read.
 *
 * Failure policy: domain errors (route gone, revision invalid) are non-retryable ApplicationFailures;
 * anything else is retried by Temporal.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { RouteGraphSchema, RouteSchema, type Cluster, type RouteGraph } from '../contracts/route-graph.schema';
import type {
  ApplyTrafficInput,
  ApplyTrafficResult,
  AwaitServingInput,
  AwaitServingResult,
  ClusterStatsSample,
  ReadClusterStatsInput,
  RecordRolloutEventInput,
  RolloutActivities,
} from '../contracts/rollout.schema';
import type { Actor } from '../contracts/workflows.schema';
import { canonicalJson } from '../core/canonical-json';
import type { MetricsSource } from '../core/rollout/ports';
import {
  TrafficError,
  applyRolloutTraffic,
  nodeGroupsServingRoute,
  promoteRolloutTraffic,
  rollbackRolloutTraffic,
  routeWeights,
} from '../core/rollout/traffic';
import { contentHash } from '../core/xds/snapshot';
import { lockAuditChain } from '../server/db/audit.repo';
import type { Db } from '../server/db/client';
import { getSnapshotTypeUrls } from '../server/db/proxy-ack.repo';
import { findLiveRevision } from '../server/db/revision-read.repo';
import { lockTenantForPublish } from '../server/db/revision-publish.repo';
import {
  findRevisionGraph,
  insertDerivedRevision,
  insertRolloutApproval,
  insertRolloutEvent,
  listServingState,
  updateRolloutStatus,
} from '../server/db/rollout.repo';
import { listLatestSnapshotVersions } from '../server/db/snapshot.repo';
import { inTransaction, type DbTx } from '../server/db/tx';
import { isAppError } from '../server/errors';
import { isDomainError, type AuditEntryInput } from './publish.activities';

/** server/audit/audit.service.ts appendAudit (in the caller's transaction). */
export type AppendAuditInTxFn = (db: DbTx, entry: AuditEntryInput) => Promise<unknown>;

export type PublishInTxFn = (db: DbTx, input: { tenantId: string; revisionId: string; actor: Actor }) => Promise<{ snapshots: { nodeGroup: string; version: string }[] }>;

export interface RolloutActivityDeps {
  db: Db;
  /** server/services/publish.service.ts publishRevision (composes with the caller's transaction). */
  publishRevision: PublishInTxFn;
  appendAudit: AppendAuditInTxFn;
  metrics: MetricsSource;
  /**
   * The admission gate of the final promotion (server/services/revision-approval.service.ts
   * admitRolloutPromotion): throws an AppError when the promoted revision may not go live. The worker
   * passes it; without it promotions are not gated (workflow tests with fakes).
   */
  admitPromotion?: (db: DbTx, input: { tenantId: string; rolloutId: string; changeRevisionId: string; promotedRevisionId: string; actor: Actor }) => Promise<unknown>;
  /** How often awaitRolloutServing polls; default 100 ms. */
  pollIntervalMs?: number;
  now?: () => number;
}

export const RolloutFailureType = { rejected: 'RolloutTrafficRejected' } as const;

/** Weights compared the way Envoy may print them (zero weights can be left out of a config dump). */
function sameWeights(a: { cluster: string; weight: number }[], b: { cluster: string; weight: number }[]): boolean {
  const norm = (x: { cluster: string; weight: number }[]) =>
    x.filter((c) => c.weight > 0).map((c) => `${c.cluster}=${c.weight}`).sort().join(',');
  return norm(a) === norm(b);
}

export function createRolloutActivities(deps: RolloutActivityDeps): RolloutActivities {
  const pollIntervalMs = deps.pollIntervalMs ?? 100;
  const now = deps.now ?? Date.now;

  const rejected = (message: string, cause?: unknown) =>
    ApplicationFailure.create({ type: RolloutFailureType.rejected, nonRetryable: true, message, cause: cause instanceof Error ? cause : undefined });

  return {
    async applyRolloutTraffic(input: ApplyTrafficInput): Promise<ApplyTrafficResult> {
      try {
        return await inTransaction(deps.db, async (tx) => {
          // Lock order audit chain → tenant row: the publish audits while holding the tenant row FOR UPDATE,
          // and any other audit writer of the tenant holds the audit lock while its insert needs a KEY SHARE
          // lock on the tenant row; taking the audit lock first keeps concurrent rollouts from deadlocking.
          await lockAuditChain(tx, input.tenantId);
          if ((await lockTenantForPublish(tx, input.tenantId)) === null) throw rejected(`tenant ${input.tenantId} not found`);
          const live = await findLiveRevision(tx, input.tenantId);
          if (!live) throw rejected('the tenant has no live revision');
          const baseRoute = RouteSchema.parse(input.baseRoute);
          const change = await findRevisionGraph(tx, input.tenantId, input.revisionId);
          const parsedChange = change ? RouteGraphSchema.safeParse(change.graph) : undefined;
          const extra: Cluster[] = parsedChange?.success ? parsedChange.data.clusters : [];
          let derived: RouteGraph;
          let message: string;
          switch (input.change.kind) {
            case 'set':
              derived = applyRolloutTraffic(live.graph, input.spec, baseRoute, input.change.traffic, extra);
              message = `rollout ${input.rolloutId}: ${input.spec.route} → ${input.spec.canaryCluster} ${input.change.traffic.weight}%`;
              break;
            case 'promote':
              derived = promoteRolloutTraffic(live.graph, input.spec, baseRoute, extra);
              message = `rollout ${input.rolloutId}: promote ${input.spec.canaryCluster} on ${input.spec.route}`;
              break;
            case 'rollback':
              derived = rollbackRolloutTraffic(live.graph, input.spec, baseRoute);
              message = `rollout ${input.rolloutId}: roll back ${input.spec.route} (${input.change.reason})`.slice(0, 1000);
              break;
          }
          const groups = nodeGroupsServingRoute(derived, input.spec.route);
          const expected = routeWeights(derived, input.spec.route);
          if (canonicalJson(derived) === canonicalJson(live.graph)) {
            // Already live (a retry after a committed attempt, or nothing to change): publish nothing.
            const versions = await listLatestSnapshotVersions(tx, input.tenantId);
            return {
              revisionId: null,
              liveRevisionId: live.id,
              targets: versions.filter((v) => groups.includes(v.nodeGroup)).map((v) => ({ nodeGroup: v.nodeGroup, version: v.version })),
              expected,
            };
          }
          const revisionId = await insertDerivedRevision(tx, {
            tenantId: input.tenantId,
            parentId: live.id,
            graph: derived,
            graphHash: contentHash(derived),
            createdById: `rollout:${input.rolloutId}`,
            message,
          });
          if (input.change.kind === 'promote' && deps.admitPromotion) {
            await deps.admitPromotion(tx, { tenantId: input.tenantId, rolloutId: input.rolloutId, changeRevisionId: input.revisionId, promotedRevisionId: revisionId, actor: input.actor });
          }
          const published = await deps.publishRevision(tx, { tenantId: input.tenantId, revisionId, actor: input.actor });
          return {
            revisionId,
            liveRevisionId: revisionId,
            targets: published.snapshots.filter((s) => groups.includes(s.nodeGroup)),
            expected,
          };
        });
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        if (input.change.kind === 'promote' && isAppError(err) && (err.code === 'forbidden' || err.code === 'conflict')) {
          // The promotion's gate refused (its transaction, with the derived revision, rolled back): audited here.
          await deps.appendAudit(deps.db, {
            tenantId: input.tenantId,
            actor: input.actor,
            action: 'rollout.promote.refused',
            target: { type: 'rollout', id: input.rolloutId },
            details: { reason: err.message, revisionId: input.revisionId, ...(err.details ?? {}) },
          });
        }
        if (err instanceof TrafficError || isDomainError(err)) throw rejected(err instanceof Error ? err.message : String(err), err);
        throw err;
      }
    },

    async awaitRolloutServing(input: AwaitServingInput): Promise<AwaitServingResult> {
      const ctx = Context.current();
      const previous = ctx.info.heartbeatDetails as { startedAtMs?: number } | undefined;
      const startedAtMs = typeof previous?.startedAtMs === 'number' ? previous.startedAtMs : now();
      const deadline = startedAtMs + input.timeoutMs;
      const typeUrls = await getSnapshotTypeUrls(deps.db, input);
      if (typeUrls === null) throw rejected(`no snapshot ${input.version} for node group ${input.nodeGroup}`);
      for (;;) {
        ctx.heartbeat({ startedAtMs });
        const proxies = await listServingState(deps.db, { ...input, typeUrls });
        let last: string;
        const nacked = proxies.find((p) => p.nack);
        if (nacked?.nack) {
          return { outcome: 'nacked', proxies: proxies.length, verified: 0, unverifiable: 0, error: `proxy ${nacked.nodeId} rejected ${nacked.nack.typeUrl}: ${nacked.nack.error}` };
        }
        const pending = proxies.filter((p) => p.pending.length > 0);
        if (pending.length === 0) {
          // ACKed: confirm in each proxy's config dump that the route serves the expected weights.
          let verified = 0;
          let unverifiable = 0;
          const wrong: string[] = [];
          await Promise.all(
            proxies.map(async (p) => {
              if (!p.adminUrl) {
                unverifiable += 1;
                return;
              }
              try {
                const weights = await deps.metrics.readRouteWeights(p.adminUrl, input.route);
                if (weights && sameWeights(weights, input.expected)) verified += 1;
                else wrong.push(`${p.nodeId}: ${JSON.stringify(weights)}`);
              } catch (err) {
                wrong.push(`${p.nodeId}: ${err instanceof Error ? err.message : String(err)}`);
              }
            }),
          );
          if (wrong.length === 0) return { outcome: 'serving', proxies: proxies.length, verified, unverifiable };
          last = `config dump differs: ${wrong.slice(0, 5).join('; ')}`;
        } else {
          last = `${pending.length} proxies pending: ${pending.slice(0, 5).map((p) => `${p.nodeId} (${p.pending.join(', ')})`).join('; ')}`;
        }
        const left = deadline - now();
        if (left <= 0) return { outcome: 'timedOut', proxies: proxies.length, verified: 0, unverifiable: 0, error: last };
        await ctx.sleep(Math.min(pollIntervalMs, left));
      }
    },

    async readClusterStats(input: ReadClusterStatsInput): Promise<ClusterStatsSample> {
      return deps.metrics.readClusterStats(input);
    },

    async recordRolloutEvent(input: RecordRolloutEventInput): Promise<void> {
      await inTransaction(deps.db, async (tx) => {
        const inserted = await insertRolloutEvent(tx, {
          tenantId: input.tenantId,
          rolloutId: input.rolloutId,
          seq: input.seq,
          action: input.action,
          stepIndex: input.stepIndex,
          phase: input.status.phase,
          actor: input.actor,
          detail: input.detail ?? {},
        });
        if (!inserted) return; // recorded by an earlier attempt
        await updateRolloutStatus(tx, input.tenantId, input.rolloutId, input.status);
        if (input.approval) await insertRolloutApproval(tx, { tenantId: input.tenantId, rolloutId: input.rolloutId, ...input.approval });
        await deps.appendAudit(tx, {
          tenantId: input.tenantId,
          actor: input.actor,
          action: input.action,
          target: { type: 'rollout', id: input.rolloutId },
          details: {
            seq: input.seq,
            stepIndex: input.stepIndex,
            phase: input.status.phase,
            canaryWeight: input.status.traffic.weight,
            ...(input.detail ?? {}),
          },
        });
      });
    },
  };
}
