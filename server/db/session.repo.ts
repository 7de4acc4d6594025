import type { DbTx } from './tx';
import { isUuid } from './tx';

/** A browser session. `id` is the SHA-256 (hex) of the cookie value, which is never stored. */
export interface Session {
  id: string;
  userId: string;
  tenantId: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

const select = { id: true, userId: true, tenantId: true, createdAt: true, lastSeenAt: true, expiresAt: true } as const;

export async function createSession(db: DbTx, input: { id: string; userId: string; tenantId: string; expiresAt: Date }): Promise<Session> {
  return db.session.create({ data: input, select });
}

/** Looks a session up by the hash of its cookie: the entry point of cookie authentication. */
export async function findSessionById(db: DbTx, id: string): Promise<Session | null> {
  return db.session.findUnique({ where: { id }, select });
}

export async function touchSession(db: DbTx, id: string, at: Date): Promise<void> {
  await db.session.updateMany({ where: { id }, data: { lastSeenAt: at } });
}

export async function setSessionTenant(db: DbTx, id: string, tenantId: string): Promise<void> {
  await db.session.updateMany({ where: { id }, data: { tenantId } });
}

export async function deleteSession(db: DbTx, id: string): Promise<boolean> {
  const { count } = await db.session.deleteMany({ where: { id } });
  return count > 0;
}

/** Signs a user out of one tenant everywhere (used when their membership ends). */
export async function deleteSessionsOfUserInTenant(db: DbTx, tenantId: string, userId: string): Promise<number> {
  if (!isUuid(userId)) return 0;
  const { count } = await db.session.deleteMany({ where: { tenantId, userId } });
  return count;
}

export async function deleteExpiredSessions(db: DbTx, now: Date): Promise<number> {
  const { count } = await db.session.deleteMany({ where: { expiresAt: { lte: now } } });
  return count;
}

/** Signs a user out everywhere (after a password reset). */
export async function deleteSessionsOfUser(db: DbTx, userId: string): Promise<number> {
  return (await db.session.deleteMany({ where: { userId } })).count;
}
