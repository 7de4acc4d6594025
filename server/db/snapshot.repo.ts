/**
 * Published xDS snapshots (one row per tenant, node group and content version) and the NOTIFY that tells
 * xds replicas about a new one.
 *
 * "Latest" is by createdAt. Snapshots are content-addressed, so publishing content that an older row
 * already holds (A → B → A) does not insert: it moves that row forward (createdAt = now, revisionId = the
 * revision now live), which makes it the latest again.
 */
import { emptyResources, PUSH_ORDER, type SnapshotResources } from '../../core/xds/snapshot';
import type { Prisma } from './generated/client';
import type { DbTx } from './tx';

/** PostgreSQL LISTEN/NOTIFY channel; payload: JSON SnapshotNotification. */
export const SNAPSHOT_CHANNEL = 'proxyshard_snapshots';

export interface SnapshotNotification {
  tenantId: string;
  nodeGroup: string;
  version: string;
}

export interface StoredSnapshot {
  id: string;
  tenantId: string;
  nodeGroup: string;
  version: string;
  revisionId: string;
  resources: SnapshotResources;
  createdAt: Date;
}

interface SnapshotRow {
  id: string;
  tenantId: string;
  nodeGroup: string;
  version: string;
  revisionId: string;
  resources: unknown;
  createdAt: Date;
}

/** The stored JSON as SnapshotResources; throws when it is not shaped like one. */
export function parseSnapshotResources(json: unknown): SnapshotResources {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('snapshot resources are not an object');
  const out = emptyResources();
  for (const kind of PUSH_ORDER) {
    const list = (json as Record<string, unknown>)[kind];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.some((r) => typeof r !== 'object' || r === null || typeof (r as Record<string, unknown>)['@type'] !== 'string')) {
      throw new Error(`snapshot resources.${kind} must be an array of objects with "@type"`);
    }
    out[kind] = list as SnapshotResources[typeof kind];
  }
  return out;
}

function toStored(row: SnapshotRow): StoredSnapshot {
  return { ...row, resources: parseSnapshotResources(row.resources) };
}

export async function findLatestSnapshot(db: DbTx, tenantId: string, nodeGroup: string): Promise<StoredSnapshot | null> {
  const row = await db.snapshot.findFirst({
    where: { tenantId, nodeGroup },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
  });
  return row && toStored(row);
}

/** Versions of the latest snapshot per node group of a tenant (no resources). */
export async function listLatestSnapshotVersions(
  db: DbTx,
  tenantId: string,
): Promise<{ nodeGroup: string; version: string; empty: boolean }[]> {
  return db.$queryRaw<{ nodeGroup: string; version: string; empty: boolean }[]>`
    SELECT DISTINCT ON ("nodeGroup") "nodeGroup", "version",
           (COALESCE(jsonb_array_length("resources"->'listeners'), 0) + COALESCE(jsonb_array_length("resources"->'clusters'), 0)) = 0 AS "empty"
      FROM "Snapshot"
     WHERE "tenantId" = ${tenantId}::uuid
     ORDER BY "nodeGroup", "createdAt" DESC, "id" DESC`;
}

/** The latest snapshot of every (tenant, node group): what an xds replica serves after a start. */
export async function listLatestSnapshots(db: DbTx): Promise<StoredSnapshot[]> {
  const rows = await db.$queryRaw<SnapshotRow[]>`
    SELECT DISTINCT ON ("tenantId", "nodeGroup")
           "id", "tenantId", "nodeGroup", "version", "revisionId", "resources", "createdAt"
      FROM "Snapshot"
     ORDER BY "tenantId", "nodeGroup", "createdAt" DESC, "id" DESC`;
  return rows.map(toStored);
}

/**
 * Makes `version` the latest snapshot of (tenant, node group). No write when it already is the latest
 * (`changed: false`); an older row with the same content is moved forward instead of duplicated.
 */
export async function saveSnapshot(
  db: DbTx,
  input: { tenantId: string; nodeGroup: string; version: string; revisionId: string; resources: SnapshotResources },
): Promise<{ changed: boolean }> {
  const latest = await db.snapshot.findFirst({
    where: { tenantId: input.tenantId, nodeGroup: input.nodeGroup },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    select: { version: true },
  });
  if (latest?.version === input.version) return { changed: false };
  const now = new Date();
  await db.snapshot.upsert({
    where: { tenantId_nodeGroup_version: { tenantId: input.tenantId, nodeGroup: input.nodeGroup, version: input.version } },
    update: { createdAt: now, revisionId: input.revisionId },
    create: {
      tenantId: input.tenantId,
      nodeGroup: input.nodeGroup,
      version: input.version,
      revisionId: input.revisionId,
      resources: input.resources as unknown as Prisma.InputJsonValue,
      createdAt: now,
    },
  });
  return { changed: true };
}

/** NOTIFY on SNAPSHOT_CHANNEL; inside a transaction it is delivered at commit (and dropped on rollback). */
export async function notifySnapshotChanged(db: DbTx, payload: SnapshotNotification): Promise<void> {
  await db.$executeRaw`SELECT pg_notify(${SNAPSHOT_CHANNEL}, ${JSON.stringify(payload)})`;
}

/** One stored snapshot by its content version (what a proxy was sent), or null. */
export async function findSnapshotByVersion(
  db: DbTx,
  tenantId: string,
  nodeGroup: string,
  version: string,
): Promise<StoredSnapshot | null> {
  const row = await db.snapshot.findUnique({ where: { tenantId_nodeGroup_version: { tenantId, nodeGroup, version } } });
  return row && toStored(row);
}
