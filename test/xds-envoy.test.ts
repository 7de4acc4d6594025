/**
 * The xDS path end to end: real PostgreSQL, publishRevision, the xds server (in process), a real Envoy
 * bootstrapped to it, demo upstreams — traffic through Envoy follows published revisions without restarting
 * Envoy, and a revision Envoy rejects is recorded as a NACK while Envoy keeps serving the last good config.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { RouteGraph } from '../contracts/route-graph.schema';
import { demoRouteGraph } from '../core/demo-graph';
import { contentHash, TYPE_URL, typeVersionsByUrl } from '../core/xds/snapshot';
import type { Db } from '../server/db/client';
import { findProxy, type ProxyStatus } from '../server/db/proxy.repo';
import { findLatestSnapshot, findSnapshotByVersion } from '../server/db/snapshot.repo';
import { listProxyStatus } from '../server/services/proxy-status.service';
import { publishRevision } from '../server/services/publish.service';
import { freePort } from '../scripts/lib/ports';
import { startDemoUpstream, type DemoUpstream } from '../scripts/demo/upstream';
import { envoyBootstrap } from '../workers/envoy/bootstrap';
import { startEnvoy, type RunningEnvoy } from '../workers/envoy/envoy.process';
import { loadXdsProtos } from '../workers/xds/protos';
import { startXdsServer, type RunningXdsServer } from '../workers/xds/xds.server';
import { openAdsStream } from './support/ads-client';
import { createTestDatabase, type TestDatabase } from './support/db';

const NODE_ID = 'test-envoy';
const ALL_TYPES = [TYPE_URL.listeners, TYPE_URL.routes, TYPE_URL.clusters, TYPE_URL.endpoints];

let tdb: TestDatabase;
let db: Db;
let tenantId: string;
let upstreams: DemoUpstream[] = [];
let xds: RunningXdsServer | undefined;
let envoy: RunningEnvoy | undefined;
let blocker: Server | undefined;
let listenerPort: number;
let revisionNumber = 0;

async function publish(graph: RouteGraph): Promise<string> {
  revisionNumber += 1;
  const rev = await db.revision.create({
    data: { tenantId, number: revisionNumber, state: 'proposed', graph, graphHash: contentHash(graph), createdById: 'test' },
  });
  const result = await publishRevision(db, { tenantId, revisionId: rev.id });
  const version = result.snapshots.find((s) => s.nodeGroup === 'default')?.version;
  assert.ok(version);
  return version;
}

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${listenerPort}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

/** Polls `probe` until it returns a value (bounded); returns the value. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}\nenvoy log:\n${envoy?.logs().slice(-15).join('\n') ?? ''}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function proxy(): Promise<ProxyStatus> {
  const p = await findProxy(db, tenantId, NODE_ID);
  assert.ok(p, 'proxy row');
  return p;
}

/** Per type URL, the version each type of snapshot `version` carries (what Envoy is sent and ACKs). */
async function typeVersions(version: string): Promise<Record<string, string>> {
  const s = await findSnapshotByVersion(db, tenantId, 'default', version);
  assert.ok(s, `snapshot ${version.slice(0, 12)}`);
  return typeVersionsByUrl(s.typeVersions);
}

/** Every xDS type ACKed at snapshot `version` (each at its type version). */
function ackedAll(version: string) {
  return async () => {
    const [p, want] = await Promise.all([proxy(), typeVersions(version)]);
    const acked = ALL_TYPES.every((t) => p.resources.find((r) => r.typeUrl === t)?.ackedVersion === want[t]);
    return acked ? p : undefined;
  };
}

/** Responses of one type sent so far (the xds metrics). */
async function pushes(type: 'clusters' | 'endpoints' | 'listeners' | 'routes'): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${xds!.httpPort}/metrics`)).text();
  return Number(new RegExp(`^proxyshard_xds_pushes_total\\{type="${type}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
}

describe('xDS to a real Envoy', () => {
  before(async () => {
    tdb = await createTestDatabase();
    db = tdb.db;
    tenantId = (await db.tenant.create({ data: { slug: 'demo', name: 'Demo' } })).id;
    upstreams = [await startDemoUpstream({ port: 0, name: 'one' }), await startDemoUpstream({ port: 0, name: 'two' })];
    listenerPort = await freePort();
    xds = await startXdsServer({
      db,
      databaseUrl: tdb.url,
      grpcPort: 0,
      httpPort: 0,
      log: pino({ level: 'silent' }),
      replica: 'test-replica',
      defaultMetrics: false,
    });
  });

  after(async () => {
    await envoy?.stop();
    await xds?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    await tdb?.drop();
  });

  let goodVersion: string;
  let goodGraph: RouteGraph;

  it('serves the published demo graph: traffic reaches both demo upstreams', async () => {
    const graph = demoRouteGraph({ listenerPort, upstreamPorts: upstreams.map((u) => u.port), listenerAddress: '127.0.0.1' });
    const version = await publish(graph);

    const adminPort = await freePort();
    envoy = await startEnvoy({
      bootstrap: envoyBootstrap({ nodeId: NODE_ID, tenant: 'demo', nodeGroup: 'default', xdsHost: '127.0.0.1', xdsPort: xds!.grpcPort, adminPort }),
      adminPort,
    });

    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const { status, body } = await eventually('the demo listener', async () => get('/some/path'));
      assert.equal(status, 200);
      const m = /^hello from demo upstream (one|two) \(port (\d+)\)\n$/.exec(body);
      assert.ok(m, `unexpected body ${JSON.stringify(body)}`);
      seen.add(m[1]!);
    }
    assert.deepEqual([...seen].sort(), ['one', 'two'], 'round robin over both endpoints');

    const p = await eventually('ACKs of the first version', ackedAll(version));
    assert.equal(p.connected, true);
    assert.equal(p.nodeGroup, 'default');
    assert.equal(p.replica, 'test-replica');
    assert.match(p.userAgent, /^envoy\/1\.\d+\.\d+$/);
    assert.deepEqual(p.metadata, { tenant: 'demo', node_group: 'default' });
    const want = await typeVersions(version);
    for (const r of p.resources) {
      assert.equal(r.sentVersion, want[r.typeUrl]);
      assert.notEqual(r.sentNonce, '');
      assert.equal(r.nackError, null);
    }

    const health = await fetch(`http://127.0.0.1:${xds!.httpPort}/healthz`);
    assert.equal(health.status, 200);
    const metrics = await (await fetch(`http://127.0.0.1:${xds!.httpPort}/metrics`)).text();
    assert.match(metrics, /^proxyshard_xds_connected_proxies 1$/m);
    assert.match(metrics, /^proxyshard_xds_acks_total\{type="listeners"\} [1-9]/m);
    goodVersion = version;
  });

  it('applies a new revision without restarting Envoy', async () => {
    const pid = envoy!.pid;
    const graph = demoRouteGraph({ listenerPort, upstreamPorts: [upstreams[1]!.port], listenerAddress: '127.0.0.1' });
    graph.routes.unshift({
      name: 'hello',
      match: { path: '/hello', headers: [], queryParameters: [] },
      action: { kind: 'directResponse', status: 418, body: 'hello from envoy\n' },
    });
    graph.virtualHosts[0]!.routes.unshift('hello');
    // A changed cluster is re-created by Envoy and must get its endpoints again (EDS after CDS).
    graph.clusters[0]!.lbPolicy = 'leastRequest';
    const t0 = Date.now();
    const version = await publish(graph);
    assert.notEqual(version, goodVersion);

    await eventually('the direct response route', async () => {
      const r = await get('/hello');
      return r.status === 418 && r.body === 'hello from envoy\n' ? r : undefined;
    });
    // Only upstream "two" is left in the cluster.
    await eventually('endpoint update', async () => {
      const bodies = await Promise.all([1, 2, 3, 4].map(() => get('/')));
      return bodies.every((b) => b.body.startsWith('hello from demo upstream two')) ? bodies : undefined;
    });
    // Well below Envoy's 15 s initial_fetch_timeout, which would hide a cluster stuck warming.
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    await eventually('ACKs of the second version', ackedAll(version));
    assert.equal(envoy!.pid, pid);
    assert.match((await envoy!.admin('/server_info')).body, /"state": "LIVE"/);

    // Publishing the same content again changes nothing.
    await publish(structuredClone(graph)).then((v) => assert.equal(v, version));
    goodVersion = version;
    goodGraph = graph;
  });

  it('a route-only change reaches Envoy as one RDS update; CDS, EDS and LDS are not resent and stay synced', async () => {
    const before = await proxy();
    const sentNonce = (t: string, p: ProxyStatus) => p.resources.find((r) => r.typeUrl === t)!.sentNonce;
    const pushesBefore = { clusters: await pushes('clusters'), endpoints: await pushes('endpoints'), listeners: await pushes('listeners'), routes: await pushes('routes') };
    const graph = structuredClone(goodGraph);
    const hello = graph.routes.find((r) => r.name === 'hello')!;
    hello.action = { kind: 'directResponse', status: 418, body: 'hello again\n' };
    const version = await publish(graph);
    const [oldTypes, newTypes] = [await typeVersions(goodVersion), await typeVersions(version)];
    assert.notEqual(newTypes[TYPE_URL.routes], oldTypes[TYPE_URL.routes]);
    for (const t of [TYPE_URL.clusters, TYPE_URL.endpoints, TYPE_URL.listeners]) assert.equal(newTypes[t], oldTypes[t], `${t} unchanged`);

    await eventually('the changed direct response', async () => ((await get('/hello')).body === 'hello again\n' ? true : undefined));
    const after = await eventually('ACKs of the route-only version', ackedAll(version));

    // What Envoy holds, from its own config dump: the routes at the new version, clusters and listeners at the
    // old one (Envoy's dump has no version for EDS; the EDS check is the xds side below).
    type Versioned = { version_info: string };
    const dump = JSON.parse((await envoy!.admin('/config_dump')).body) as {
      configs: {
        '@type': string;
        dynamic_route_configs?: Versioned[];
        dynamic_active_clusters?: Versioned[];
        dynamic_listeners?: { active_state: Versioned }[];
      }[];
    };
    const section = (name: string) => dump.configs.find((c) => c['@type'] === `type.googleapis.com/envoy.admin.v3.${name}`)!;
    assert.deepEqual(section('RoutesConfigDump').dynamic_route_configs?.map((r) => r.version_info), [newTypes[TYPE_URL.routes]]);
    const clusters = section('ClustersConfigDump').dynamic_active_clusters ?? [];
    const listeners = section('ListenersConfigDump').dynamic_listeners ?? [];
    assert.ok(clusters.length > 0 && listeners.length > 0, 'Envoy holds dynamic clusters and listeners');
    for (const c of clusters) assert.equal(c.version_info, oldTypes[TYPE_URL.clusters]);
    for (const l of listeners) assert.equal(l.active_state.version_info, oldTypes[TYPE_URL.listeners]);

    // The xds side: one more RDS response, none of the other types; every type SYNCED in proxy status.
    assert.notEqual(sentNonce(TYPE_URL.routes, after), sentNonce(TYPE_URL.routes, before));
    for (const t of [TYPE_URL.clusters, TYPE_URL.endpoints, TYPE_URL.listeners]) assert.equal(sentNonce(t, after), sentNonce(t, before), `no new ${t} response`);
    assert.equal(await pushes('routes'), pushesBefore.routes + 1);
    assert.equal(await pushes('clusters'), pushesBefore.clusters);
    assert.equal(await pushes('endpoints'), pushesBefore.endpoints);
    assert.equal(await pushes('listeners'), pushesBefore.listeners);
    const status = (await listProxyStatus(db, tenantId)).find((p) => p.nodeId === NODE_ID)!;
    assert.equal(status.latestVersion, version);
    assert.deepEqual(
      status.types.map((t) => [t.type, t.status, t.ackedVersion === newTypes[t.typeUrl]]),
      [['CDS', 'SYNCED', true], ['EDS', 'SYNCED', true], ['LDS', 'SYNCED', true], ['RDS', 'SYNCED', true]],
    );
    goodVersion = version;
    goodGraph = graph;
  });

  it('records a NACK with Envoy’s error while Envoy keeps serving the last good config', async () => {
    // A listener on a port something else holds: valid as a graph, but Envoy cannot bind it.
    blocker = createServer();
    const blockedPort = await new Promise<number>((resolve) => {
      blocker!.listen(0, '127.0.0.1', () => resolve((blocker!.address() as { port: number }).port));
    });
    const bad = structuredClone(goodGraph);
    bad.listeners.push({ name: 'blocked', address: '127.0.0.1', port: blockedPort, protocol: 'auto', virtualHosts: ['demo'] });
    bad.nodeGroups[0]!.listeners.push('blocked');
    const badVersion = await publish(bad);

    const p = await eventually('the NACK of the listener update', async () => {
      const row = (await proxy()).resources.find((r) => r.typeUrl === TYPE_URL.listeners);
      return row?.nackError ? row : undefined;
    });
    const [badTypes, goodTypes] = [await typeVersions(badVersion), await typeVersions(goodVersion)];
    assert.equal(p.nackVersion, badTypes[TYPE_URL.listeners]);
    assert.equal(p.nackNonce, p.sentNonce, 'the NACK answers the last listener response');
    assert.equal(p.sentVersion, badTypes[TYPE_URL.listeners]);
    assert.equal(p.ackedVersion, goodTypes[TYPE_URL.listeners], 'the last ACKed listener version is still the good one');
    assert.match(p.nackError!, new RegExp(`blocked|${blockedPort}`));
    assert.match(p.nackError!, /bind|address already in use/i);

    // Envoy still serves the previous configuration.
    assert.deepEqual(await get('/hello'), { status: 418, body: 'hello again\n' });
    assert.match((await get('/')).body, /^hello from demo upstream two/);
    const metrics = await (await fetch(`http://127.0.0.1:${xds!.httpPort}/metrics`)).text();
    assert.match(metrics, /^proxyshard_xds_nacks_total\{type="listeners"\} [1-9]/m);
  });

  it('a replica started later serves the latest snapshots from PostgreSQL', async () => {
    const latest = await findLatestSnapshot(db, tenantId, 'default');
    assert.ok(latest);
    const late = await startXdsServer({ db, databaseUrl: tdb.url, grpcPort: 0, httpPort: null, log: pino({ level: 'silent' }), defaultMetrics: false });
    const { stream } = openAdsStream(`127.0.0.1:${late.grpcPort}`, loadXdsProtos());
    try {
      assert.equal(late.cache.get(tenantId, 'default')?.version, latest.version);
      stream.send({ node: { id: 'late-client', metadata: { tenant: 'demo' } }, type_url: TYPE_URL.listeners });
      const res = await stream.next();
      assert.equal(res.version_info, latest.typeVersions.listeners);
      assert.equal(res.resources.length, 2, 'demo and blocked');
    } finally {
      stream.close();
      await late.stop();
    }
  });

  it('marks the proxy disconnected when Envoy goes away', async () => {
    await envoy!.stop();
    await eventually('connected=false', async () => ((await proxy()).connected ? undefined : true), 10_000);
    const metrics = await (await fetch(`http://127.0.0.1:${xds!.httpPort}/metrics`)).text();
    assert.match(metrics, /^proxyshard_xds_connected_proxies 0$/m);
  });
});
