/**
 * Revision approvals (prisma/revision-approval.prisma), and who counts as a revision's author: the id it
 * was created by, and when that id is one of the tenant's API tokens, the token's owner (a token acts for a
 * person; separation of duties is between people).
 */
import type { PolicyReason } from '../../core/policy/admission';
import type { Prisma } from './generated/client';
import { isUuid, type DbTx } from './tx';

export interface RevisionApprovalRow {
  id: string;
  revisionId: string;
  userId: string;
  name: string;
  role: string;
  comment: string;
  reasons: PolicyReason[];
  at: Date;
}

const SELECT = { id: true, revisionId: true, userId: true, name: true, role: true, comment: true, reasons: true, at: true } as const;

/** Inserts the approval; a member approving the same revision again keeps the first approval (returned). */
export async function insertRevisionApproval(
  db: DbTx,
  a: { tenantId: string; revisionId: string; userId: string; name: string; role: string; comment: string; reasons: PolicyReason[] },
): Promise<{ approval: RevisionApprovalRow; created: boolean }> {
  const { count } = await db.revisionApproval.createMany({ data: [{ ...a, reasons: a.reasons as unknown as Prisma.InputJsonValue }], skipDuplicates: true });
  const row = await db.revisionApproval.findFirstOrThrow({ where: { tenantId: a.tenantId, revisionId: a.revisionId, userId: a.userId }, select: SELECT });
  return { approval: { ...row, reasons: row.reasons as unknown as PolicyReason[] }, created: count === 1 };
}

export async function listRevisionApprovals(db: DbTx, tenantId: string, revisionId: string): Promise<RevisionApprovalRow[]> {
  const rows = await db.revisionApproval.findMany({ where: { tenantId, revisionId }, orderBy: [{ at: 'asc' }, { id: 'asc' }], select: SELECT });
  return rows.map((r) => ({ ...r, reasons: r.reasons as unknown as PolicyReason[] }));
}

/** The user ids behind a revision's `createdById`: itself, plus the owner when it is an API token of the tenant. */
export async function revisionAuthorUserIds(db: DbTx, tenantId: string, createdById: string): Promise<Set<string>> {
  const ids = new Set([createdById]);
  if (isUuid(createdById)) {
    const token = await db.apiToken.findFirst({ where: { tenantId, id: createdById }, select: { userId: true } });
    if (token) ids.add(token.userId);
  }
  return ids;
}
