/**
 * Rollouts, their transitions (step history) and approval decisions; plus the two reads the rollout
 * activities need from other tables: which proxies of a node group serve a snapshot version "or newer",
 * and creating the derived revision of a step. Every query filters by tenantId.
 */
import type { RolloutFailure, RolloutSpec, RolloutStatus } from '../../contracts/rollout.schema';
import type { RouteGraph } from '../../contracts/route-graph.schema';
import type { Db } from './client';
import type { DbTx } from './tx';
import { isUuid } from './tx';

export interface RolloutRow {
  id: string;
  tenantId: string;
  workflowId: string;
  routeName: string;
  revisionId: string;
  spec: RolloutSpec;
  stepsHash: string;
  phase: string;
  currentStepIndex: number;
  pauseReason: string | null;
  canaryWeight: number;
  status: RolloutStatus | Record<string, never>;
  failure: RolloutFailure | null;
  authors: string[];
  startedById: string;
  startedByName: string;
  lastGoodRevisionId: string | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

type Raw = Omit<RolloutRow, 'spec' | 'status' | 'failure'> & { spec: unknown; status: unknown; failure: unknown };

function toRow(r: Raw): RolloutRow {
  return { ...r, spec: r.spec as RolloutSpec, status: (r.status ?? {}) as RolloutRow['status'], failure: (r.failure ?? null) as RolloutFailure | null };
}

export interface NewRollout {
  tenantId: string;
  workflowId: string;
  routeName: string;
  revisionId: string;
  spec: RolloutSpec;
  stepsHash: string;
  authors: string[];
  startedById: string;
  startedByName: string;
  lastGoodRevisionId: string | null;
}

export async function insertRollout(db: DbTx, r: NewRollout): Promise<RolloutRow> {
  const row = await db.rollout.create({
    data: { ...r, spec: r.spec as object, phase: 'Progressing', status: {} },
  });
  return toRow(row as Raw);
}

export async function findRolloutByWorkflowId(db: DbTx, tenantId: string, workflowId: string): Promise<RolloutRow | null> {
  const row = await db.rollout.findFirst({ where: { tenantId, workflowId } });
  return row ? toRow(row as Raw) : null;
}

export async function findRollout(db: DbTx, tenantId: string, id: string): Promise<RolloutRow | null> {
  if (!isUuid(id)) return null;
  const row = await db.rollout.findFirst({ where: { tenantId, id } });
  return row ? toRow(row as Raw) : null;
}

export async function listRollouts(db: DbTx, tenantId: string, opts: { limit: number; route?: string }): Promise<RolloutRow[]> {
  const rows = await db.rollout.findMany({
    where: { tenantId, ...(opts.route ? { routeName: opts.route } : {}) },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: opts.limit,
  });
  return rows.map((r) => toRow(r as Raw));
}

/** One transition of a rollout (a RolloutEvent row). */
export interface NewRolloutEvent {
  tenantId: string;
  rolloutId: string;
  seq: number;
  action: string;
  stepIndex: number;
  phase: string;
  actor: { type: string; id: string; name: string };
  detail: Record<string, unknown>;
  /** When the transition happened; default: now (the insert's transaction time). */
  at?: Date;
}

/**
 * Inserts the events not recorded yet (by rolloutId + seq) and returns those it inserted, in input order (of
 * repeats within `events`, the first). One statement for the batch, in raw SQL: through the Prisma client the
 * query compilation and argument walk of a batch cost more CPU than PostgreSQL's work (bench/rollout-step.ts).
 */
export async function insertRolloutEvents<E extends NewRolloutEvent>(db: DbTx, events: readonly E[]): Promise<E[]> {
  if (events.length === 0) return [];
  const unique = new Map<string, E>();
  for (const e of events) {
    const key = `${e.rolloutId}/${e.seq}`;
    if (!unique.has(key)) unique.set(key, e);
  }
  const rows = [...unique.values()].map((e) => ({
    tenantId: e.tenantId,
    rolloutId: e.rolloutId,
    seq: e.seq,
    action: e.action,
    stepIndex: e.stepIndex,
    phase: e.phase,
    actorType: e.actor.type,
    actorId: e.actor.id,
    actorName: e.actor.name,
    detail: e.detail ?? {},
    at: e.at?.toISOString() ?? null,
  }));
  const inserted = await db.$queryRaw<{ rolloutId: string; seq: number }[]>`
    INSERT INTO "RolloutEvent" ("id", "tenantId", "rolloutId", "seq", "action", "stepIndex", "phase", "actorType", "actorId", "actorName", "detail", "at")
    SELECT gen_random_uuid(), e."tenantId", e."rolloutId", e."seq", e."action", e."stepIndex", e."phase", e."actorType", e."actorId", e."actorName",
           e."detail", COALESCE(e."at", now())
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS e("tenantId" uuid, "rolloutId" uuid, "seq" int, "action" text, "stepIndex" int,
           "phase" text, "actorType" text, "actorId" text, "actorName" text, "detail" jsonb, "at" timestamptz)
    ON CONFLICT ("rolloutId", "seq") DO NOTHING
    RETURNING "rolloutId", "seq"`;
  const done = new Set(inserted.map((r) => `${r.rolloutId}/${r.seq}`));
  return [...unique.entries()].filter(([key]) => done.has(key)).map(([, e]) => e);
}

export async function updateRolloutStatus(db: DbTx, tenantId: string, rolloutId: string, status: RolloutStatus): Promise<void> {
  await updateRolloutStatuses(db, tenantId, [{ rolloutId, status }]);
}

/**
 * Each rollout's row shows its status: phase, step, pause reason, canary weight, the status itself, the
 * failure when there is one (an earlier failure stays otherwise), finishedAt when it ended. One statement.
 * An update with `seq` (the event whose status it is) is skipped when the rollout already has a later event:
 * the row never goes back to an older status when writes of one rollout overtake each other.
 */
export async function updateRolloutStatuses(
  db: DbTx,
  tenantId: string,
  updates: readonly { rolloutId: string; status: RolloutStatus; seq?: number }[],
): Promise<void> {
  if (updates.length === 0) return;
  const rows = updates.map(({ rolloutId, status, seq }) => ({
    id: rolloutId,
    seq: seq ?? null,
    phase: status.phase,
    step: status.currentStepIndex,
    pauseReason: status.pauseReason,
    weight: status.traffic.weight,
    status,
    failure: status.failure ?? null,
    finished: ['Promoted', 'Failed', 'Aborted'].includes(status.phase),
  }));
  await db.$executeRaw`
    UPDATE "Rollout" r
       SET "phase" = u."phase", "currentStepIndex" = u."step", "pauseReason" = u."pauseReason", "canaryWeight" = u."weight",
           "status" = u."status", "failure" = COALESCE(u."failure", r."failure"),
           "finishedAt" = CASE WHEN u."finished" THEN now() ELSE r."finishedAt" END, "updatedAt" = now()
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS u("id" uuid, "seq" int, "phase" text, "step" int, "pauseReason" text, "weight" int,
           "status" jsonb, "failure" jsonb, "finished" boolean)
     WHERE r."tenantId" = ${tenantId}::uuid AND r."id" = u."id"
       AND (u."seq" IS NULL OR NOT EXISTS (SELECT 1 FROM "RolloutEvent" e WHERE e."rolloutId" = u."id" AND e."seq" > u."seq"))`;
}

export async function insertRolloutApproval(
  db: DbTx,
  a: { tenantId: string; rolloutId: string; stepIndex: number; decision: string; principalId: string; name: string; role: string; comment?: string; at: string },
): Promise<void> {
  await db.rolloutApproval.createMany({
    data: [{ ...a, comment: a.comment ?? '', at: new Date(a.at) }],
    skipDuplicates: true,
  });
}

export interface RolloutEventRow {
  seq: number;
  action: string;
  stepIndex: number;
  phase: string;
  actor: { type: string; id: string; name: string };
  detail: unknown;
  at: Date;
}

export async function listRolloutEvents(db: DbTx, tenantId: string, rolloutId: string): Promise<RolloutEventRow[]> {
  const rows = await db.rolloutEvent.findMany({ where: { tenantId, rolloutId }, orderBy: { seq: 'asc' } });
  return rows.map((r) => ({
    seq: r.seq,
    action: r.action,
    stepIndex: r.stepIndex,
    phase: r.phase,
    actor: { type: r.actorType, id: r.actorId, name: r.actorName },
    detail: r.detail,
    at: r.at,
  }));
}

export async function listRolloutApprovals(db: DbTx, tenantId: string, rolloutId: string) {
  return db.rolloutApproval.findMany({
    where: { tenantId, rolloutId },
    orderBy: [{ at: 'asc' }, { id: 'asc' }],
    select: { stepIndex: true, decision: true, principalId: true, name: true, role: true, comment: true, at: true },
  });
}

// ---- revisions of rollout steps ---------------------------------------------------------------------------

/** A new proposed revision (number = last + 1); the caller holds the tenant lock. */
export async function insertDerivedRevision(
  db: DbTx,
  r: { tenantId: string; parentId: string | null; graph: RouteGraph; graphHash: string; createdById: string; message: string },
): Promise<string> {
  // Raw SQL with the graph as JSON text: through the Prisma client, a 200-route graph's argument walk was a
  // visible share of a rollout step's CPU (bench/rollout-step.ts profile). Called under the tenant's publish
  // lock, so the next number is free.
  const rows = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO "Revision" ("id", "tenantId", "number", "parentId", "state", "message", "graph", "graphHash", "createdById", "createdAt")
    SELECT gen_random_uuid(), ${r.tenantId}::uuid, COALESCE(MAX("number"), 0) + 1, ${r.parentId}::uuid, 'proposed'::"RevisionState",
           ${r.message}, ${JSON.stringify(r.graph)}::jsonb, ${r.graphHash}, ${r.createdById}, now()
      FROM "Revision" WHERE "tenantId" = ${r.tenantId}::uuid
    RETURNING "id"`;
  return rows[0]!.id;
}

export async function findRevisionGraph(db: DbTx, tenantId: string, id: string): Promise<{ id: string; graph: unknown; createdById: string } | null> {
  if (!isUuid(id) || !isUuid(tenantId)) return null;
  const rows = await db.$queryRaw<{ id: string; graph: unknown; createdById: string }[]>`
    SELECT "id"::text AS "id", "graph", "createdById" FROM "Revision" WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid`;
  return rows[0] ?? null;
}

// ---- serving state ----------------------------------------------------------------------------------------

export interface ServingProxy {
  proxyId: string;
  nodeId: string;
  adminUrl: string | null;
  /** Types not yet ACKed at the version or a newer one. */
  pending: string[];
  nack: { typeUrl: string; error: string } | null;
}

/**
 * Per connected proxy of the node group: which of `typeUrls` are ACKed at `version` or at a snapshot of the
 * group stored after it (concurrent rollouts of other routes publish newer versions that still carry this
 * one's change, and a proxy may skip straight to them), and whether `version` was NACKed. Compared per type:
 * a proxy ACKs a snapshot's type version (typeVersions, keyed by type URL), not the snapshot version; rows
 * stored before type versions existed compare by snapshot version, as proxies ACKed then.
 */
export async function listServingState(
  db: DbTx,
  q: { tenantId: string; nodeGroup: string; version: string; typeUrls: readonly string[] },
): Promise<ServingProxy[]> {
  return (await listServingStates(db, { ...q, versions: [q.version] })).get(q.version) ?? [];
}

/** listServingState for several versions of one node group in one query (many rollouts waiting at once). */
export async function listServingStates(
  db: DbTx,
  q: { tenantId: string; nodeGroup: string; versions: readonly string[]; typeUrls: readonly string[] },
): Promise<Map<string, ServingProxy[]>> {
  const rows = await db.$queryRaw<
    { forVersion: string; proxyId: string; nodeId: string; metadata: unknown; typeUrl: string | null; atLeast: boolean | null; nacked: boolean | null; nackError: string | null }[]
  >`
    WITH mine AS (
      SELECT v."version", s."createdAt", s."typeVersions"
        FROM unnest(${[...new Set(q.versions)]}::text[]) AS v("version")
        LEFT JOIN "Snapshot" s ON s."tenantId" = ${q.tenantId}::uuid AND s."nodeGroup" = ${q.nodeGroup} AND s."version" = v."version"),
    st AS (
      SELECT mine."version" AS "forVersion", p."id" AS "proxyId", p."tenantId", p."nodeId", p."metadata", mine."createdAt",
             r."typeUrl", r."ackedVersion", r."sentVersion", r."sentNonce", r."nackVersion", r."nackNonce", r."nackError",
             COALESCE(mine."typeVersions"->>r."typeUrl", mine."version") AS "want"
        FROM mine
       CROSS JOIN "Proxy" p
        LEFT JOIN "ProxyResourceState" r ON r."proxyId" = p."id" AND r."typeUrl" = ANY(${[...q.typeUrls]}::text[])
       WHERE p."tenantId" = ${q.tenantId}::uuid AND p."nodeGroup" = ${q.nodeGroup} AND p."connected")
    SELECT st."forVersion", st."proxyId"::text AS "proxyId", st."nodeId", st."metadata", st."typeUrl",
           (st."ackedVersion" = st."want" OR EXISTS (
              SELECT 1 FROM "Snapshot" s
               WHERE s."tenantId" = st."tenantId" AND s."nodeGroup" = ${q.nodeGroup}
                 AND COALESCE(s."typeVersions"->>st."typeUrl", s."version") = st."ackedVersion"
                 AND s."createdAt" > st."createdAt")) AS "atLeast",
           (st."nackError" IS NOT NULL AND (st."nackVersion" = st."want"
              OR (st."nackNonce" = st."sentNonce" AND st."sentVersion" = st."want"))) AS "nacked",
           st."nackError"
      FROM st
     ORDER BY st."forVersion", st."nodeId"`;
  const out = new Map<string, ServingProxy[]>();
  const byProxy = new Map<string, ServingProxy & { acked: Set<string> }>();
  for (const row of rows) {
    const key = `${row.forVersion}\u0000${row.proxyId}`;
    let p = byProxy.get(key);
    if (!p) {
      const meta = row.metadata as { admin_url?: unknown } | null;
      p = { proxyId: row.proxyId, nodeId: row.nodeId, adminUrl: typeof meta?.admin_url === 'string' ? meta.admin_url : null, pending: [], nack: null, acked: new Set() };
      byProxy.set(key, p);
    }
    if (row.typeUrl === null) continue;
    if (row.atLeast) p.acked.add(row.typeUrl);
    else if (row.nacked && !p.nack) p.nack = { typeUrl: row.typeUrl, error: row.nackError ?? '' };
  }
  for (const v of q.versions) out.set(v, []);
  for (const [key, { acked, ...p }] of byProxy) {
    out.get(key.split('\u0000')[0]!)?.push({ ...p, pending: q.typeUrls.filter((t) => !acked.has(t)) });
  }
  return out;
}

/**
 * The revision of the newest publish that carried `change` of the rollout (its `revision.publish` audit entry
 * lists the rollout steps it published), or null: what a retried step whose first attempt published finds.
 */
export async function findRolloutChangeRevision(db: DbTx, q: { tenantId: string; rolloutId: string; change: string }): Promise<string | null> {
  const rows = await db.$queryRaw<{ targetId: string }[]>`
    SELECT "targetId" FROM "AuditEntry"
     WHERE "tenantId" = ${q.tenantId}::uuid AND "action" = 'revision.publish'
       AND "details"->'rollouts' @> ${JSON.stringify([{ rolloutId: q.rolloutId, change: q.change }])}::jsonb
     ORDER BY "seq" DESC LIMIT 1`;
  return rows[0]?.targetId ?? null;
}

/** Admin URLs (node metadata `admin_url`) of the connected proxies of the node groups (none given: all). */
export async function listProxyAdminUrls(db: Db, tenantId: string, nodeGroups: readonly string[]): Promise<{ nodeId: string; adminUrl: string | null }[]> {
  const rows = await db.proxy.findMany({
    where: { tenantId, ...(nodeGroups.length > 0 ? { nodeGroup: { in: [...nodeGroups] } } : {}), connected: true },
    select: { nodeId: true, metadata: true },
    orderBy: { nodeId: 'asc' },
  });
  return rows.map((r) => {
    const meta = r.metadata as { admin_url?: unknown } | null;
    return { nodeId: r.nodeId, adminUrl: typeof meta?.admin_url === 'string' ? meta.admin_url : null };
  });
}
