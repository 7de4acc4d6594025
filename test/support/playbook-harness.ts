/**
 * Playbook acceptance tests: PostgreSQL + in-process xds, one real Envoy (admin URL in its node metadata, for
 * the Envoy stats adapter) routing `/` of route `api` to cluster api-a (an upstream in region-a); cluster
 * api-b (an upstream in region-b) is defined but gets no traffic. Real Temporal dev server, and a worker in
 * this process or as real worker processes. Optionally (xdp: true) the XDP lab: an agent channel on a unix
 * socket and a real agent in a node network namespace (node group `edge`, interface psn0).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { RouteGraphSchema, type RouteGraph } from '../../contracts/route-graph.schema';
import { freePort } from '../../scripts/lib/ports';
import { appendAudit } from '../../server/audit/audit.service';
import { createDb, type Db } from '../../server/db/client';
import { insertDerivedRevision, listProxyAdminUrls } from '../../server/db/rollout.repo';
import { contentHash } from '../../core/xds/snapshot';
import type { Tenant } from '../../server/db/tenant.repo';
import { publishRevision } from '../../server/services/publish.service';
import { setPlaybookTemporal } from '../../server/services/playbook.service';
import type { ProxyShardTemporal } from '../../server/temporal/client';
import { startAgentChannelServer } from '../../workers/agents/agent-channel.server';
import { createProgramStore } from '../../workers/agents/program-store';
import { envoyBootstrap } from '../../workers/envoy/bootstrap';
import { createEnvoyStatsAdapter } from '../../workers/envoy/envoy-stats.adapter';
import { startEnvoy, type RunningEnvoy } from '../../workers/envoy/envoy.process';
import { createNotifyActivities } from '../../workers/notify.activities';
import { createPlaybookActivities } from '../../workers/playbook.activities';
import { createPublishActivities } from '../../workers/publish.activities';
import { createXdpActivities } from '../../workers/xdp.activities';
import assert from 'node:assert/strict';
import * as playbooksRoute from '../../app/api/v1/playbooks/route';
import * as triggersRoute from '../../app/api/v1/playbooks/[id]/triggers/route';
import { call, makeMember, makeToken, type TestMember } from './api';
import { spawnWorkerProcess, startVersionedUpstream, type VersionedUpstream } from './rollout-harness';
import { getTestTemporal, installQuietTemporalRuntime, uniqueTaskQueue, workflowBundle, type TestTemporal } from './temporal';
import { eventually, startXdsHarness, type XdsHarness } from './xds-harness';
import { buildPktTool, cleanupLab, createPair, ensureBpffs, startAgent, type AgentProcess, type Pair } from '../tools/xdp-lab';

export const XDP_GROUP = 'edge';

/** Route `api` → api-a (region-a); api-b (region-b) defined, unused. */
export function twoRegionGraph(opts: { listenerPort: number; portA: number; portB: number }): RouteGraph {
  return RouteGraphSchema.parse({
    listeners: [{ name: 'main', address: '127.0.0.1', port: opts.listenerPort, virtualHosts: ['default'] }],
    virtualHosts: [{ name: 'default', domains: ['*'], routes: ['api'] }],
    routes: [{ name: 'api', match: { prefix: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'api-a', weight: 100 }] } }],
    clusters: [
      { name: 'api-a', endpoints: [{ address: '127.0.0.1', port: opts.portA, locality: { region: 'region-a', zone: 'a1' } }] },
      { name: 'api-b', endpoints: [{ address: '127.0.0.1', port: opts.portB, locality: { region: 'region-b', zone: 'b1' } }] },
    ],
    nodeGroups: [{ name: 'default', listeners: ['main'] }],
  });
}

/**
 * Route `api` → one cluster `api-ab` over both regions: region-a's upstream active (priority 0), region-b's
 * on standby (priority 1).
 */
export function oneClusterTwoLocalitiesGraph(base: RouteGraph): RouteGraph {
  const [a, b] = [base.clusters.find((c) => c.name === 'api-a')!, base.clusters.find((c) => c.name === 'api-b')!];
  return RouteGraphSchema.parse({
    ...base,
    routes: base.routes.map((r) => (r.name === 'api' ? { ...r, action: { kind: 'forward', clusters: [{ cluster: 'api-ab', weight: 100 }] } } : r)),
    clusters: [...base.clusters, { name: 'api-ab', endpoints: [{ ...a.endpoints[0]!, priority: 0 }, { ...b.endpoints[0]!, priority: 1 }] }],
  });
}

export interface PlaybookHarness {
  xds: XdsHarness;
  db: Db;
  envoy: RunningEnvoy;
  listenerPort: number;
  regionA: VersionedUpstream;
  regionB: VersionedUpstream;
  baseGraph: RouteGraph;
  temporal: TestTemporal;
  client: Client;
  taskQueue: string;
  tenant: Tenant;
  /** alice (approver, starts runs), bob (approver), with API tokens. */
  alice: TestMember & { token: string };
  bob: TestMember & { token: string };
  lab?: { pair: Pair; agent: AgentProcess; tool: string };
  /** Publishes the base graph again and waits until Envoy serves it (resets between tests). */
  reset(): Promise<void>;
  /** Publishes `graph` as a new live revision and waits until Envoy ACKed it. */
  publishGraph(graph: RouteGraph): Promise<void>;
  /** What Envoy serves for route `api`: "api-a=75,api-b=25" (zero weights left out). */
  servedWeights(): Promise<string | null>;
  startInProcessWorker(): Promise<void>;
  spawnWorker(): Promise<ChildProcess>;
  stop(): Promise<void>;
}

const LAB_PREFIX = 'pspb';

export async function startPlaybookHarness(opts: { xdp?: boolean } = {}): Promise<PlaybookHarness> {
  installQuietTemporalRuntime();
  const [xds, temporal] = await Promise.all([startXdsHarness(), getTestTemporal()]);
  const cleanups: (() => Promise<void> | void)[] = [() => temporal.stop(), () => xds.stop()];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    const [regionA, regionB] = await Promise.all([startVersionedUpstream('region-a'), startVersionedUpstream('region-b')]);
    cleanups.push(() => regionA.close(), () => regionB.close());
    const listenerPort = await freePort();
    const baseGraph = twoRegionGraph({ listenerPort, portA: regionA.port, portB: regionB.port });
    const versions = await xds.publish(baseGraph);

    const adminPort = await freePort();
    const bootstrap = envoyBootstrap({ nodeId: 'envoy-1', tenant: 'demo', nodeGroup: 'default', xdsHost: '127.0.0.1', xdsPort: xds.xds.grpcPort, adminPort });
    (bootstrap.node as { metadata: Record<string, string> }).metadata.admin_url = `http://127.0.0.1:${adminPort}`;
    bootstrap.stats_flush_interval = '1s';
    const envoy = await startEnvoy({ bootstrap, adminPort });
    cleanups.push(() => envoy.stop());
    await xds.ackedAll('envoy-1', versions.default!, 30_000);

    const connection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: temporal.namespace });
    const taskQueue = uniqueTaskQueue('playbook');
    const pst: ProxyShardTemporal = { client, connection, taskQueue };
    setPlaybookTemporal(async () => pst);
    cleanups.push(() => setPlaybookTemporal(undefined));

    const tenant = (await xds.db.tenant.findUniqueOrThrow({ where: { id: xds.tenantId } })) as Tenant;
    const alice = await makeMember(xds.db, tenant, 'approver', { username: 'alice' });
    const bob = await makeMember(xds.db, tenant, 'approver', { username: 'bob' });
    const withToken = async (m: TestMember) => ({ ...m, token: (await makeToken(xds.db, m)).secret });

    let lab: PlaybookHarness['lab'];
    if (opts.xdp) {
      ensureBpffs();
      cleanupLab(LAB_PREFIX);
      cleanups.push(() => cleanupLab(LAB_PREFIX));
      const tool = buildPktTool();
      const work = mkdtempSync(join(tmpdir(), `${LAB_PREFIX}-`));
      cleanups.push(() => rmSync(work, { recursive: true, force: true }));
      const pair = createPair(LAB_PREFIX, 0);
      const socket = join(work, 'agent-channel.sock');
      const channel = await startAgentChannelServer({
        db: xds.db,
        log: pino({ level: 'silent' }),
        databaseUrl: xds.tdb.url,
        address: `unix:${socket}`,
        programs: createProgramStore(),
        reportIntervalMs: 300,
        resyncIntervalMs: 1000,
      });
      cleanups.push(() => channel.stop());
      const agent = startAgent({
        nodeNs: pair.nodeNs,
        controlPlane: `unix:${socket}`,
        tenant: 'demo',
        nodeName: 'node-0',
        nodeGroup: XDP_GROUP,
        pinRoot: `/sys/fs/bpf/${LAB_PREFIX}/node-0`,
        stateDir: join(work, 'agent-state'),
        protect: ['198.18.200.0/24'],
        reportIntervalMs: 300,
      });
      cleanups.push(() => agent.kill('SIGTERM'));
      await eventually('agent connected', async () => (await xds.db.agent.findFirst({ where: { nodeName: 'node-0', connected: true } })) ?? undefined, 60_000, 200);
      lab = { pair, agent, tool };
    }

    let worker: Worker | undefined;
    let workerRun: Promise<void> | undefined;
    const children: ChildProcess[] = [];
    cleanups.push(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });

    const servedWeights = async () => {
      const dump = JSON.parse((await envoy.admin('/config_dump?resource=dynamic_route_configs')).body) as {
        configs: { route_config: { virtual_hosts: { routes: { name: string; route: { cluster?: string; weighted_clusters?: { clusters: { name: string; weight?: number }[] } } }[] }[] } }[];
      };
      for (const c of dump.configs) for (const vh of c.route_config.virtual_hosts) for (const r of vh.routes) if (r.name === 'api') {
        if (r.route.cluster) return `${r.route.cluster}=100`;
        return (r.route.weighted_clusters?.clusters ?? []).filter((x) => (x.weight ?? 0) > 0).map((x) => `${x.name}=${x.weight}`).join(',');
      }
      return null;
    };

    const publishGraph = async (graph: RouteGraph) => {
      // xds.publish numbers revisions itself; runs have created revisions since: number after the last one.
      const live = await xds.db.revision.findFirst({ where: { tenantId: xds.tenantId, state: 'live' } });
      const revisionId = await insertDerivedRevision(xds.db, { tenantId: xds.tenantId, parentId: live?.id ?? null, graph, graphHash: contentHash(graph), createdById: 'test:reset', message: 'reset' });
      const published = await publishRevision(xds.db, { tenantId: xds.tenantId, revisionId, actor: { type: 'system', id: 'test', name: 'test' } });
      await xds.ackedAll('envoy-1', published.snapshots.find((x) => x.nodeGroup === 'default')!.version, 30_000);
    };

    return {
      xds,
      db: xds.db,
      envoy,
      listenerPort,
      regionA,
      regionB,
      baseGraph,
      temporal,
      client,
      taskQueue,
      tenant,
      alice: await withToken(alice),
      bob: await withToken(bob),
      ...(lab ? { lab } : {}),
      servedWeights,
      publishGraph,
      reset: async () => {
        regionA.setErrorRatio(0);
        regionB.setErrorRatio(0);
        await publishGraph(baseGraph);
        await eventually('Envoy serves the base weights', async () => ((await servedWeights()) === 'api-a=100' ? true : undefined), 30_000, 100);
      },
      startInProcessWorker: async () => {
        const nativeConnection = await NativeConnection.connect({ address: temporal.address });
        const db = createDb(xds.tdb.url, { maxConnections: 20 });
        const metrics = createEnvoyStatsAdapter({ listAdmins: (tenantId, groups) => listProxyAdminUrls(db, tenantId, groups) });
        worker = await Worker.create({
          connection: nativeConnection,
          namespace: temporal.namespace,
          taskQueue,
          workflowBundle: await workflowBundle(),
          activities: {
            ...createPublishActivities({ db, publishRevision, appendAudit, pollIntervalMs: 100 }),
            ...createXdpActivities({ db }),
            ...createNotifyActivities({ db }),
            ...createPlaybookActivities({ db, publishRevision, appendAudit, metrics }),
          },
        });
        workerRun = worker.run();
        cleanups.push(async () => {
          if (worker && worker.getState() === 'RUNNING') worker.shutdown();
          await workerRun?.catch(() => undefined);
          await nativeConnection.close().catch(() => undefined);
          await db.$disconnect().catch(() => undefined);
        });
      },
      spawnWorker: () => spawnWorkerProcess({ databaseUrl: xds.tdb.url, temporal, taskQueue, children }),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export interface ClientLog {
  /** [time ms, HTTP status (0: connection error), upstream name] of every request. */
  entries: [number, number, string][];
  stop(): Promise<void>;
}

/** Keep-alive request loops to `/` through Envoy, bounded by `maxMs` and `maxRequests`. */
export function clientTraffic(port: number, opts: { parallel?: number; maxMs?: number; maxRequests?: number } = {}): ClientLog {
  const entries: [number, number, string][] = [];
  let stopped = false;
  const deadline = Date.now() + (opts.maxMs ?? 180_000);
  const maxRequests = opts.maxRequests ?? 200_000;
  const loops = [...Array(opts.parallel ?? 2).keys()].map(async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    while (!stopped && Date.now() < deadline && entries.length < maxRequests) {
      const entry = await new Promise<[number, number, string]>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path: '/', agent, timeout: 5000 }, (res) => {
          const v = res.headers['x-version'];
          res.resume();
          res.on('end', () => resolve([Date.now(), res.statusCode ?? 0, typeof v === 'string' ? v : '']));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', () => resolve([Date.now(), 0, '']));
        req.end();
      });
      entries.push(entry);
      // A few hundred requests per second are plenty; leave the CPU to Envoy and the worker.
      await new Promise((r) => setTimeout(r, 5));
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

/** Share of 2xx responses among the requests in [from, to]. */
export function successBetween(log: ClientLog, from: number, to: number): { rate: number; n: number } {
  const w = log.entries.filter(([t]) => t >= from && t <= to);
  return { rate: w.length === 0 ? NaN : w.filter(([, s]) => s >= 200 && s < 300).length / w.length, n: w.length };
}



/** POST /api/v1/playbooks; the new playbook's id. */
export async function createPlaybookAs(token: string, name: string, spec: unknown): Promise<string> {
  const res = await call(playbooksRoute.POST, { token, json: { name, spec } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.playbook.id as string;
}

/** POST /api/v1/playbooks/[id]/triggers; the new trigger's id. */
export async function createTriggerAs(token: string, playbookId: string, json: Record<string, unknown>): Promise<string> {
  const res = await call(triggersRoute.POST, { token, params: { id: playbookId }, json });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.trigger.id as string;
}
