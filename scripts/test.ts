/**
 * `npm test`: every *.test.ts in the tree (unit tests next to the code, integration tests under test/),
 * run by node's test runner, with one real PostgreSQL server (migrated template database) and one real
 * Temporal dev server started here for the whole run and stopped at the end.
 *   npm test                      all tests
 *   npm test -- test/auth.test.ts just these files
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { getEnv, repoRoot } from '../server/env';
import { startEmbeddedPostgres } from '../server/db/embedded-postgres';
import { applyMigrations } from '../server/db/schema-engine';
import { startTemporalDevServer } from '../server/temporal-dev';
import { ensurePrismaClient } from './lib/prisma-generate';
import { freePort } from './lib/ports';

const SKIP = new Set(['node_modules', '.next', '.data', '.git', 'tools', '.venv', 'generated']);

function findTests(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) findTests(p, out);
    else if (/\.test\.tsx?$/.test(entry.name)) out.push(relative(repoRoot, p));
  }
  return out;
}

/** The plain closing line "N passed, N failed, N skipped", from node's own summary. */
function printSummaryLine(output: string): void {
  const count = (name: string) => Number(new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? NaN);
  const [passed, failed, skipped] = [count('pass'), count('fail'), count('skipped') + count('todo')];
  if (Number.isNaN(passed) || Number.isNaN(failed)) console.log('\n0 passed, 1 failed (the test runner printed no summary)');
  else console.log(`\n${passed} passed, ${failed} failed, ${Number.isNaN(skipped) ? 0 : skipped} skipped`);
}

async function main(): Promise<number> {
  const env = getEnv();
  const args = process.argv.slice(2);
  const files = (args.length ? args : findTests(repoRoot)).sort();
  ensurePrismaClient();

  const work = mkdtempSync(join(tmpdir(), 'ps-test-'));
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const t0 = Date.now();
    const pgPort = await freePort();
    const pg = await startEmbeddedPostgres({ dataDir: work, port: pgPort, database: 'ps_template' });
    cleanups.push(() => pg.stop());
    await applyMigrations(pg.url);
    const temporalPort = await freePort();
    const temporal = await startTemporalDevServer({
      port: temporalPort,
      uiPort: undefined,
      namespace: env.TEMPORAL_NAMESPACE,
      dbFile: undefined,
      httpPort: await freePort(),
      metricsPort: await freePort(),
      log: () => {},
    });
    cleanups.push(() => temporal.stop());
    console.log(`[test] infrastructure ready in ${Date.now() - t0} ms: PostgreSQL 127.0.0.1:${pgPort}, Temporal ${temporal.address}`);

    const childEnv = {
      ...process.env,
      NEXT_TELEMETRY_DISABLED: '1',
      PS_TEST_PG_ADMIN_URL: pg.url.replace(/\/ps_template$/, '/postgres'),
      PS_TEST_PG_TEMPLATE: 'ps_template',
      PS_TEST_TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: env.TEMPORAL_NAMESPACE,
      // One key-encryption key per test run, shared by every process a test starts (web, worker, xds).
      PROXYSHARD_KEYS: process.env.PROXYSHARD_KEYS ?? `test-run:${randomBytes(32).toString('base64')}`,
    };
    let tail = '';
    const code = await new Promise<number>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--test',
          // A file whose tests are done exits even if a library left a handle open (a hang would stall CI).
          '--test-force-exit',
          `--test-concurrency=${process.env.PS_TEST_CONCURRENCY ?? '1'}`,
          '--test-reporter=spec',
          '--test-reporter-destination=stdout',
          ...files,
        ],
        { cwd: repoRoot, env: childEnv, stdio: ['inherit', 'pipe', 'inherit'] },
      );
      // Pass the output through and keep its end, where node's summary ("ℹ pass N") stands.
      child.stdout.on('data', (chunk: Buffer) => {
        process.stdout.write(chunk);
        tail = (tail + chunk.toString('utf8')).slice(-200_000);
      });
      const forward = (sig: NodeJS.Signals) => child.kill(sig);
      process.once('SIGINT', forward);
      process.once('SIGTERM', forward);
      child.on('close', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
    });
    printSummaryLine(tail);
    return code;
  } finally {
    for (const c of cleanups.reverse()) await c().catch((e) => console.error('[test] cleanup:', e));
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error('[test] failed to start:', err instanceof Error ? err.stack : err);
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
