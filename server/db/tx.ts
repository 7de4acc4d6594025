import type { Db } from './client';
import { Prisma } from './generated/client';

/** A Prisma client or an interactive transaction on one. */
export type DbTx = Db | Prisma.TransactionClient;
export type Tx = Prisma.TransactionClient;

/**
 * The client, not a transaction: an interactive transaction's client has no $connect (Prisma 7 gives it a
 * $transaction of its own, which would open a SAVEPOINT — two more round trips and a second lock per nested
 * service call — instead of joining the caller's transaction).
 */
export function isClient(db: DbTx): db is Db {
  return typeof (db as Partial<Db>).$connect === 'function';
}

/**
 * Runs `fn` in an interactive transaction: a new one when `db` is the client, the caller's when `db` is
 * already a transaction (so services compose).
 */
export function inTransaction<T>(db: DbTx, fn: (tx: Tx) => Promise<T>): Promise<T> {
  if (!isClient(db)) return fn(db);
  return db.$transaction(fn, { maxWait: 10_000, timeout: 20_000 });
}

/** A unique constraint was violated (Prisma P2002). */
export function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUID columns: anything else cannot match a row (and would make PostgreSQL throw). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
