import type { Json } from '../audit/canonical-json';
import type { Prisma } from './generated/client';
import { isClient, type DbTx, type Tx } from './tx';

/** One row of the append-only, hash-chained audit log of a tenant. */
export interface AuditEntry {
  tenantId: string;
  seq: number;
  at: Date;
  actorType: string;
  actorId: string;
  actorName: string;
  action: string;
  targetType: string;
  targetId: string;
  beforeDigest: string | null;
  afterDigest: string | null;
  details: Json;
  prevHash: string;
  hash: string;
}

const select = {
  tenantId: true,
  seq: true,
  at: true,
  actorType: true,
  actorId: true,
  actorName: true,
  action: true,
  targetType: true,
  targetId: true,
  beforeDigest: true,
  afterDigest: true,
  details: true,
  prevHash: true,
  hash: true,
} as const;

function toEntry(row: Prisma.AuditEntryGetPayload<{ select: typeof select }>): AuditEntry {
  return { ...row, details: row.details as Json };
}

/** Advisory-lock namespace for audit chains ("AUDT"); the second key is hashtext(tenantId). */
const AUDIT_LOCK_NAMESPACE = 0x41554454;

/** Chains each open transaction already locked (a transaction-scoped lock is held until it ends). */
const lockedChains = new WeakMap<Tx, Set<string>>();

/**
 * Serialises appends to one tenant's chain until the surrounding transaction ends. Taking it again in the
 * same transaction (a service that audits inside a caller that locked first) costs no round trip.
 */
export async function lockAuditChain(tx: Tx, tenantId: string): Promise<void> {
  if (lockedChains.get(tx)?.has(tenantId)) return;
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${AUDIT_LOCK_NAMESPACE}::int4, hashtext(${tenantId}::text))`;
  if (isClient(tx)) return; // not a transaction: nothing is held
  let chains = lockedChains.get(tx);
  if (!chains) lockedChains.set(tx, (chains = new Set()));
  chains.add(tenantId);
}

/** The newest entry's seq and hash, or null for an empty chain. */
export async function findAuditHead(db: DbTx, tenantId: string): Promise<{ seq: number; hash: string } | null> {
  // Raw SQL, like the inserts below: every audited transition reads the head (bench/rollout-step.ts).
  const rows = await db.$queryRaw<{ seq: number; hash: string }[]>`
    SELECT "seq", "hash" FROM "AuditEntry" WHERE "tenantId" = ${tenantId}::uuid ORDER BY "seq" DESC LIMIT 1`;
  return rows[0] ?? null;
}

/** Inserts one entry; returns it as stored (the columns are the entry's own values). */
export async function insertAuditEntry(tx: Tx, entry: AuditEntry): Promise<AuditEntry> {
  await insertAuditEntries(tx, [entry]);
  return entry;
}

/**
 * Inserts consecutive entries of one chain in one statement, in raw SQL with the rows as one JSON parameter:
 * through the Prisma client the argument walk of the entries' details was a visible share of a rollout
 * step's CPU (bench/rollout-step.ts profile).
 */
export async function insertAuditEntries(tx: Tx, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const rows = entries.map((e) => ({ ...e, at: e.at.toISOString() }));
  await tx.$executeRaw`
    INSERT INTO "AuditEntry" ("tenantId", "seq", "at", "actorType", "actorId", "actorName", "action", "targetType", "targetId",
                              "beforeDigest", "afterDigest", "details", "prevHash", "hash")
    SELECT e."tenantId", e."seq", e."at", e."actorType", e."actorId", e."actorName", e."action", e."targetType", e."targetId",
           e."beforeDigest", e."afterDigest", e."details", e."prevHash", e."hash"
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS e("tenantId" uuid, "seq" int, "at" timestamptz, "actorType" text, "actorId" text,
           "actorName" text, "action" text, "targetType" text, "targetId" text, "beforeDigest" text, "afterDigest" text, "details" jsonb,
           "prevHash" text, "hash" text)`;
}

export interface AuditFilter {
  action?: string;
  /** Matches the actor's id or name. */
  actor?: string;
  targetType?: string;
  targetId?: string;
  /** Text anywhere in the action, actor name, target type or target id (case-insensitive). */
  search?: string;
  /** Only entries with a smaller seq (the cursor of the previous page). */
  beforeSeq?: number;
  limit: number;
}

/** Entries newest first, at most `limit`. */
export async function listAuditEntries(db: DbTx, tenantId: string, filter: AuditFilter): Promise<AuditEntry[]> {
  const search = filter.search === undefined ? undefined : { contains: filter.search, mode: 'insensitive' as const };
  const rows = await db.auditEntry.findMany({
    where: {
      tenantId,
      ...(filter.action !== undefined ? { action: filter.action } : {}),
      ...(filter.actor !== undefined ? { OR: [{ actorId: filter.actor }, { actorName: filter.actor }] } : {}),
      ...(filter.targetType !== undefined ? { targetType: filter.targetType } : {}),
      ...(filter.targetId !== undefined ? { targetId: filter.targetId } : {}),
      ...(search !== undefined ? { AND: [{ OR: [{ action: search }, { actorName: search }, { targetType: search }, { targetId: search }] }] } : {}),
      ...(filter.beforeSeq !== undefined ? { seq: { lt: filter.beforeSeq } } : {}),
    },
    orderBy: { seq: 'desc' },
    take: filter.limit,
    select,
  });
  return rows.map(toEntry);
}

/** Entries with seq > afterSeq in ascending order, at most `limit` (for walking the chain). */
export async function readAuditEntriesAfter(db: DbTx, tenantId: string, afterSeq: number, limit: number): Promise<AuditEntry[]> {
  const rows = await db.auditEntry.findMany({ where: { tenantId, seq: { gt: afterSeq } }, orderBy: { seq: 'asc' }, take: limit, select });
  return rows.map(toEntry);
}

export async function countAuditEntries(db: DbTx, tenantId: string): Promise<number> {
  return db.auditEntry.count({ where: { tenantId } });
}
