import type { Env } from '../env';
import { startEmbeddedPostgres, type RunningPostgres } from './embedded-postgres';

/** `DATABASE_URL` when set, else the project-local embedded PostgreSQL (started here). */
export async function openDatabase(env: Env, onLog?: (line: string) => void): Promise<RunningPostgres & { embedded: boolean }> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, stop: async () => {}, embedded: false };
  const pg = await startEmbeddedPostgres({ dataDir: env.PROXYSHARD_DATA_DIR, port: env.PG_PORT, onLog });
  return { ...pg, embedded: true };
}
