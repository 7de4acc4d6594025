/**
 * Tenant membership management (admins): add a user with a role (creating the user when new), change a
 * role, remove a member. A tenant always keeps at least one admin.
 */
import { appendAudit } from '../audit/audit.service';
import { hashPassword } from '../auth/password';
import type { Role } from '../auth/permissions';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import { revokeApiTokensOfUserInTenant } from '../db/api-token.repo';
import {
  addMember,
  countAdmins,
  findMember,
  findMemberByUser,
  listMembers,
  lockMemberships,
  removeMember,
  updateMemberRole,
  type Member,
} from '../db/membership.repo';
import { deleteSessionsOfUserInTenant } from '../db/session.repo';
import { inTransaction, isUniqueViolation, type DbTx } from '../db/tx';
import { createUser, findUserByUsername } from '../db/user.repo';
import { AppError, conflict, notFound } from '../errors';

export interface MemberView {
  id: string;
  role: Role;
  createdAt: string;
  user: { id: string; username: string; displayName: string; disabled: boolean };
}

export function toMemberView(m: Member): MemberView {
  return {
    id: m.id,
    role: m.role,
    createdAt: m.createdAt.toISOString(),
    user: { id: m.user.id, username: m.user.username, displayName: m.user.displayName, disabled: m.user.disabled },
  };
}

export async function listTenantMembers(db: DbTx, principal: Principal): Promise<MemberView[]> {
  requirePermission(principal, 'members.read');
  return (await listMembers(db, principal.tenant.id)).map(toMemberView);
}

export interface AddMemberInput {
  username: string;
  role: Role;
  /** Only for a new user (required then); an existing user keeps their password. */
  password?: string;
  displayName?: string;
}

export async function addTenantMember(db: DbTx, principal: Principal, input: AddMemberInput): Promise<{ member: MemberView; userCreated: boolean }> {
  requirePermission(principal, 'members.manage');
  const tenantId = principal.tenant.id;
  const existing = await findUserByUsername(db, input.username);
  if (existing && input.password !== undefined) {
    throw conflict(`user "${input.username}" already exists; leave out password (and displayName) to add them`);
  }
  if (!existing && input.password === undefined) {
    throw new AppError('bad_request', `user "${input.username}" does not exist yet; give a password to create them`, [
      { path: 'password', message: 'required to create a new user' },
    ]);
  }
  const passwordHash = input.password === undefined ? undefined : await hashPassword(input.password);
  try {
    return await inTransaction(db, async (tx) => {
      await lockMemberships(tx, tenantId);
      const actor = auditActorOf(principal);
      let user = existing;
      if (!user) {
        user = await createUser(tx, { username: input.username, displayName: input.displayName ?? input.username, passwordHash: passwordHash! });
        await appendAudit(tx, {
          tenantId,
          actor,
          action: 'user.create',
          target: { type: 'user', id: user.id },
          details: { username: user.username, displayName: user.displayName },
        });
      }
      if (await findMemberByUser(tx, tenantId, user.id)) throw conflict(`user "${user.username}" is already a member of this tenant`);
      const member = await addMember(tx, tenantId, user.id, input.role);
      await appendAudit(tx, {
        tenantId,
        actor,
        action: 'member.add',
        target: { type: 'membership', id: member.id },
        after: toMemberView(member),
        details: { userId: user.id, username: user.username, role: member.role },
      });
      return { member: toMemberView(member), userCreated: !existing };
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict(`user "${input.username}" was just created or added by someone else; try again`);
    throw err;
  }
}

async function ensureAnotherAdmin(tx: DbTx, tenantId: string, member: Member): Promise<void> {
  if (member.role === 'admin' && (await countAdmins(tx, tenantId)) <= 1) {
    throw conflict('this is the last admin of the tenant; make someone else admin first');
  }
}

export async function changeMemberRole(db: DbTx, principal: Principal, id: string, role: Role): Promise<MemberView> {
  requirePermission(principal, 'members.manage');
  const tenantId = principal.tenant.id;
  return inTransaction(db, async (tx) => {
    await lockMemberships(tx, tenantId);
    const before = await findMember(tx, tenantId, id);
    if (!before) throw notFound('member');
    if (before.role === role) return toMemberView(before);
    if (role !== 'admin') await ensureAnotherAdmin(tx, tenantId, before);
    const after = await updateMemberRole(tx, tenantId, id, role);
    if (!after) throw notFound('member');
    await appendAudit(tx, {
      tenantId,
      actor: auditActorOf(principal),
      action: 'member.update',
      target: { type: 'membership', id },
      before: toMemberView(before),
      after: toMemberView(after),
      details: { userId: after.user.id, username: after.user.username, fromRole: before.role, toRole: after.role },
    });
    return toMemberView(after);
  });
}

/** Removes the membership, ends the user's sessions in this tenant and revokes their tokens here. */
export async function removeTenantMember(db: DbTx, principal: Principal, id: string, now = new Date()): Promise<void> {
  requirePermission(principal, 'members.manage');
  const tenantId = principal.tenant.id;
  await inTransaction(db, async (tx) => {
    await lockMemberships(tx, tenantId);
    const before = await findMember(tx, tenantId, id);
    if (!before) throw notFound('member');
    await ensureAnotherAdmin(tx, tenantId, before);
    await removeMember(tx, tenantId, id);
    const sessions = await deleteSessionsOfUserInTenant(tx, tenantId, before.user.id);
    const tokens = await revokeApiTokensOfUserInTenant(tx, tenantId, before.user.id, now);
    await appendAudit(tx, {
      tenantId,
      actor: auditActorOf(principal),
      action: 'member.remove',
      target: { type: 'membership', id },
      before: toMemberView(before),
      details: { userId: before.user.id, username: before.user.username, role: before.role, sessionsEnded: sessions, tokensRevoked: tokens },
    });
  });
}
