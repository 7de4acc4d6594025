/**
 * API tokens: bound to their owner and the tenant they were created in, shown once, stored hashed.
 * Members see and revoke their own tokens; admins (tokens.manage) see and revoke everyone's in the tenant.
 */
import { appendAudit } from '../audit/audit.service';
import { can } from '../auth/permissions';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import { newApiToken } from '../auth/secrets';
import { createApiToken, findApiToken, listApiTokens, revokeApiToken, type ApiToken } from '../db/api-token.repo';
import { inTransaction, isUniqueViolation, type DbTx } from '../db/tx';
import { conflict, notFound } from '../errors';

export interface ApiTokenView {
  id: string;
  name: string;
  prefix: string;
  userId: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  status: 'active' | 'revoked' | 'expired';
}

export function toTokenView(t: ApiToken, now = new Date()): ApiTokenView {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    userId: t.userId,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    status: t.revokedAt ? 'revoked' : t.expiresAt && t.expiresAt <= now ? 'expired' : 'active',
  };
}

/** The principal's tokens in the current tenant (all members' tokens with `all` for admins). */
export async function listTokens(db: DbTx, principal: Principal, opts: { all?: boolean } = {}): Promise<ApiTokenView[]> {
  requirePermission(principal, 'tokens.read');
  if (opts.all) requirePermission(principal, 'tokens.manage');
  const tokens = await listApiTokens(db, principal.tenant.id, opts.all ? {} : { userId: principal.user.id });
  return tokens.map((t) => toTokenView(t));
}

export interface CreateTokenInput {
  name: string;
  /** Days until the token stops working; none = no expiry. */
  expiresInDays?: number;
}

/** Creates a token for the principal in the current tenant. `secret` is the only time the token is shown. */
export async function createToken(
  db: DbTx,
  principal: Principal,
  input: CreateTokenInput,
  now = new Date(),
): Promise<{ token: ApiTokenView; secret: string }> {
  requirePermission(principal, 'tokens.create');
  const { token: secret, prefix, tokenHash } = newApiToken();
  const requested = input.expiresInDays === undefined ? null : new Date(now.getTime() + input.expiresInDays * 86_400_000);
  // A token cannot mint a token that outlives it.
  const ceiling = principal.via === 'token' ? principal.tokenExpiresAt : null;
  const expiresAt = ceiling && (!requested || requested > ceiling) ? ceiling : requested;
  try {
    const created = await inTransaction(db, async (tx) => {
      const t = await createApiToken(tx, { tenantId: principal.tenant.id, userId: principal.user.id, name: input.name, prefix, tokenHash, expiresAt });
      await appendAudit(tx, {
        tenantId: principal.tenant.id,
        actor: auditActorOf(principal),
        action: 'token.create',
        target: { type: 'api_token', id: t.id },
        after: toTokenView(t, now),
        details: { name: t.name, prefix: t.prefix, expiresAt: t.expiresAt?.toISOString() ?? null },
      });
      return t;
    });
    return { token: toTokenView(created, now), secret };
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict(`a token named "${input.name}" already exists in this tenant`);
    throw err;
  }
}

/** Revokes one of the principal's tokens (any token of the tenant for admins). Others' tokens are not_found. */
export async function revokeToken(db: DbTx, principal: Principal, id: string, now = new Date()): Promise<ApiTokenView> {
  requirePermission(principal, 'tokens.revoke');
  return inTransaction(db, async (tx) => {
    const before = await findApiToken(tx, principal.tenant.id, id);
    if (!before || (before.userId !== principal.user.id && !can(principal.role, 'tokens.manage'))) throw notFound('token');
    if (before.revokedAt) return toTokenView(before, now);
    const after = await revokeApiToken(tx, principal.tenant.id, id, now);
    if (!after) throw notFound('token');
    await appendAudit(tx, {
      tenantId: principal.tenant.id,
      actor: auditActorOf(principal),
      action: 'token.revoke',
      target: { type: 'api_token', id },
      before: toTokenView(before, now),
      after: toTokenView(after, now),
      details: { name: after.name, prefix: after.prefix, ownerId: after.userId },
    });
    return toTokenView(after, now);
  });
}
