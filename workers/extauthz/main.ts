/**
 * The ext_authz process: `tsx workers/extauthz/main.ts [--port N] [--database-url URL] [--sample-rate R]`.
 * Defaults from server/env.ts: EXTAUTHZ_PORT, EXTAUTHZ_HOST, DATABASE_URL, EXTAUTHZ_DECISION_LOG_SAMPLE_RATE.
 * /healthz and /metrics on 127.0.0.1:EXTAUTHZ_HTTP_PORT.
 * Envoys reach it through a static `proxyshard-extauthz` cluster in their bootstrap
 * (extAuthzBootstrapCluster). SIGINT/SIGTERM: stop serving, flush decision logs, exit.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createDb } from '../../server/db/client';
import { getEnv } from '../../server/env';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { startOpsHttpServer } from '../ops-http';
import { stopOnSignals } from '../shutdown';
import { startExtAuthzServer } from './extauthz.server';

async function main(): Promise<void> {
  const env = getEnv();
  const { values } = parseArgs({ options: { port: { type: 'string' }, 'database-url': { type: 'string' }, 'sample-rate': { type: 'string' } } });
  const log = pino({ level: env.LOG_LEVEL, base: { service: 'extauthz' } });
  const databaseUrl = values['database-url'] ?? env.DATABASE_URL;
  if (databaseUrl === undefined) {
    log.fatal('DATABASE_URL must be set (npm start passes the embedded PostgreSQL URL)');
    process.exitCode = 2;
    return;
  }
  const db = createDb(databaseUrl);
  const server = await startExtAuthzServer({
    db,
    databaseUrl,
    port: values.port !== undefined ? Number(values.port) : env.EXTAUTHZ_PORT,
    host: env.EXTAUTHZ_HOST,
    log,
    decisionLogSampleRate: values['sample-rate'] !== undefined ? Number(values['sample-rate']) : env.EXTAUTHZ_DECISION_LOG_SAMPLE_RATE,
  });
  // Readiness line for supervisors and benchmarks.
  console.log(`extauthz listening on ${env.EXTAUTHZ_HOST}:${server.port}`);

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'proxyshard_extauthz_live_policies',
    help: 'Request policies loaded and enforced by this ext_authz server.',
    registers: [registry],
    collect() {
      this.set(Object.keys(server.loaded()).length);
    },
  });
  const ops = await startOpsHttpServer({
    host: '127.0.0.1',
    port: env.EXTAUTHZ_HTTP_PORT,
    registry,
    log,
    health: async () => {
      const database = await db.$queryRaw`SELECT 1`.then(
        () => 'ok',
        () => 'unreachable',
      );
      return { ok: database === 'ok' && !lifecycle.stopping, body: { status: lifecycle.stopping ? 'stopping' : database === 'ok' ? 'ok' : 'degraded', database, policies: server.loaded() } };
    },
  });
  // Set before any request can be served: the listen callback resolves `ops`, this continuation runs first.
  const lifecycle = stopOnSignals(log, [() => ops.close(), () => server.stop(), () => db.$disconnect()]);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
