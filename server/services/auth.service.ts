/**
 * Sign-in, sign-out, "who am I" and tenant switching. Every outcome that matters is audited.
 */
import { appendAudit, type AuditActor } from '../audit/audit.service';
import { burnPasswordCheck, verifyPassword } from '../auth/password';
import { allowedActions, type Action, type Role } from '../auth/permissions';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import { newSessionToken } from '../auth/secrets';
import { findMemberByUser, listTenantsOfUser } from '../db/membership.repo';
import { createSession, deleteExpiredSessions, deleteSession, setSessionTenant } from '../db/session.repo';
import { findTenantById, findTenantBySlug, type Tenant } from '../db/tenant.repo';
import { inTransaction, type DbTx } from '../db/tx';
import { findUserCredentials, type User } from '../db/user.repo';
import { AppError, notFound } from '../errors';
import { getLogger } from '../log';

export interface SignInInput {
  username: string;
  password: string;
  /** Slug of the tenant to start in; default: the user's oldest membership. */
  tenant?: string;
}

export interface SignInResult {
  /** The cookie value; shown to nobody but the browser. */
  sessionToken: string;
  expiresAt: Date;
  user: User;
  tenant: Tenant;
  role: Role;
}

const INVALID_CREDENTIALS = 'wrong username or password';

/**
 * Checks the password and opens a session in one of the user's tenants. A failure is audited in the
 * tenants the attempt concerns (the requested one, else every tenant of the named user) and answers
 * `unauthenticated` with the same message whether or not the user exists.
 */
export async function signIn(db: DbTx, input: SignInInput, opts: { ttlHours: number; now?: Date }): Promise<SignInResult> {
  const now = opts.now ?? new Date();
  const creds = await findUserCredentials(db, input.username);
  const passwordOk = creds ? await verifyPassword(creds.passwordHash, input.password) : (await burnPasswordCheck(input.password), false);
  const memberships = creds ? await listTenantsOfUser(db, creds.user.id) : [];
  const requested = input.tenant === undefined ? undefined : await findTenantBySlug(db, input.tenant);
  const chosen = input.tenant === undefined ? memberships[0] : memberships.find((m) => m.tenant.id === requested?.id);

  if (!creds || !passwordOk || creds.user.disabled || !chosen) {
    const reason = !creds ? 'unknown_user' : !passwordOk ? 'wrong_password' : creds.user.disabled ? 'user_disabled' : 'not_a_member';
    const actor: AuditActor = { type: 'user', id: creds?.user.id ?? 'unknown', name: input.username.slice(0, 128) };
    const tenantIds = requested ? [requested.id] : memberships.map((m) => m.tenant.id);
    // Also logged: an unknown username in no tenant has no audit log to go to.
    getLogger().info({ username: input.username.slice(0, 128), reason, auditedIn: tenantIds.length }, 'sign-in failed');
    for (const tenantId of tenantIds) {
      await appendAudit(db, {
        tenantId,
        actor,
        action: 'auth.sign_in_failed',
        target: { type: 'user', id: creds?.user.id ?? 'unknown' },
        details: { reason, username: input.username.slice(0, 128) },
      });
    }
    throw new AppError('unauthenticated', INVALID_CREDENTIALS);
  }

  const { token, id } = newSessionToken();
  const expiresAt = new Date(now.getTime() + opts.ttlHours * 3_600_000);
  await deleteExpiredSessions(db, now); // housekeeping: sign-ins are rare enough to pay for it
  await inTransaction(db, async (tx) => {
    await createSession(tx, { id, userId: creds.user.id, tenantId: chosen.tenant.id, expiresAt });
    await appendAudit(tx, {
      tenantId: chosen.tenant.id,
      actor: { type: 'user', id: creds.user.id, name: creds.user.username },
      action: 'auth.sign_in',
      target: { type: 'user', id: creds.user.id },
      details: { expiresAt: expiresAt.toISOString() },
    });
  });
  return { sessionToken: token, expiresAt, user: creds.user, tenant: chosen.tenant, role: chosen.role };
}

/** Ends the principal's session (a token principal has no session: nothing to end). */
export async function signOut(db: DbTx, principal: Principal | null): Promise<void> {
  if (!principal || principal.via !== 'session') return;
  const { sessionId } = principal;
  await inTransaction(db, async (tx) => {
    if (!(await deleteSession(tx, sessionId))) return;
    await appendAudit(tx, {
      tenantId: principal.tenant.id,
      actor: auditActorOf(principal),
      action: 'auth.sign_out',
      target: { type: 'user', id: principal.user.id },
    });
  });
}

export interface MeView {
  user: { id: string; username: string; displayName: string };
  tenant: { id: string; slug: string; name: string };
  role: Role;
  via: 'session' | 'token';
  tenants: { id: string; slug: string; name: string; role: Role; current: boolean }[];
  permissions: Action[];
}

export async function describeMe(db: DbTx, principal: Principal): Promise<MeView> {
  requirePermission(principal, 'me.read');
  const tenants = await listTenantsOfUser(db, principal.user.id);
  const { id, username, displayName } = principal.user;
  return {
    user: { id, username, displayName },
    tenant: { id: principal.tenant.id, slug: principal.tenant.slug, name: principal.tenant.name },
    role: principal.role,
    via: principal.via,
    tenants: tenants.map(({ tenant, role }) => ({ id: tenant.id, slug: tenant.slug, name: tenant.name, role, current: tenant.id === principal.tenant.id })),
    permissions: allowedActions(principal.role),
  };
}

/**
 * Moves the principal's session to another tenant the user belongs to (by slug or id). A tenant the user
 * does not belong to is `not_found`, like a tenant that does not exist. API tokens are bound to one tenant.
 */
export async function switchTenant(db: DbTx, principal: Principal, tenant: string): Promise<MeView> {
  requirePermission(principal, 'me.switch_tenant');
  if (principal.via !== 'session') throw new AppError('forbidden', 'an API token is bound to its tenant; sign in to switch tenants');
  const { sessionId } = principal;
  const target = (await findTenantBySlug(db, tenant)) ?? (await findTenantById(db, tenant));
  const member = target ? await findMemberByUser(db, target.id, principal.user.id) : null;
  if (!target || !member) throw notFound('tenant');
  if (target.id !== principal.tenant.id) {
    await inTransaction(db, async (tx) => {
      await setSessionTenant(tx, sessionId, target.id);
      await appendAudit(tx, {
        tenantId: target.id,
        actor: auditActorOf(principal),
        action: 'session.switch_tenant',
        target: { type: 'tenant', id: target.id },
        details: { role: member.role },
      });
    });
  }
  return describeMe(db, { ...principal, tenant: target, role: member.role });
}
