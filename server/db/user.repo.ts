import type { DbTx } from './tx';
import { isUuid } from './tx';

/** A person who signs in. Users are global; what they may see comes from memberships in tenants. */
export interface User {
  id: string;
  username: string;
  displayName: string;
  createdAt: Date;
  disabled: boolean;
}

const select = { id: true, username: true, displayName: true, createdAt: true, disabledAt: true } as const;

function toUser(row: { id: string; username: string; displayName: string; createdAt: Date; disabledAt: Date | null }): User {
  return { id: row.id, username: row.username, displayName: row.displayName, createdAt: row.createdAt, disabled: row.disabledAt !== null };
}

export async function findUserById(db: DbTx, id: string): Promise<User | null> {
  if (!isUuid(id)) return null;
  const row = await db.user.findUnique({ where: { id }, select });
  return row && toUser(row);
}

export async function findUserByUsername(db: DbTx, username: string): Promise<User | null> {
  const row = await db.user.findUnique({ where: { username }, select });
  return row && toUser(row);
}

/** For password sign-in only: the user and the stored argon2 hash. Nothing else returns the hash. */
export async function findUserCredentials(db: DbTx, username: string): Promise<{ user: User; passwordHash: string } | null> {
  const row = await db.user.findUnique({ where: { username }, select: { ...select, passwordHash: true } });
  if (!row) return null;
  return { user: toUser(row), passwordHash: row.passwordHash };
}

export async function createUser(db: DbTx, input: { username: string; displayName: string; passwordHash: string }): Promise<User> {
  return toUser(await db.user.create({ data: input, select }));
}

export async function setPasswordHash(db: DbTx, userId: string, passwordHash: string): Promise<void> {
  await db.user.update({ where: { id: userId }, data: { passwordHash }, select: { id: true } });
}
