import type { Role } from '../auth/permissions';
import type { Tenant } from './tenant.repo';
import type { DbTx, Tx } from './tx';
import { isUuid } from './tx';
import type { User } from './user.repo';

/** A user's role in one tenant. `id` is the membership id used by /api/v1/members/[id]. */
export interface Member {
  id: string;
  tenantId: string;
  role: Role;
  createdAt: Date;
  user: User;
}

const userSelect = { id: true, username: true, displayName: true, createdAt: true, disabledAt: true } as const;
const select = { id: true, tenantId: true, role: true, createdAt: true, user: { select: userSelect } } as const;

type Row = {
  id: string;
  tenantId: string;
  role: Role;
  createdAt: Date;
  user: { id: string; username: string; displayName: string; createdAt: Date; disabledAt: Date | null };
};

function toMember(row: Row): Member {
  const { disabledAt, ...user } = row.user;
  return { id: row.id, tenantId: row.tenantId, role: row.role, createdAt: row.createdAt, user: { ...user, disabled: disabledAt !== null } };
}

export async function listMembers(db: DbTx, tenantId: string): Promise<Member[]> {
  const rows = await db.membership.findMany({ where: { tenantId }, select, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  return rows.map(toMember);
}

export async function findMember(db: DbTx, tenantId: string, id: string): Promise<Member | null> {
  if (!isUuid(id)) return null;
  const row = await db.membership.findFirst({ where: { id, tenantId }, select });
  return row && toMember(row);
}

export async function findMemberByUser(db: DbTx, tenantId: string, userId: string): Promise<Member | null> {
  if (!isUuid(userId) || !isUuid(tenantId)) return null;
  const row = await db.membership.findUnique({ where: { tenantId_userId: { tenantId, userId } }, select });
  return row && toMember(row);
}

export async function addMember(db: DbTx, tenantId: string, userId: string, role: Role): Promise<Member> {
  return toMember(await db.membership.create({ data: { tenantId, userId, role }, select }));
}

/** Returns the updated member, or null when no membership with that id exists in the tenant. */
export async function updateMemberRole(db: DbTx, tenantId: string, id: string, role: Role): Promise<Member | null> {
  if (!isUuid(id)) return null;
  const { count } = await db.membership.updateMany({ where: { id, tenantId }, data: { role } });
  return count === 0 ? null : findMember(db, tenantId, id);
}

export async function removeMember(db: DbTx, tenantId: string, id: string): Promise<boolean> {
  if (!isUuid(id)) return false;
  const { count } = await db.membership.deleteMany({ where: { id, tenantId } });
  return count > 0;
}

export async function countAdmins(db: DbTx, tenantId: string): Promise<number> {
  return db.membership.count({ where: { tenantId, role: 'admin' } });
}

/** The tenants a user belongs to, oldest membership first. */
export async function listTenantsOfUser(db: DbTx, userId: string): Promise<{ tenant: Tenant; role: Role }[]> {
  if (!isUuid(userId)) return [];
  const rows = await db.membership.findMany({
    where: { userId },
    select: { role: true, tenant: { select: { id: true, slug: true, name: true, createdAt: true, liveRevisionId: true } } },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  return rows.map((r) => ({ tenant: r.tenant, role: r.role }));
}

/** Advisory-lock namespace for membership changes ("MEMB"); the second key is hashtext(tenantId). */
const MEMBERSHIP_LOCK_NAMESPACE = 0x4d454d42;

/** Serialises membership changes in one tenant until the transaction ends (keeps the last-admin check honest). */
export async function lockMemberships(tx: Tx, tenantId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${MEMBERSHIP_LOCK_NAMESPACE}::int4, hashtext(${tenantId}::text))`;
}
