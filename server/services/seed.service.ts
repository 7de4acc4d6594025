/**
 * The demo tenant and its first admin, for `npm start` on a fresh database. Idempotent: a second call finds
 * both and changes nothing. The generated password is returned only by the call that created the user, so
 * the start script can print it once.
 */
import { randomBytes } from 'node:crypto';
import { appendAudit } from '../audit/audit.service';
import { hashPassword } from '../auth/password';
import type { Db } from '../db/client';
import { addMember, findMemberByUser } from '../db/membership.repo';
import { createTenant, findTenantBySlug, type Tenant } from '../db/tenant.repo';
import { inTransaction, isUniqueViolation } from '../db/tx';
import { createUser, findUserByUsername, setPasswordHash } from '../db/user.repo';
import { deleteSessionsOfUser } from '../db/session.repo';
import { listTenantsOfUser } from '../db/membership.repo';

export const DEMO_TENANT_SLUG = 'demo';
export const DEMO_ADMIN_USERNAME = 'admin';

const SYSTEM_ACTOR = { type: 'system', id: 'seed', name: 'seed' } as const;

export async function ensureDemoTenantAndAdmin(db: Db): Promise<{ tenant: Tenant; admin: { username: string; password?: string } }> {
  try {
    return await seedOnce(db);
  } catch (err) {
    // Two processes seeding at once: the loser finds what the winner created.
    if (isUniqueViolation(err)) return seedOnce(db);
    throw err;
  }
}

async function seedOnce(db: Db): Promise<{ tenant: Tenant; admin: { username: string; password?: string } }> {
  const existingUser = await findUserByUsername(db, DEMO_ADMIN_USERNAME);
  const password = existingUser ? undefined : randomBytes(12).toString('base64url');
  const passwordHash = password === undefined ? undefined : await hashPassword(password);
  return inTransaction(db, async (tx) => {
    let tenant = await findTenantBySlug(tx, DEMO_TENANT_SLUG);
    if (!tenant) {
      tenant = await createTenant(tx, { slug: DEMO_TENANT_SLUG, name: 'Demo' });
      await appendAudit(tx, { tenantId: tenant.id, actor: SYSTEM_ACTOR, action: 'tenant.create', target: { type: 'tenant', id: tenant.id }, details: { slug: tenant.slug } });
    }
    let user = existingUser ?? (await findUserByUsername(tx, DEMO_ADMIN_USERNAME));
    let created = false;
    if (!user) {
      user = await createUser(tx, { username: DEMO_ADMIN_USERNAME, displayName: 'Administrator', passwordHash: passwordHash! });
      created = true;
      await appendAudit(tx, { tenantId: tenant.id, actor: SYSTEM_ACTOR, action: 'user.create', target: { type: 'user', id: user.id }, details: { username: user.username } });
    }
    if (!(await findMemberByUser(tx, tenant.id, user.id))) {
      const member = await addMember(tx, tenant.id, user.id, 'admin');
      await appendAudit(tx, {
        tenantId: tenant.id,
        actor: SYSTEM_ACTOR,
        action: 'member.add',
        target: { type: 'membership', id: member.id },
        details: { userId: user.id, username: user.username, role: 'admin' },
      });
    }
    return { tenant, admin: created ? { username: user.username, password } : { username: user.username } };
  });
}

/**
 * Operator recovery on the machine itself (`npm run db -- reset-password <username>`): a new random password,
 * every session of the user ended, audited in each of the user's tenants. Returns the new password.
 */
export async function resetPasswordLocally(db: Db, username: string): Promise<string> {
  const user = await findUserByUsername(db, username);
  if (!user) throw new Error(`no user named "${username}"`);
  const password = randomBytes(12).toString('base64url');
  const passwordHash = await hashPassword(password);
  await inTransaction(db, async (tx) => {
    await setPasswordHash(tx, user.id, passwordHash);
    const ended = await deleteSessionsOfUser(tx, user.id);
    for (const { tenant } of await listTenantsOfUser(tx, user.id)) {
      await appendAudit(tx, {
        tenantId: tenant.id,
        actor: { type: 'system', id: 'reset-password', name: 'local password reset' },
        action: 'user.password_reset',
        target: { type: 'user', id: user.id },
        details: { username: user.username, sessionsEnded: ended },
      });
    }
  });
  return password;
}
