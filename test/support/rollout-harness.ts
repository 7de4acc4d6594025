/**
 * Rollout acceptance tests and benchmarks: PostgreSQL + in-process xds (test/support/xds-harness.ts), one real
 * Envoy whose node metadata carries its admin URL (what the Envoy stats adapter reads), two upstream
 * versions (stable, canary with an optional 5xx ratio), the real Temporal dev server, and a worker — in
 * this process or as a real worker process (workers/worker/main.ts) that a test may SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { RouteGraph, RouteGraphInput } from '../../contracts/route-graph.schema';
import { RouteGraphSchema } from '../../contracts/route-graph.schema';
import { contentHash } from '../../core/xds/snapshot';
import { freePort } from '../../scripts/lib/ports';
import { appendAudit, appendAuditEntries } from '../../server/audit/audit.service';
import type { Role } from '../../server/auth/permissions';
import { createDb, type Db } from '../../server/db/client';
import { listenForProxyStateChanges, type ProxyStateChanges } from '../../server/db/proxy-state-changes';
import { listProxyAdminUrls } from '../../server/db/rollout.repo';
import type { Tenant } from '../../server/db/tenant.repo';
import { repoRoot } from '../../server/env';
import { publishRevision } from '../../server/services/publish.service';
import { setRolloutTemporal } from '../../server/services/rollout.service';
import type { ProxyShardTemporal } from '../../server/temporal/client';
import { envoyBootstrap } from '../../workers/envoy/bootstrap';
import { createEnvoyStatsAdapter } from '../../workers/envoy/envoy-stats.adapter';
import { startEnvoy, type RunningEnvoy } from '../../workers/envoy/envoy.process';
import { createPublishActivities } from '../../workers/publish.activities';
import { createRolloutActivities } from '../../workers/rollout.activities';
import { WORKER_DB_CONNECTIONS, WORKER_TUNING } from '../../workers/worker/tuning';
import { makeMember, makeToken, type TestMember } from './api';
import { getTestTemporal, installQuietTemporalRuntime, uniqueTaskQueue, workflowBundle, type TestTemporal } from './temporal';
import { eventually, startXdsHarness, type XdsHarness } from './xds-harness';

export interface VersionedUpstream {
  name: string;
  port: number;
  /** Requests answered (not counting /healthz). */
  count(): number;
  /** Fraction of responses that are 500 from now on. */
  setErrorRatio(r: number): void;
  close(): Promise<void>;
}

/** An upstream that names its version in the body and fails a deterministic fraction of requests with 500. */
export function startVersionedUpstream(name: string, errorRatio = 0): Promise<VersionedUpstream> {
  let n = 0;
  let ratio = errorRatio;
  const server: Server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200).end('ok\n');
      return;
    }
    n += 1;
    // 30 % → requests 1..3 of every 10 fail: exact over any 10 consecutive requests.
    const fail = ratio > 0 && n % 100 < Math.round(ratio * 100);
    res.writeHead(fail ? 500 : 200, { 'content-type': 'text/plain', 'x-version': name }).end(`${name}\n`);
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        name,
        port: (server.address() as AddressInfo).port,
        count: () => n,
        setErrorRatio: (r) => (ratio = r),
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** A graph with `routes` routes (`/r<i>/` → s<i> 100 %), clusters s<i> → stable upstream and c<i> → canary upstream. */
export function rolloutGraph(opts: { listenerPort: number; stablePort: number; canaryPort: number; routes: number; withCanaryClusters: boolean; canary?: Partial<NonNullable<RouteGraphInput['clusters']>[number]> }): RouteGraph {
  const idx = [...Array(opts.routes).keys()];
  const input: RouteGraphInput = {
    listeners: [{ name: 'main', address: '127.0.0.1', port: opts.listenerPort, virtualHosts: ['default'] }],
    virtualHosts: [{ name: 'default', domains: ['*'], routes: idx.map((i) => `r${i}`) }],
    routes: idx.map((i) => ({ name: `r${i}`, match: { prefix: `/r${i}/` }, action: { kind: 'forward' as const, clusters: [{ cluster: `s${i}`, weight: 100 }] } })),
    clusters: [
      ...idx.map((i) => ({ name: `s${i}`, endpoints: [{ address: '127.0.0.1', port: opts.stablePort }] })),
      ...(opts.withCanaryClusters ? idx.map((i) => ({ name: `c${i}`, endpoints: [{ address: '127.0.0.1', port: opts.canaryPort }], ...opts.canary })) : []),
    ],
    nodeGroups: [{ name: 'default', listeners: ['main'] }],
  };
  return RouteGraphSchema.parse(input);
}

export interface RolloutHarness {
  xds: XdsHarness;
  envoy: RunningEnvoy;
  listenerPort: number;
  stable: VersionedUpstream;
  canary: VersionedUpstream;
  temporal: TestTemporal;
  taskQueue: string;
  client: Client;
  /** The graph live at the start (canary clusters defined only in the change revision). */
  baseGraph: RouteGraph;
  /**
   * Stores a draft revision carrying the canary clusters, authored by `createdById`; `canary` overrides
   * fields of every canary cluster (e.g. something Envoy rejects, for a NACK).
   */
  changeRevision(createdById: string, opts?: { canary?: Partial<NonNullable<RouteGraphInput['clusters']>[number]> }): Promise<string>;
  /** The web server's own pool (the API handlers use it via setAppDb). */
  appDb: Db;
  /** Runs a worker in this process until stop(). */
  startInProcessWorker(): Promise<void>;
  /** Members of the tenant with an API token each, by username. */
  addMembers<K extends string>(roles: Record<K, Role>): Promise<Record<K, { member: TestMember; token: string }>>;
  /** The route as the Envoy serves it (config dump): `cluster=weight,…` without zero weights; null when absent. */
  servedRoute(route: string): Promise<string | null>;
  /** Spawns workers/worker/main.ts (the real worker process). */
  spawnWorker(): Promise<ChildProcess>;
  stop(): Promise<void>;
}

export async function startRolloutHarness(opts: { routes: number; canaryErrorRatio?: number }): Promise<RolloutHarness> {
  installQuietTemporalRuntime();
  const [xds, temporal] = await Promise.all([startXdsHarness(), getTestTemporal()]);
  const [stable, canary] = await Promise.all([startVersionedUpstream('stable'), startVersionedUpstream('canary', opts.canaryErrorRatio ?? 0)]);
  const listenerPort = await freePort();
  const baseGraph = rolloutGraph({ listenerPort, stablePort: stable.port, canaryPort: canary.port, routes: opts.routes, withCanaryClusters: false });
  const versions = await xds.publish(baseGraph);

  const adminPort = await freePort();
  const bootstrap = envoyBootstrap({ nodeId: 'envoy-1', tenant: 'demo', nodeGroup: 'default', xdsHost: '127.0.0.1', xdsPort: xds.xds.grpcPort, adminPort });
  // The Envoy stats adapter finds a proxy's admin API through this node metadata.
  (bootstrap.node as { metadata: Record<string, string> }).metadata.admin_url = `http://127.0.0.1:${adminPort}`;
  // Histograms are merged on each stats flush: flush every second so latency windows are current.
  bootstrap.stats_flush_interval = '1s';
  const envoy = await startEnvoy({ bootstrap, adminPort });
  await xds.ackedAll('envoy-1', versions.default!, 30_000);

  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: temporal.namespace });
  const taskQueue = uniqueTaskQueue('rollout');
  const pst: ProxyShardTemporal = { client, connection, taskQueue };
  setRolloutTemporal(async () => pst);
  const appDb = createDb(xds.tdb.url, { maxConnections: 10 });

  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  let nativeConnection: NativeConnection | undefined;
  let workerDb: Db | undefined;
  let proxyChanges: ProxyStateChanges | undefined;
  const children: ChildProcess[] = [];

  return {
    xds,
    envoy,
    listenerPort,
    stable,
    canary,
    temporal,
    taskQueue,
    client,
    baseGraph,
    appDb,
    changeRevision: async (createdById, change = {}) => {
      const graph = rolloutGraph({ listenerPort, stablePort: stable.port, canaryPort: canary.port, routes: opts.routes, withCanaryClusters: true, ...change });
      const last = await xds.db.revision.findFirst({ where: { tenantId: xds.tenantId }, orderBy: { number: 'desc' } });
      const revisionCounter = (last?.number ?? 0) + 1;
      const rev = await xds.db.revision.create({
        data: { tenantId: xds.tenantId, number: revisionCounter, state: 'draft', graph: graph as object, graphHash: contentHash(graph), createdById, message: 'canary clusters' },
      });
      return rev.id;
    },
    startInProcessWorker: async () => {
      nativeConnection = await NativeConnection.connect({ address: temporal.address });
      // The worker's own pool, as in production (the xds server keeps its connections for ACK bookkeeping).
      const db = createDb(xds.tdb.url, { maxConnections: WORKER_DB_CONNECTIONS });
      workerDb = db;
      proxyChanges = await listenForProxyStateChanges(xds.tdb.url);
      const changes = proxyChanges;
      worker = await Worker.create({
        connection: nativeConnection,
        namespace: temporal.namespace,
        taskQueue,
        workflowBundle: await workflowBundle(),
        activities: {
          ...createPublishActivities({ db, publishRevision, appendAudit }),
          ...createRolloutActivities({
            db,
            publishRevision,
            appendAudit,
            appendAuditEntries,
            metrics: createEnvoyStatsAdapter({ listAdmins: (tenantId, groups) => listProxyAdminUrls(db, tenantId, groups) }),
            proxyStateChanged: (tenantId) => changes.next(tenantId),
          }),
        },
        ...WORKER_TUNING,
      });
      workerRun = worker.run();
    },
    addMembers: async <K extends string>(roles: Record<K, Role>) => {
      const tenant = (await xds.db.tenant.findUniqueOrThrow({ where: { id: xds.tenantId } })) as Tenant;
      const out = {} as Record<K, { member: TestMember; token: string }>;
      for (const [username, role] of Object.entries(roles) as [K, Role][]) {
        const member = await makeMember(xds.db, tenant, role, { username });
        out[username] = { member, token: (await makeToken(xds.db, member)).secret };
      }
      return out;
    },
    servedRoute: async (route) => {
      const dump = JSON.parse((await envoy.admin('/config_dump?resource=dynamic_route_configs')).body) as {
        configs: { route_config: { virtual_hosts: { routes: { name: string; route: { cluster?: string; weighted_clusters?: { clusters: { name: string; weight?: number }[] } } }[] }[] } }[];
      };
      for (const c of dump.configs) for (const vh of c.route_config.virtual_hosts) for (const r of vh.routes) if (r.name === route) {
        if (r.route.cluster) return `${r.route.cluster}=100`;
        return (r.route.weighted_clusters?.clusters ?? []).filter((x) => (x.weight ?? 0) > 0).map((x) => `${x.name}=${x.weight}`).join(',');
      }
      return null;
    },
    spawnWorker: () => spawnWorkerProcess({ databaseUrl: xds.tdb.url, temporal, taskQueue, children }),
    stop: async () => {
      setRolloutTemporal(undefined);
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun?.catch(() => undefined);
      await nativeConnection?.close().catch(() => undefined);
      await proxyChanges?.close().catch(() => undefined);
      await workerDb?.$disconnect().catch(() => undefined);
      await appDb.$disconnect().catch(() => undefined);
      await connection.close().catch(() => undefined);
      await envoy.stop();
      await Promise.all([stable.close(), canary.close()]);
      await xds.stop();
      await temporal.stop();
    },
  };
}

/** Spawns workers/worker/main.ts (the real worker process) on `taskQueue`; resolves once its /healthz is 200. */
export async function spawnWorkerProcess(opts: { databaseUrl: string; temporal: TestTemporal; taskQueue: string; children: ChildProcess[] }): Promise<ChildProcess> {
  const httpPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/worker/main.ts'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: opts.databaseUrl,
      TEMPORAL_ADDRESS: opts.temporal.address,
      TEMPORAL_NAMESPACE: opts.temporal.namespace,
      TEMPORAL_TASK_QUEUE: opts.taskQueue,
      WORKER_HTTP_PORT: String(httpPort),
      WORKER_TEMPORAL_METRICS_PORT: '0',
    },
  });
  let output = '';
  child.stdout?.on('data', (b: Buffer) => (output = (output + b.toString('utf8')).slice(-4000)));
  child.stderr?.on('data', (b: Buffer) => (output = (output + b.toString('utf8')).slice(-4000)));
  opts.children.push(child);
  await eventually(
    'worker process /healthz 200',
    async () => {
      if (child.exitCode !== null) throw new Error(`worker exited ${child.exitCode}: ${output}`);
      const r = await fetch(`http://127.0.0.1:${httpPort}/healthz`).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    },
    120_000,
    250,
  );
  return child;
}

/** Runs `fn` over `items` with at most `limit` at a time; results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    [...Array(Math.min(limit, items.length)).keys()].map(async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export interface TrafficLog {
  /** [time ms, upstream name or `status:<n>`] of every request. */
  entries: [number, string][];
  stop(): Promise<void>;
}

/** Sends requests to `paths` round robin with `parallel` keep-alive loops until stop() (bounded by maxMs). */
export function generateTraffic(port: number, paths: string[], opts: { parallel?: number; maxMs?: number } = {}): TrafficLog {
  const entries: [number, string][] = [];
  let stopped = false;
  const deadline = Date.now() + (opts.maxMs ?? 300_000);
  let i = 0;
  const loops = [...Array(opts.parallel ?? 4).keys()].map(async () => {
    const { Agent, request } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    while (!stopped && Date.now() < deadline) {
      const path = paths[i++ % paths.length]!;
      const label = await new Promise<string>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path, agent, timeout: 5000 }, (res) => {
          const v = res.headers['x-version'];
          res.resume();
          res.on('end', () => resolve(typeof v === 'string' ? v : `status:${res.statusCode}`));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', () => resolve('error'));
        req.end();
      });
      entries.push([Date.now(), label]);
    }
    agent.destroy();
  });
  return {
    entries,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Share of `name` among the upstream-answered entries in [from, to]. */
export function shareBetween(log: TrafficLog, name: string, from: number, to: number): { share: number; n: number } {
  const inWindow = log.entries.filter(([t, l]) => t >= from && t <= to && (l === 'stable' || l === 'canary'));
  return { share: inWindow.length === 0 ? NaN : inWindow.filter(([, l]) => l === name).length / inWindow.length, n: inWindow.length };
}
