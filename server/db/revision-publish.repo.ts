/**
 * The revision-state side of publishing: lock the tenant, load the revision's raw graph, move the live
 * pointer. (Reading revisions for the API lives in revision-read.repo.ts.)
 */
import type { DbTx } from './tx';
import { isUuid } from './tx';

export interface RevisionToPublish {
  id: string;
  number: number;
  state: 'draft' | 'proposed' | 'live' | 'superseded' | 'rejected';
  /** As stored; the caller validates it. */
  graph: unknown;
}

/**
 * Locks the tenant row until the transaction ends, so publishes of one tenant run one at a time.
 * NO KEY UPDATE, not UPDATE: inserts that reference the tenant (audit entries of other transactions) take
 * KEY SHARE on this row, and must not wait for a publish that itself waits for the audit chain's lock.
 * Returns the tenant's slug and current live revision id, or null when the tenant does not exist.
 */
export async function lockTenantForPublish(db: DbTx, tenantId: string): Promise<{ slug: string; liveRevisionId: string | null } | null> {
  if (!isUuid(tenantId)) return null;
  const rows = await db.$queryRaw<{ slug: string; liveRevisionId: string | null }[]>`
    SELECT "slug", "liveRevisionId"::text AS "liveRevisionId" FROM "Tenant" WHERE "id" = ${tenantId}::uuid FOR NO KEY UPDATE`;
  return rows[0] ?? null;
}

/**
 * lockTenantForPublish and the revision to publish (null when the tenant has no such revision) in one
 * statement: a publish does both first, on the commit → ACK path.
 */
export async function lockTenantWithRevision(
  db: DbTx,
  tenantId: string,
  revisionId: string,
): Promise<{ tenant: { slug: string; liveRevisionId: string | null }; revision: RevisionToPublish | null } | null> {
  if (!isUuid(tenantId)) return null;
  const rows = await db.$queryRaw<
    { slug: string; liveRevisionId: string | null; id: string | null; number: number | null; state: RevisionToPublish['state'] | null; graph: unknown }[]
  >`
    SELECT t."slug", t."liveRevisionId"::text AS "liveRevisionId",
           r."id"::text AS "id", r."number", r."state"::text AS "state", r."graph"
      FROM "Tenant" t
      LEFT JOIN "Revision" r ON r."id" = ${isUuid(revisionId) ? revisionId : null}::uuid AND r."tenantId" = t."id"
     WHERE t."id" = ${tenantId}::uuid
       FOR NO KEY UPDATE OF t`;
  const row = rows[0];
  if (row === undefined) return null;
  const { slug, liveRevisionId, id, number, state, graph } = row;
  return { tenant: { slug, liveRevisionId }, revision: id === null ? null : { id, number: number!, state: state!, graph } };
}

/**
 * Makes `revisionId` (a revision of the tenant) the tenant's live revision; any other live revision of the
 * tenant becomes superseded. One statement: it runs on every publish, on the commit → ACK path.
 */
export async function markRevisionLive(db: DbTx, tenantId: string, revisionId: string): Promise<void> {
  const updated = await db.$executeRaw`
    WITH superseded AS (
      UPDATE "Revision" SET "state" = 'superseded'
       WHERE "tenantId" = ${tenantId}::uuid AND "state" = 'live' AND "id" <> ${revisionId}::uuid
    ), live AS (
      UPDATE "Revision" SET "state" = 'live' WHERE "id" = ${revisionId}::uuid AND "tenantId" = ${tenantId}::uuid RETURNING "id"
    )
    UPDATE "Tenant" SET "liveRevisionId" = (SELECT "id" FROM live) WHERE "id" = ${tenantId}::uuid AND EXISTS (SELECT 1 FROM live)`;
  if (updated !== 1) throw new Error(`revision ${revisionId} of tenant ${tenantId} not found`);
}
