import type { DbTx } from './tx';
import { isUuid } from './tx';

/** An API token as shown to people: never the secret, never its hash. */
export interface ApiToken {
  id: string;
  tenantId: string;
  userId: string;
  name: string;
  /** Non-secret part of the token (`ps_<prefix>_…`), to recognise it in listings. */
  prefix: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

const select = {
  id: true,
  tenantId: true,
  userId: true,
  name: true,
  prefix: true,
  createdAt: true,
  expiresAt: true,
  revokedAt: true,
  lastUsedAt: true,
} as const;

export async function createApiToken(
  db: DbTx,
  input: { tenantId: string; userId: string; name: string; prefix: string; tokenHash: string; expiresAt: Date | null },
): Promise<ApiToken> {
  return db.apiToken.create({ data: input, select });
}

/** Looks a token up by the hash of its full text: the entry point of bearer authentication. */
export async function findApiTokenByHash(db: DbTx, tokenHash: string): Promise<ApiToken | null> {
  return db.apiToken.findUnique({ where: { tokenHash }, select });
}

export async function findApiToken(db: DbTx, tenantId: string, id: string): Promise<ApiToken | null> {
  if (!isUuid(id)) return null;
  return db.apiToken.findFirst({ where: { id, tenantId }, select });
}

/** Tokens of the tenant, newest first; only `userId`'s when given. */
export async function listApiTokens(db: DbTx, tenantId: string, filter: { userId?: string } = {}): Promise<ApiToken[]> {
  return db.apiToken.findMany({
    where: { tenantId, ...(filter.userId ? { userId: filter.userId } : {}) },
    select,
    orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
  });
}

/** Marks the token revoked (once; revoking again keeps the first time). Null when it is not in the tenant. */
export async function revokeApiToken(db: DbTx, tenantId: string, id: string, at: Date): Promise<ApiToken | null> {
  if (!isUuid(id)) return null;
  await db.apiToken.updateMany({ where: { id, tenantId, revokedAt: null }, data: { revokedAt: at } });
  return findApiToken(db, tenantId, id);
}

export async function revokeApiTokensOfUserInTenant(db: DbTx, tenantId: string, userId: string, at: Date): Promise<number> {
  if (!isUuid(userId)) return 0;
  const { count } = await db.apiToken.updateMany({ where: { tenantId, userId, revokedAt: null }, data: { revokedAt: at } });
  return count;
}

export async function touchApiToken(db: DbTx, tenantId: string, id: string, at: Date): Promise<void> {
  await db.apiToken.updateMany({ where: { id, tenantId }, data: { lastUsedAt: at } });
}
