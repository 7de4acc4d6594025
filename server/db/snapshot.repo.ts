/**
 * Published xDS snapshots (one row per tenant, node group and content version) and the NOTIFY that tells
 * xds replicas about a new one.
 *
 * "Latest" is by createdAt. Snapshots are content-addressed, so publishing content that an older row
 * already holds (A → B → A) does not insert: it moves that row forward (createdAt = now, revisionId = the
 * revision now live), which makes it the latest again.
 */
import {
  emptyResources,
  PUSH_ORDER,
  snapshotVersions,
  TYPE_URL,
  typeVersionsByUrl,
  type SnapshotResources,
  type TypeVersions,
} from '../../core/xds/snapshot';
import { sqlOf, type Sql } from './sql';
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
  /** Per type, the version its responses carry (core/xds/snapshot.ts TypeVersions). */
  typeVersions: TypeVersions;
  /**
   * False for a row stored before type versions existed: `typeVersions` was computed from its resources
   * (the xds process writes them back, see saveSnapshotTypeVersions).
   */
  typeVersionsStored: boolean;
  revisionId: string;
  resources: SnapshotResources;
  createdAt: Date;
}

interface SnapshotRow {
  id: string;
  tenantId: string;
  nodeGroup: string;
  version: string;
  typeVersions: unknown;
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

/**
 * The stored `typeVersions` (type URL → version) as TypeVersions, or undefined when the row has none (stored
 * before type versions existed: consumers in SQL fall back to the snapshot version, see rollout.repo.ts).
 */
export function parseTypeVersions(json: unknown): TypeVersions | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const out = {} as TypeVersions;
  for (const kind of PUSH_ORDER) {
    const v = (json as Record<string, unknown>)[TYPE_URL[kind]];
    if (typeof v !== 'string' || v === '') return undefined;
    out[kind] = v;
  }
  return out;
}

function toStored(row: SnapshotRow): StoredSnapshot {
  const resources = parseSnapshotResources(row.resources);
  const stored = parseTypeVersions(row.typeVersions);
  return {
    ...row,
    resources,
    typeVersions: stored ?? snapshotVersions(resources).typeVersions,
    typeVersionsStored: stored !== undefined,
  };
}

/** The latest snapshot of (tenant, node group). `db` may be a Sql runner (the xds process reloads on its own pg pool). */
export async function findLatestSnapshot(db: DbTx | Sql, tenantId: string, nodeGroup: string): Promise<StoredSnapshot | null> {
  const rows = await sqlOf(db)<Omit<SnapshotRow, 'createdAt'> & { createdAtMs: number | string }>(
    `SELECT "id", "tenantId", "nodeGroup", "version", "typeVersions", "revisionId", "resources",
            (extract(epoch FROM "createdAt") * 1000)::float8 AS "createdAtMs"
       FROM "Snapshot"
      WHERE "tenantId" = $1::uuid AND "nodeGroup" = $2
      ORDER BY "createdAt" DESC, "id" DESC
      LIMIT 1`,
    [tenantId, nodeGroup],
  );
  const row = rows[0];
  if (row === undefined) return null;
  const { createdAtMs, ...rest } = row;
  return toStored({ ...rest, createdAt: new Date(Number(createdAtMs)) });
}

/**
 * Versions of the latest snapshot per node group of a tenant (no resources). Only the latest rows' resources
 * are read (for `empty`), not those of every older snapshot of the tenant: this runs on every publish.
 */
export async function listLatestSnapshotVersions(
  db: DbTx,
  tenantId: string,
): Promise<{ nodeGroup: string; version: string; typeVersions: TypeVersions | undefined; empty: boolean }[]> {
  const rows = await db.$queryRaw<{ nodeGroup: string; version: string; typeVersions: unknown; empty: boolean }[]>`
    SELECT l."nodeGroup", l."version", l."typeVersions",
           (COALESCE(jsonb_array_length(s."resources"->'listeners'), 0) + COALESCE(jsonb_array_length(s."resources"->'clusters'), 0)) = 0 AS "empty"
      FROM (SELECT DISTINCT ON ("nodeGroup") "id", "nodeGroup", "version", "typeVersions"
              FROM "Snapshot"
             WHERE "tenantId" = ${tenantId}::uuid
             ORDER BY "nodeGroup", "createdAt" DESC, "id" DESC) l
      JOIN "Snapshot" s ON s."id" = l."id"`;
  return rows.map((r) => ({ ...r, typeVersions: parseTypeVersions(r.typeVersions) }));
}

/** The latest snapshot of every (tenant, node group): what an xds replica serves after a start. */
export async function listLatestSnapshots(db: DbTx): Promise<StoredSnapshot[]> {
  const rows = await db.$queryRaw<SnapshotRow[]>`
    SELECT DISTINCT ON ("tenantId", "nodeGroup")
           "id", "tenantId", "nodeGroup", "version", "typeVersions", "revisionId", "resources", "createdAt"
      FROM "Snapshot"
     ORDER BY "tenantId", "nodeGroup", "createdAt" DESC, "id" DESC`;
  return rows.map(toStored);
}

/**
 * Stores a snapshot unless it is already the latest of its node group; `changed` says whether it was stored
 * (or an older row with the same content moved forward, see the top of this file). One statement: it runs on
 * every publish, on the commit → ACK path.
 */
export async function saveSnapshot(
  db: DbTx,
  input: { tenantId: string; nodeGroup: string; version: string; typeVersions: TypeVersions; revisionId: string; resources: SnapshotResources },
): Promise<{ changed: boolean }> {
  const typeVersions = JSON.stringify(typeVersionsByUrl(input.typeVersions));
  const stored = await db.$executeRaw`
    WITH latest AS (
      SELECT "version" FROM "Snapshot"
       WHERE "tenantId" = ${input.tenantId}::uuid AND "nodeGroup" = ${input.nodeGroup}
       ORDER BY "createdAt" DESC, "id" DESC
       LIMIT 1
    )
    INSERT INTO "Snapshot" ("id", "tenantId", "nodeGroup", "version", "typeVersions", "revisionId", "resources", "createdAt")
    SELECT gen_random_uuid(), ${input.tenantId}::uuid, ${input.nodeGroup}, ${input.version}, ${typeVersions}::jsonb,
           ${input.revisionId}::uuid, ${JSON.stringify(input.resources)}::jsonb, ${new Date().toISOString()}::timestamptz
     WHERE NOT EXISTS (SELECT 1 FROM latest WHERE "version" = ${input.version})
    ON CONFLICT ("tenantId", "nodeGroup", "version") DO UPDATE
       SET "createdAt" = EXCLUDED."createdAt", "revisionId" = EXCLUDED."revisionId", "typeVersions" = EXCLUDED."typeVersions"`;
  return { changed: stored > 0 };
}

/**
 * Stores the type versions of a row written before they existed (derived from its content, so every replica
 * writes the same value; rows that have them are left alone).
 */
export async function saveSnapshotTypeVersions(db: DbTx, id: string, typeVersions: TypeVersions): Promise<void> {
  await db.snapshot.updateMany({ where: { id, typeVersions: { equals: {} } }, data: { typeVersions: typeVersionsByUrl(typeVersions) } });
}

/**
 * The latest stored snapshot of the node group whose `typeUrl` resources have type version `version` (what a
 * proxy was sent of that type), or null. Rows without type versions match on their snapshot version.
 */
export async function findSnapshotByTypeVersion(
  db: DbTx,
  q: { tenantId: string; nodeGroup: string; typeUrl: string; version: string },
): Promise<StoredSnapshot | null> {
  const rows = await db.$queryRaw<SnapshotRow[]>`
    SELECT "id", "tenantId", "nodeGroup", "version", "typeVersions", "revisionId", "resources", "createdAt"
      FROM "Snapshot"
     WHERE "tenantId" = ${q.tenantId}::uuid AND "nodeGroup" = ${q.nodeGroup}
       AND COALESCE("typeVersions"->>${q.typeUrl}, "version") = ${q.version}
     ORDER BY "createdAt" DESC, "id" DESC
     LIMIT 1`;
  return rows[0] === undefined ? null : toStored(rows[0]);
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
