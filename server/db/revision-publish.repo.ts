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
 * Returns the tenant's current live revision id, or null when the tenant does not exist.
 */
export async function lockTenantForPublish(db: DbTx, tenantId: string): Promise<{ liveRevisionId: string | null } | null> {
  if (!isUuid(tenantId)) return null;
  const rows = await db.$queryRaw<{ liveRevisionId: string | null }[]>`
    SELECT "liveRevisionId"::text AS "liveRevisionId" FROM "Tenant" WHERE "id" = ${tenantId}::uuid FOR NO KEY UPDATE`;
  return rows[0] ?? null;
}

export async function findRevisionToPublish(db: DbTx, tenantId: string, revisionId: string): Promise<RevisionToPublish | null> {
  if (!isUuid(revisionId)) return null;
  return db.revision.findFirst({
    where: { id: revisionId, tenantId },
    select: { id: true, number: true, state: true, graph: true },
  });
}

/** Makes `revisionId` the tenant's live revision; any other live revision of the tenant becomes superseded. */
export async function markRevisionLive(db: DbTx, tenantId: string, revisionId: string): Promise<void> {
  await db.revision.updateMany({
    where: { tenantId, state: 'live', id: { not: revisionId } },
    data: { state: 'superseded' },
  });
  await db.revision.update({ where: { id: revisionId }, data: { state: 'live' } });
  await db.tenant.update({ where: { id: tenantId }, data: { liveRevisionId: revisionId } });
}
