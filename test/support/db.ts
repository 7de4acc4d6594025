/**
 * One fresh, fully migrated database per test file: CREATE DATABASE … TEMPLATE <migrated template>.
 * When the file runs outside scripts/test.ts, an embedded PostgreSQL is started for it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../scripts/lib/ports';
import { createDb, type Db } from '../../server/db/client';
import { startEmbeddedPostgres } from '../../server/db/embedded-postgres';
import { applyMigrations } from '../../server/db/schema-engine';
import { testInfra } from './env';

export interface TestDatabase {
  url: string;
  /** Superuser URL of the same database (can disable triggers, read raw tables). */
  adminUrl: string;
  db: Db;
  drop(): Promise<void>;
}

let users = 0;
let standalone: Promise<{ adminUrl: string; template: string; stop(): Promise<void> }> | undefined;

async function server(): Promise<{ adminUrl: string; template: string }> {
  const infra = testInfra();
  if (infra.pgAdminUrl && infra.pgTemplate) return { adminUrl: infra.pgAdminUrl, template: infra.pgTemplate };
  standalone ??= (async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ps-test-pg-'));
    // A port the kernel just handed out as free (a random one in the ephemeral range could be in use by a
    // recently closed connection); the data directory goes when start-up fails.
    let running: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
    try {
      running = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'ps_template' });
      await applyMigrations(running.url);
    } catch (err) {
      await running?.stop();
      rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
    const started = running;
    const adminUrl = started.url.replace(/\/ps_template$/, '/postgres');
    return {
      adminUrl,
      template: 'ps_template',
      stop: async () => {
        await started.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  })();
  return standalone;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function createTestDatabase(): Promise<TestDatabase> {
  users += 1;
  const { adminUrl, template } = await server();
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  const db = createDb(url, { maxConnections: 5 });
  return {
    url,
    adminUrl: url,
    db,
    drop: async () => {
      await db.$disconnect();
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
      users -= 1;
      if (standalone && users === 0) {
        const s = await standalone;
        standalone = undefined;
        await s.stop();
      }
    },
  };
}
