/**
 * The database client of the web process: one per process (kept on globalThis so that Next.js dev reloads
 * and separately bundled route modules share it). Tests and scripts install their own with setAppDb.
 */
import { createDb, type Db } from './db/client';
import { getEnv } from './env';

const holder = globalThis as typeof globalThis & { __proxyshardAppDb?: Db };

export function getAppDb(): Db {
  if (!holder.__proxyshardAppDb) {
    const url = getEnv().DATABASE_URL;
    if (!url) throw new Error('DATABASE_URL is not set: start the web app with `npm start` (which sets it) or set DATABASE_URL');
    holder.__proxyshardAppDb = createDb(url);
  }
  return holder.__proxyshardAppDb;
}

/** Use `db` for everything that calls getAppDb() (tests: the per-file test database). */
export function setAppDb(db: Db | undefined): void {
  holder.__proxyshardAppDb = db;
}
