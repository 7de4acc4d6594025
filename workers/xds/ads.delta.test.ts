/**
 * Incremental (delta) ADS semantics against a real gRPC server and client, with an in-memory proxy-state
 * store: wildcard and named subscriptions, per-resource versions, removed_resources, initial_resource_versions
 * after a reconnect, unsubscribe, and ACK/NACK by response_nonce + error_detail.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { TYPE_URL, type XdsSnapshot } from '../../core/xds/snapshot';
import type { ProxyConnection, ProxyConnectInput } from '../../server/db/proxy.repo';
import { richSnapshot } from '../../test/fixtures/route-graphs';
import { openDeltaAdsStream, type DeltaAdsTestStream } from '../../test/support/ads-client';
import { AdsServer, adsServiceDefinition, type ProxyStateStore } from './ads.server';
import { grpcServiceMethods, startGrpcServer, type RunningGrpcServer } from '../grpc/grpc-h2.server';
import { XdsMetrics } from './metrics';
import { loadXdsProtos, type DeltaDiscoveryResponse } from './protos';
import { SnapshotCache } from './snapshot-cache';

const protos = loadXdsProtos();

class MemoryStore implements ProxyStateStore {
  events: string[] = [];
  private n = 0;
  async connected(input: ProxyConnectInput): Promise<ProxyConnection> {
    this.events.push(`connect ${input.nodeId}`);
    return { proxyId: `p${++this.n}`, connectedAt: new Date() };
  }
  async disconnected(conn: ProxyConnection): Promise<void> {
    this.events.push(`disconnect ${conn.proxyId}`);
  }
  async sent(_proxyId: string, typeUrl: string, s: { version: string; nonce: string }): Promise<void> {
    this.events.push(`sent ${short(typeUrl)} ${s.version.slice(0, 8)} ${s.nonce}`);
  }
  async acked(_proxyId: string, typeUrl: string, version: string): Promise<void> {
    this.events.push(`ack ${short(typeUrl)} ${version.slice(0, 8)}`);
  }
  async nacked(_proxyId: string, typeUrl: string, n: { version: string; nonce: string; error: string }): Promise<void> {
    this.events.push(`nack ${short(typeUrl)} ${n.version.slice(0, 8)} ${n.nonce} ${n.error}`);
  }
}

const short = (typeUrl: string) => typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
const node = (id: string) => ({ id, cluster: 'test', metadata: { tenant: 'demo' }, user_agent_name: 'delta-test', user_agent_version: '1.0' });

const names = (res: DeltaDiscoveryResponse) => res.resources.map((r) => r.name);

async function until(cond: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ADS server (delta)', () => {
  let server: RunningGrpcServer;
  let ads: AdsServer;
  let cache: SnapshotCache;
  let store: MemoryStore;
  let address: string;
  const open: DeltaAdsTestStream[] = [];
  const v1 = richSnapshot();
  // Only the "app" endpoints change.
  const v2 = richSnapshot((g) => {
    g.clusters![0]!.endpoints[0]!.port = 9999;
  });
  // The "canary" cluster goes away (the split no longer names it).
  const v3 = richSnapshot((g) => {
    g.routes!.find((r) => r.name === 'split')!.action = { kind: 'forward', clusters: [{ cluster: 'app', weight: 1 }] };
  });

  const publish = (s: XdsSnapshot) => cache.set({ ...s, tenantId: 't-demo', nodeGroup: 'default' });

  before(async () => {
    store = new MemoryStore();
    cache = new SnapshotCache(protos);
    ads = new AdsServer({
      protos,
      cache,
      store,
      metrics: new XdsMetrics({ defaultMetrics: false }),
      log: pino({ level: 'silent' }),
      replica: 'test',
      resolveTenant: async (slug) => (slug === 'demo' ? 't-demo' : undefined),
    });
    // The transport the xds process serves ADS on, with grpc-js clients (an independent HTTP/2 implementation).
    server = await startGrpcServer({ host: '127.0.0.1', port: 0, methods: grpcServiceMethods(adsServiceDefinition(protos), ads.implementation()) });
    address = `127.0.0.1:${server.port}`;
  });

  beforeEach(() => {
    store.events = [];
    publish(v1);
  });

  after(async () => {
    for (const s of open) s.close();
    await ads.closeAll();
    await server.close(0);
  });

  const connect = () => {
    const { stream } = openDeltaAdsStream(address, protos);
    open.push(stream);
    return stream;
  };

  it('answers a wildcard CDS subscription with every cluster and its own version, then only what changed', async () => {
    const s = connect();
    s.send({ node: node('d1'), type_url: TYPE_URL.clusters });
    const first = await s.next();
    assert.equal(first.system_version_info, v1.typeVersions.clusters);
    assert.deepEqual(names(first), ['api', 'app', 'canary']);
    assert.deepEqual(first.removed_resources, []);
    for (const r of first.resources) {
      assert.match(r.version, /^[0-9a-f]{32}$/);
      assert.equal(r.resource.type_url, TYPE_URL.clusters);
    }
    assert.equal(new Set(first.resources.map((r) => r.version)).size, 3, 'each resource has its own version');
    s.send({ type_url: TYPE_URL.clusters, response_nonce: first.nonce });
    await s.expectNothing();

    // v2 changes endpoints only: the CDS version stays, so CDS gets no response at all.
    publish(v2);
    assert.equal(v2.typeVersions.clusters, v1.typeVersions.clusters);
    await s.expectNothing();

    // v3 drops "canary": removed_resources names it; unchanged clusters are not resent.
    publish(v3);
    const third = await s.next();
    assert.deepEqual(names(third), []);
    assert.deepEqual(third.removed_resources, ['canary']);
    s.send({ type_url: TYPE_URL.clusters, response_nonce: third.nonce });
    await s.expectNothing();
    assert.equal(third.system_version_info, v3.typeVersions.clusters);
    await until(() => store.events.filter((e) => e.startsWith('ack')).length === 2, 'two ACKs');
    assert.deepEqual(
      store.events.filter((e) => e.startsWith('ack')),
      [v1, v3].map((v) => `ack Cluster ${v.typeVersions.clusters.slice(0, 8)}`),
    );
  });

  it('sends named EDS resources on subscribe, nothing on unsubscribe, and reports names that do not exist', async () => {
    const s = connect();
    s.send({ node: node('d2'), type_url: TYPE_URL.endpoints, resource_names_subscribe: ['app', 'nope'] });
    const first = await s.next();
    assert.deepEqual(names(first), ['app']);
    assert.deepEqual(first.removed_resources, ['nope'], 'a subscribed name that does not exist');
    s.send({ type_url: TYPE_URL.endpoints, response_nonce: first.nonce, resource_names_subscribe: ['api'] });
    const second = await s.next();
    assert.deepEqual(names(second), ['api'], 'only the newly subscribed resource');
    assert.deepEqual(second.removed_resources, []);
    s.send({ type_url: TYPE_URL.endpoints, response_nonce: second.nonce, resource_names_unsubscribe: ['app'] });
    await s.expectNothing();

    publish(v2); // "app" changed, but it is no longer subscribed: an empty response with the new EDS version
    const third = await s.next();
    assert.deepEqual(names(third), []);
    assert.equal(third.system_version_info, v2.typeVersions.endpoints);

    s.send({ type_url: TYPE_URL.endpoints, response_nonce: third.nonce, resource_names_subscribe: ['app'] });
    const fourth = await s.next();
    assert.deepEqual(names(fourth), ['app'], 'subscribed again: sent again');
  });

  it('resyncs a reconnecting client from initial_resource_versions without resending what it has', async () => {
    const a = connect();
    a.send({ node: node('d3'), type_url: TYPE_URL.clusters });
    const first = await a.next();
    a.close();
    const have = Object.fromEntries(first.resources.map((r) => [r.name, r.version]));

    const b = connect();
    b.send({ node: node('d3'), type_url: TYPE_URL.clusters, initial_resource_versions: have });
    const again = await b.next();
    assert.equal(again.system_version_info, v1.typeVersions.clusters, 'same version, no config change');
    assert.deepEqual(names(again), [], 'nothing resent');
    assert.deepEqual(again.removed_resources, []);

    // A client that has a stale "app" and a cluster the snapshot does not hold.
    const c = connect();
    c.send({ node: node('d4'), type_url: TYPE_URL.clusters, initial_resource_versions: { ...have, app: 'old', gone: 'x' } });
    const fix = await c.next();
    assert.deepEqual(names(fix), ['app']);
    assert.deepEqual(fix.removed_resources, ['gone']);
  });

  it('records a NACK by nonce with the error and does not resend; later responses are ACKed by their nonce', async () => {
    const s = connect();
    s.send({ node: node('d5'), type_url: TYPE_URL.listeners });
    const first = await s.next();
    assert.deepEqual(names(first), ['web', 'web-v6']);
    s.send({ type_url: TYPE_URL.listeners, response_nonce: first.nonce, error_detail: { code: 3, message: 'cannot bind' } });
    await s.expectNothing();
    await until(() => store.events.some((e) => e.startsWith('nack')), 'nack');
    assert.ok(store.events.includes(`nack Listener ${v1.typeVersions.listeners.slice(0, 8)} ${first.nonce} cannot bind`), store.events.join('\n'));

    // An answer to an unknown nonce records nothing.
    const before = store.events.length;
    s.send({ type_url: TYPE_URL.listeners, response_nonce: 'nope-1' });
    await s.expectNothing();
    assert.equal(store.events.length, before);
  });

  it('pushes a new snapshot in the order clusters, endpoints, listeners, routes', async () => {
    const s = connect();
    s.send({ node: node('d6'), type_url: TYPE_URL.listeners });
    await s.next();
    s.send({ type_url: TYPE_URL.routes, resource_names_subscribe: ['web'] });
    await s.next();
    s.send({ type_url: TYPE_URL.endpoints, resource_names_subscribe: ['app'] });
    await s.next();
    s.send({ type_url: TYPE_URL.clusters });
    await s.next();
    publish(richSnapshot((g) => {
      g.clusters![0]!.endpoints[0]!.port = 9998;
      g.clusters![0]!.connectTimeoutMs = 2000;
      g.routes![0]!.match = { path: '/elsewhere' };
      g.listeners![0]!.protocol = 'http1';
    }));
    const order: string[] = [];
    for (let i = 0; i < 4; i++) order.push((await s.next()).type_url);
    assert.deepEqual(order, [TYPE_URL.clusters, TYPE_URL.endpoints, TYPE_URL.listeners, TYPE_URL.routes]);
  });
});
