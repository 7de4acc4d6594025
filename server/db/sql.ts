/**
 * A plain SQL runner (positional parameters $1…, rows back) for statements written as SQL text: through
 * Prisma, or straight on a pg pool where Prisma's per-statement work matters (the xds process' hot path:
 * reloading a snapshot on NOTIFY, writing proxy state for a fleet's ACKs). Results are what PostgreSQL
 * returns through either driver: jsonb parsed, uuid and text as strings; select timestamps as epoch
 * milliseconds (`extract(epoch …)`) where they matter, so both drivers agree.
 */
import type pg from 'pg';
import type { DbTx } from './tx';

export type Sql = <T = Record<string, unknown>>(text: string, params: unknown[]) => Promise<T[]>;

/** `db` as a Sql runner (a Sql runner is returned as is). */
export function sqlOf(db: DbTx | Sql): Sql {
  if (typeof db === 'function') return db;
  return <T>(text: string, params: unknown[]) => db.$queryRawUnsafe<T[]>(text, ...params);
}

/** A Sql runner on a pg pool. */
export function poolSql(pool: pg.Pool): Sql {
  return async <T>(text: string, params: unknown[]) => (await pool.query(text, params)).rows as T[];
}
