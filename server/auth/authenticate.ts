/**
 * Turns request credentials into a Principal: `Authorization: Bearer ps_…` (API token) or the session cookie.
 * A request that sends a bearer token is judged by the token alone (no fallback to the cookie).
 */
import { findApiTokenByHash, touchApiToken } from '../db/api-token.repo';
import { findMemberByUser } from '../db/membership.repo';
import { findSessionById, touchSession } from '../db/session.repo';
import { findTenantById } from '../db/tenant.repo';
import type { DbTx } from '../db/tx';
import { findUserById } from '../db/user.repo';
import { SESSION_COOKIE, readCookie } from './cookies';
import type { Principal } from './principal';
import { apiTokenHashOf, sessionIdOf } from './secrets';

/** lastSeenAt / lastUsedAt are written at most this often per session or token. */
const TOUCH_INTERVAL_MS = 60_000;

async function membershipPrincipalParts(db: DbTx, userId: string, tenantId: string) {
  const [user, tenant, member] = await Promise.all([findUserById(db, userId), findTenantById(db, tenantId), findMemberByUser(db, tenantId, userId)]);
  if (!user || user.disabled || !tenant || !member) return null;
  return { user, tenant, role: member.role };
}

/** The principal of a session cookie value, or null (unknown, expired, user disabled, no longer a member). */
export async function authenticateSessionToken(db: DbTx, token: string | undefined, now = new Date()): Promise<Principal | null> {
  if (!token || token.length > 256) return null;
  const session = await findSessionById(db, sessionIdOf(token));
  if (!session || session.expiresAt <= now) return null;
  const parts = await membershipPrincipalParts(db, session.userId, session.tenantId);
  if (!parts) return null;
  if (now.getTime() - session.lastSeenAt.getTime() > TOUCH_INTERVAL_MS) await touchSession(db, session.id, now);
  return { ...parts, via: 'session', sessionId: session.id };
}

/** The principal of an API token, or null (malformed, unknown, revoked, expired, owner no longer a member). */
export async function authenticateApiToken(db: DbTx, text: string, now = new Date()): Promise<Principal | null> {
  const tokenHash = apiTokenHashOf(text);
  if (!tokenHash) return null;
  const token = await findApiTokenByHash(db, tokenHash);
  if (!token || token.revokedAt || (token.expiresAt && token.expiresAt <= now)) return null;
  const parts = await membershipPrincipalParts(db, token.userId, token.tenantId);
  if (!parts) return null;
  if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > TOUCH_INTERVAL_MS) await touchApiToken(db, token.tenantId, token.id, now);
  return { ...parts, via: 'token', tokenId: token.id, tokenName: token.name, tokenExpiresAt: token.expiresAt };
}

export function bearerTokenOf(headers: Headers): string | undefined {
  const auth = headers.get('authorization');
  if (!auth) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  return m?.[1] ?? '';
}

/** The principal behind a request's credentials, or null when there are none or they are not valid. */
export async function authenticateRequest(db: DbTx, headers: Headers): Promise<Principal | null> {
  const bearer = bearerTokenOf(headers);
  if (bearer !== undefined) return authenticateApiToken(db, bearer);
  return authenticateSessionToken(db, readCookie(headers.get('cookie'), SESSION_COOKIE));
}
