/**
 * Activities of canaryPromotionWorkflow, from createRolloutActivities(deps) so dependencies are explicit.
 *
 * Idempotency: applyRolloutTraffic derives the step's graph from the live graph under the tenant's publish
 * lock; when the live graph already has that traffic (a retried attempt whose first try committed) nothing
 * is created or published. recordRolloutEvent(s) write once per (rolloutId, seq). awaitRolloutServing and
 * readClusterStats only read. serveRolloutTraffic is the three in one (events, apply, await) and inherits
 * their idempotency; a retried attempt whose first try published finds that revision from the publish's
 * audit entry.
 *
 * Failure policy: domain errors (route gone, revision invalid) are non-retryable ApplicationFailures;
 * anything else is retried by Temporal.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ZodError } from 'zod';
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
  ServeTrafficInput,
  ServeTrafficResult,
} from '../contracts/rollout.schema';
import { ROLLOUT_CONTROLLER_ACTOR } from '../contracts/rollout.schema';
import { createGroupCommit, type ItemOutcome } from '../core/concurrency/group-commit';
import type { Actor } from '../contracts/workflows.schema';
import type { MetricsSource } from '../core/rollout/ports';
import {
  TrafficError,
  applyRolloutTraffic,
  nodeGroupsServingRoute,
  promoteRolloutTraffic,
  rollbackRolloutTraffic,
  routeWeights,
  trafficFootprint,
} from '../core/rollout/traffic';
import { contentHash } from '../core/xds/snapshot';
import { lockAuditChain } from '../server/db/audit.repo';
import type { Db } from '../server/db/client';
import { getSnapshotTypeUrls } from '../server/db/proxy-ack.repo';
import { findLiveRevision } from '../server/db/revision-read.repo';
import { lockTenantForPublish } from '../server/db/revision-publish.repo';
import {
  findRevisionGraph,
  findRollout,
  findRolloutChangeRevision,
  insertDerivedRevision,
  insertRolloutApproval,
  insertRolloutEvents,
  listServingStates,
  updateRolloutStatuses,
  type ServingProxy,
} from '../server/db/rollout.repo';
import { listLatestSnapshotVersions } from '../server/db/snapshot.repo';
import type { XdsTypeUrl } from '../contracts/workflows.schema';
import { inTransaction, type DbTx } from '../server/db/tx';
import { isAppError } from '../server/errors';
import { isDomainError, type AuditEntryInput } from './publish.activities';

/** server/audit/audit.service.ts appendAudit (in the caller's transaction). */
export type AppendAuditInTxFn = (db: DbTx, entry: AuditEntryInput) => Promise<unknown>;
/** server/audit/audit.service.ts appendAuditEntries: several entries of one tenant, one lock, one insert. */
export type AppendAuditEntriesInTxFn = (db: DbTx, tenantId: string, entries: AuditEntryInput[]) => Promise<unknown>;

export type PublishInTxFn = (
  db: DbTx,
  input: { tenantId: string; revisionId: string; actor: Actor; auditDetails?: Record<string, unknown> },
) => Promise<{ snapshots: { nodeGroup: string; version: string }[] }>;

export interface RolloutActivityDeps {
  db: Db;
  /** server/services/publish.service.ts publishRevision (composes with the caller's transaction). */
  publishRevision: PublishInTxFn;
  appendAudit: AppendAuditInTxFn;
  /** Default: appendAudit once per entry. */
  appendAuditEntries?: AppendAuditEntriesInTxFn;
  metrics: MetricsSource;
  /**
   * The admission gate of the final promotion (server/services/revision-approval.service.ts
   * admitRolloutPromotion): throws an AppError when the promoted revision may not go live. The worker
   * passes it; without it promotions are not gated (workflow tests with fakes).
   */
  admitPromotion?: (db: DbTx, input: { tenantId: string; rolloutId: string; changeRevisionId: string; promotedRevisionId: string; actor: Actor }) => Promise<unknown>;
  /** How often awaitRolloutServing polls; default 100 ms. */
  pollIntervalMs?: number;
  /**
   * Resolves at the next stored change of the tenant's proxy state (server/db/proxy-state-changes.ts): a
   * waiting step reads the ACKs as soon as they are stored rather than at its next poll. Optional.
   */
  proxyStateChanged?: (tenantId: string) => Promise<void>;
  now?: () => number;
}

export const RolloutFailureType = { rejected: 'RolloutTrafficRejected' } as const;

/** How a traffic change is described in the audit entry of the publish that carries it. */
function changeSummary(input: ApplyTrafficInput): string {
  switch (input.change.kind) {
    case 'set':
      return `${input.spec.route} → ${input.spec.canaryCluster} ${input.change.traffic.weight}%`;
    case 'promote':
      return `promote ${input.spec.canaryCluster} on ${input.spec.route}`;
    case 'rollback':
      return `roll back ${input.spec.route} (${input.change.reason})`;
  }
}

/** Weights compared the way Envoy may print them (zero weights can be left out of a config dump). */
function sameWeights(a: { cluster: string; weight: number }[], b: { cluster: string; weight: number }[]): boolean {
  const norm = (x: { cluster: string; weight: number }[]) =>
    x.filter((c) => c.weight > 0).map((c) => `${c.cluster}=${c.weight}`).sort().join(',');
  return norm(a) === norm(b);
}

export function createRolloutActivities(deps: RolloutActivityDeps): RolloutActivities {
  const pollIntervalMs = deps.pollIntervalMs ?? 100;
  const appendAuditEntries: AppendAuditEntriesInTxFn =
    deps.appendAuditEntries ??
    (async (tx, _tenantId, entries) => {
      for (const e of entries) await deps.appendAudit(tx, e);
    });
  const now = deps.now ?? Date.now;

  const rejected = (message: string, cause?: unknown) =>
    ApplicationFailure.create({ type: RolloutFailureType.rejected, nonRetryable: true, message, cause: cause instanceof Error ? cause : undefined });
  const asActivityFailure = (err: unknown): unknown => {
    if (err instanceof ApplicationFailure) return err;
    if (err instanceof TrafficError || isDomainError(err)) return rejected(err instanceof Error ? err.message : String(err), err);
    return err;
  };

  /**
   * Per tenant, the revision this worker's last batch derived and published, with its graph: revisions are
   * immutable, so while the tenant's live revision is still that one, the next batch derives from the graph in
   * memory instead of reading and parsing it again (a 200-route graph's JSON and schema parse were a visible
   * share of a step's CPU at N = 200, bench/rollout-step.ts profile). Any other publish changes the live id.
   */
  const lastPublished = new Map<string, { id: string; graph: RouteGraph }>();

  /**
   * One publish for every traffic change of a tenant that arrived while the previous publish was in flight
   * (group commit): each change is applied to the live graph in arrival order, the result is one derived
   * revision, compiled, stored and NOTIFYed once. Each caller learns the snapshot versions that contain its
   * change and waits for their ACK itself. A change whose traffic is already live (a retried attempt whose
   * first try committed) adds nothing, so no step is applied twice. A change that cannot be applied fails
   * alone; if the batch's publish fails, each change is published on its own so one bad change cannot fail
   * the others.
   */
  const publishTrafficBatch = async (tenantId: string, items: readonly ApplyTrafficInput[]): Promise<ItemOutcome<ApplyTrafficResult>[]> => {
    let derivedNow: { id: string; graph: RouteGraph } | undefined;
    const outcomes = await inTransaction(deps.db, async (tx): Promise<ItemOutcome<ApplyTrafficResult>[]> => {
      // Lock order audit chain → tenant row: the publish audits while holding the tenant row, and any other
      // audit writer of the tenant holds the audit lock while its insert needs a KEY SHARE lock on the tenant
      // row; taking the audit lock first keeps concurrent publishes from deadlocking.
      await lockAuditChain(tx, tenantId);
      const tenant = await lockTenantForPublish(tx, tenantId);
      if (tenant === null) throw rejected(`tenant ${tenantId} not found`);
      const known = lastPublished.get(tenantId);
      const live = known && known.id === tenant.liveRevisionId ? known : await findLiveRevision(tx, tenantId);
      if (!live) throw rejected('the tenant has no live revision');
      const extraByRevision = new Map<string, Cluster[]>();
      const extraClusters = async (revisionId: string): Promise<Cluster[]> => {
        let extra = extraByRevision.get(revisionId);
        if (!extra) {
          const change = await findRevisionGraph(tx, tenantId, revisionId);
          const parsed = change ? RouteGraphSchema.safeParse(change.graph) : undefined;
          extra = parsed?.success ? parsed.data.clusters : [];
          extraByRevision.set(revisionId, extra);
        }
        return extra;
      };
      const lastGoodClusters = async (rolloutId: string): Promise<string[] | undefined> => {
        const rollout = await findRollout(tx, tenantId, rolloutId);
        const good = rollout?.lastGoodRevisionId ? await findRevisionGraph(tx, tenantId, rollout.lastGoodRevisionId) : null;
        const clusters = (good?.graph as { clusters?: { name?: unknown }[] } | undefined)?.clusters;
        return Array.isArray(clusters) ? clusters.flatMap((c) => (typeof c.name === 'string' ? [c.name] : [])) : undefined;
      };
      let graph = live.graph;
      const applied: ({ ok: true; changed: boolean; expected: ApplyTrafficResult['expected']; groups: string[]; summary: string } | { ok: false; error: unknown })[] = [];
      for (const input of items) {
        try {
          const baseRoute = RouteSchema.parse(input.baseRoute);
          let derived: RouteGraph;
          switch (input.change.kind) {
            case 'set':
              derived = applyRolloutTraffic(graph, input.spec, baseRoute, input.change.traffic, await extraClusters(input.revisionId));
              break;
            case 'promote':
              derived = promoteRolloutTraffic(graph, input.spec, baseRoute, await extraClusters(input.revisionId));
              break;
            case 'rollback':
              derived = rollbackRolloutTraffic(graph, input.spec, baseRoute, await lastGoodClusters(input.rolloutId));
              break;
          }
          const summary = changeSummary(input);
          const changed = trafficFootprint(derived, input.spec) !== trafficFootprint(graph, input.spec);
          applied.push({ ok: true, changed, expected: routeWeights(derived, input.spec.route), groups: nodeGroupsServingRoute(derived, input.spec.route), summary });
          graph = derived;
        } catch (err) {
          if (err instanceof TrafficError || err instanceof ZodError) applied.push({ ok: false, error: err });
          else throw err;
        }
      }
      const changes = items.flatMap((input, i) => {
        const a = applied[i]!;
        return a.ok && a.changed ? [{ input, summary: a.summary }] : [];
      });
      let revisionId: string | null = null;
      let targets: { nodeGroup: string; version: string }[];
      if (changes.length === 0) {
        // Already live (retries after committed attempts, or nothing to change): publish nothing.
        targets = (await listLatestSnapshotVersions(tx, tenantId)).map((v) => ({ nodeGroup: v.nodeGroup, version: v.version }));
      } else {
        const one = changes.length === 1 ? changes[0]! : null;
        revisionId = await insertDerivedRevision(tx, {
          tenantId,
          parentId: live.id,
          graph,
          graphHash: contentHash(graph),
          createdById: one ? `rollout:${one.input.rolloutId}` : ROLLOUT_CONTROLLER_ACTOR.id,
          message: (one
            ? `rollout ${one.input.rolloutId}: ${one.summary}`
            : `${changes.length} rollout steps: ${changes.map((c) => c.summary).join('; ')}`
          ).slice(0, 1000),
        });
        // A promotion goes live only through the admission gate (and its approvals); a refusal fails the batch,
        // which is then published change by change, so only the refused promotion fails.
        if (deps.admitPromotion) {
          for (const c of changes) {
            if (c.input.change.kind !== 'promote') continue;
            await deps.admitPromotion(tx, { tenantId, rolloutId: c.input.rolloutId, changeRevisionId: c.input.revisionId, promotedRevisionId: revisionId, actor: c.input.actor });
          }
        }
        const published = await deps.publishRevision(tx, {
          tenantId,
          revisionId,
          actor: one ? one.input.actor : ROLLOUT_CONTROLLER_ACTOR,
          auditDetails: { rollouts: changes.map((c) => ({ rolloutId: c.input.rolloutId, route: c.input.spec.route, change: c.summary, actor: c.input.actor })) },
        });
        targets = published.snapshots;
        derivedNow = { id: revisionId, graph };
      }
      return items.map((input, i): ItemOutcome<ApplyTrafficResult> => {
        const a = applied[i]!;
        if (!a.ok) return a;
        return {
          ok: true,
          value: {
            revisionId: a.changed ? revisionId : null,
            liveRevisionId: revisionId ?? live.id,
            targets: targets.filter((t) => a.groups.includes(t.nodeGroup)),
            expected: a.expected,
          },
        };
      });
    }).then((o) => {
      // Committed: the next batch starts from this graph while it is still the live revision.
      if (derivedNow) lastPublished.set(tenantId, derivedNow);
      return o;
    }).catch(async (err: unknown) => {
      if (items.length === 1 || !(err instanceof TrafficError || isDomainError(err))) throw err;
      // One change made the batch's publish fail (say, a compile error): publish each on its own.
      const alone: ItemOutcome<ApplyTrafficResult>[] = [];
      for (const item of items) {
        try {
          const [o] = await publishTrafficBatch(tenantId, [item]);
          alone.push(o!);
        } catch (e) {
          alone.push({ ok: false, error: e });
        }
      }
      return alone;
    });
    return outcomes;
  };
  /**
   * Rollout events of a tenant, group-committed: one transaction takes the tenant's audit-chain lock once and
   * writes every event that queued up meanwhile (event row, rollout status, approval, audit entry each). An
   * event is written once per (rolloutId, seq); a retried attempt finds it and writes nothing. If the batch
   * fails, each event is written in its own transaction so one bad event cannot fail the others.
   */
  const writeEvents = async (tenantId: string, items: readonly RecordRolloutEventInput[]): Promise<ItemOutcome<void>[]> => {
    try {
      await inTransaction(deps.db, async (tx) => {
        await lockAuditChain(tx, tenantId);
        const fresh = await insertRolloutEvents(
          tx,
          items.map((input) => ({
            tenantId,
            rolloutId: input.rolloutId,
            seq: input.seq,
            action: input.action,
            stepIndex: input.stepIndex,
            phase: input.status.phase,
            actor: input.actor,
            detail: input.detail ?? {},
            ...(input.at ? { at: new Date(input.at) } : {}),
            input,
          })),
        ); // events recorded by an earlier attempt are left out
        for (const { input } of fresh) {
          if (input.approval) await insertRolloutApproval(tx, { tenantId, rolloutId: input.rolloutId, ...input.approval });
        }
        await appendAuditEntries(
          tx,
          tenantId,
          fresh.map(({ input }) => ({
            tenantId,
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
          })),
        );
        // The newest status per rollout is what its row shows (two events of one rollout can share a batch)…
        const newest = new Map<string, RecordRolloutEventInput>();
        for (const { input } of fresh) if ((newest.get(input.rolloutId)?.seq ?? -1) < input.seq) newest.set(input.rolloutId, input);
        // …unless a later event of the rollout was recorded by an earlier batch (attempts can overtake): the
        // update's seq condition, in the same statement.
        await updateRolloutStatuses(tx, tenantId, [...newest.values()].map((input) => ({ rolloutId: input.rolloutId, status: input.status, seq: input.seq })));
      });
      return items.map(() => ({ ok: true, value: undefined }));
    } catch (err) {
      if (items.length === 1) throw err;
      const alone: ItemOutcome<void>[] = [];
      for (const item of items) {
        alone.push(await writeEvents(tenantId, [item]).then(([o]) => o!, (e: unknown) => ({ ok: false as const, error: e })));
      }
      return alone;
    }
  };
  const eventCommit = createGroupCommit<RecordRolloutEventInput, void>({ flush: writeEvents, maxBatch: 500 });

  /**
   * Many rollouts wait for proxies at once (each polls every pollIntervalMs): polls of one node group that
   * arrive while a query is in flight share the next query, and reads of one proxy's configuration share
   * one config dump fetched after they asked.
   */
  const servingCommit = createGroupCommit<AwaitServingInput & { typeUrls: readonly string[] }, ServingProxy[]>({
    flush: async (_key, items) => {
      const first = items[0]!;
      const states = await listServingStates(deps.db, {
        tenantId: first.tenantId,
        nodeGroup: first.nodeGroup,
        versions: items.map((i) => i.version),
        typeUrls: [...new Set(items.flatMap((i) => i.typeUrls))],
      });
      return items.map((i) => ({ ok: true, value: states.get(i.version) ?? [] }));
    },
  });
  const dumpCommit = createGroupCommit<string, { cluster: string; weight: number }[] | null>({
    flush: async (adminUrl, routes) => {
      const served = await deps.metrics.readServedRoutes(adminUrl);
      return routes.map((r) => ({ ok: true, value: served.get(r) ?? null }));
    },
  });
  /** Snapshots are immutable per version: which types a version's proxies ACK is read once. */
  const typeUrlCache = new Map<string, XdsTypeUrl[]>();
  const snapshotTypeUrls = async (q: { tenantId: string; nodeGroup: string; version: string }): Promise<XdsTypeUrl[] | null> => {
    const key = `${q.tenantId}/${q.nodeGroup}/${q.version}`;
    const hit = typeUrlCache.get(key);
    if (hit) return hit;
    const urls = await getSnapshotTypeUrls(deps.db, q);
    if (urls === null) return null;
    if (typeUrlCache.size >= 10_000) typeUrlCache.delete(typeUrlCache.keys().next().value!);
    typeUrlCache.set(key, urls);
    return urls;
  };

  const trafficCommit = createGroupCommit<ApplyTrafficInput, ApplyTrafficResult>({ flush: publishTrafficBatch, maxBatch: 500 });

  const applyTraffic = async (input: ApplyTrafficInput): Promise<ApplyTrafficResult> => {
    try {
      return await trafficCommit.submit(input.tenantId, input);
    } catch (err) {
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
      throw asActivityFailure(err);
    }
  };

  const writeRolloutEvents = async (inputs: readonly RecordRolloutEventInput[]): Promise<void> => {
    await Promise.all(inputs.map((input) => eventCommit.submit(input.tenantId, input)));
  };

  /**
   * Polls until every connected proxy of the node group ACKed `version` (or a newer snapshot) for every type
   * the snapshot has and its config dump shows the route's expected weights; a NACK of the version ends it.
   * The deadline runs from `startedAtMs` (kept across retried attempts in the heartbeat details).
   */
  const awaitServing = async (input: AwaitServingInput, ctx: Context, startedAtMs: number): Promise<AwaitServingResult> => {
    const deadline = startedAtMs + input.timeoutMs;
    const typeUrls = await snapshotTypeUrls(input);
    if (typeUrls === null) throw rejected(`no snapshot ${input.version} for node group ${input.nodeGroup}`);
    for (;;) {
      ctx.heartbeat({ startedAtMs });
      // Taken before the read, so a change stored while it runs wakes the next wait.
      const changed = deps.proxyStateChanged?.(input.tenantId);
      const proxies = (await servingCommit.submit(`${input.tenantId}/${input.nodeGroup}`, { ...input, typeUrls })).map((p) => ({
        ...p,
        pending: p.pending.filter((t) => typeUrls.includes(t as XdsTypeUrl)),
      }));
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
              const weights = await dumpCommit.submit(p.adminUrl, input.route);
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
      const slept = ctx.sleep(Math.min(pollIntervalMs, left));
      if (changed) {
        slept.catch(() => {}); // a cancellation after the wake-up won; one during the wait still rejects the race
        await Promise.race([slept, changed]);
      } else {
        await slept;
      }
    }
  };

  return {
    applyRolloutTraffic: applyTraffic,

    async awaitRolloutServing(input: AwaitServingInput): Promise<AwaitServingResult> {
      const ctx = Context.current();
      const previous = ctx.info.heartbeatDetails as { startedAtMs?: number } | undefined;
      return awaitServing(input, ctx, typeof previous?.startedAtMs === 'number' ? previous.startedAtMs : now());
    },

    async serveRolloutTraffic(input: ServeTrafficInput): Promise<ServeTrafficResult> {
      const ctx = Context.current();
      const previous = ctx.info.heartbeatDetails as { startedAtMs?: number } | undefined;
      const { events, timeoutMs, ...change } = input;
      // The publish may wait its turn behind other rollouts' steps (group commit): keep heartbeating.
      ctx.heartbeat(previous);
      const beat = setInterval(() => ctx.heartbeat(previous), 2_000);
      let applied: ApplyTrafficResult;
      try {
        // The transitions so far are written whatever becomes of the change.
        const [written, published] = await Promise.allSettled([writeRolloutEvents(events), applyTraffic(change)]);
        if (written.status === 'rejected') throw written.reason;
        if (published.status === 'rejected') throw published.reason;
        applied = published.value;
      } finally {
        clearInterval(beat);
      }
      if (applied.revisionId === null && ctx.info.attempt > 1) {
        // An earlier attempt may have published it (and died before answering): report that revision.
        const revisionId = await findRolloutChangeRevision(deps.db, { tenantId: input.tenantId, rolloutId: input.rolloutId, change: changeSummary(change) });
        applied = { ...applied, revisionId };
      }
      const startedAtMs = typeof previous?.startedAtMs === 'number' ? previous.startedAtMs : now();
      const results = await Promise.all(
        applied.targets.map((t) =>
          awaitServing({ tenantId: input.tenantId, nodeGroup: t.nodeGroup, version: t.version, route: input.spec.route, expected: applied.expected, timeoutMs }, ctx, startedAtMs),
        ),
      );
      const proxies = results.reduce((n, r) => n + r.proxies, 0);
      const nacked = results.find((r) => r.outcome === 'nacked');
      if (nacked) return { applied, outcome: 'nacked', proxies, verified: 0, error: nacked.error ?? 'NACK' };
      const late = results.find((r) => r.outcome === 'timedOut');
      if (late) return { applied, outcome: 'timedOut', proxies, verified: 0, error: late.error ?? 'timed out' };
      return { applied, outcome: 'serving', proxies, verified: results.reduce((n, r) => n + r.verified, 0), servingAt: new Date(now()).toISOString() };
    },

    async readClusterStats(input: ReadClusterStatsInput): Promise<ClusterStatsSample> {
      return deps.metrics.readClusterStats(input);
    },

    async recordRolloutEvent(input: RecordRolloutEventInput): Promise<void> {
      await eventCommit.submit(input.tenantId, input);
    },

    async recordRolloutEvents(inputs: RecordRolloutEventInput[]): Promise<void> {
      await writeRolloutEvents(inputs);
    },
  };
}
