/**
 * ADS protocol semantics against a real gRPC server and client, with an in-memory proxy-state store.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { TYPE_URL, type XdsSnapshot } from '../../core/xds/snapshot';
import type { ProxyConnection, ProxyConnectInput } from '../../server/db/proxy.repo';
import { richSnapshot } from '../../test/fixtures/route-graphs';
import { openAdsStream, type AdsTestStream } from '../../test/support/ads-client';
import { AdsServer, adsServiceDefinition, type ProxyStateStore } from './ads.server';
import { grpcServiceMethods, startGrpcServer, type RunningGrpcServer } from '../grpc/grpc-h2.server';
import { XdsMetrics } from './metrics';
import { loadXdsProtos } from './protos';
import { SnapshotCache } from './snapshot-cache';

const protos = loadXdsProtos();
const TENANTS: Record<string, string> = { demo: 't-demo', other: 't-other' };

class MemoryStore implements ProxyStateStore {
  events: string[] = [];
  connects: ProxyConnectInput[] = [];
  private n = 0;
  async connected(input: ProxyConnectInput): Promise<ProxyConnection> {
    this.connects.push(input);
    this.events.push(`connect ${input.nodeId}`);
    return { proxyId: `p${++this.n}`, connectedAt: new Date() };
  }
  async disconnected(conn: ProxyConnection): Promise<void> {
    this.events.push(`disconnect ${conn.proxyId}`);
  }
  async sent(proxyId: string, typeUrl: string, s: { version: string; nonce: string }): Promise<void> {
    this.events.push(`sent ${proxyId} ${short(typeUrl)} ${s.version.slice(0, 8)} ${s.nonce}`);
  }
  async acked(proxyId: string, typeUrl: string, version: string): Promise<void> {
    this.events.push(`ack ${proxyId} ${short(typeUrl)} ${version.slice(0, 8)}`);
  }
  async nacked(proxyId: string, typeUrl: string, n: { version: string; nonce: string; error: string }): Promise<void> {
    this.events.push(`nack ${proxyId} ${short(typeUrl)} ${n.version.slice(0, 8)} ${n.nonce} ${n.error}`);
  }
}

function short(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}

const node = (id: string, metadata: Record<string, unknown> = {}) => ({
  id,
  cluster: 'test',
  metadata,
  user_agent_name: 'ads-test',
  user_agent_version: '1.0',
});

const names = (res: { resources: { type_url: string; value: Uint8Array }[] }) =>
  res.resources.map((r) => {
    const d = protos.decodeAny(r);
    return String(d.name ?? d.cluster_name);
  });

/** Waits until `cond` holds (bounded). */
async function until(cond: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ADS server (state of the world)', () => {
  let server: RunningGrpcServer;
  let ads: AdsServer;
  let cache: SnapshotCache;
  let store: MemoryStore;
  let address: string;
  const open: { stream: AdsTestStream }[] = [];
  const v1 = richSnapshot();
  const v2 = richSnapshot((g) => {
    g.clusters![0]!.endpoints[0]!.port = 9999; // endpoints change
    g.routes![0]!.match = { path: '/older' }; // routes change
  });
  // Every type changes.
  const v3 = richSnapshot((g) => {
    g.clusters![1]!.connectTimeoutMs = 300;
    g.clusters![0]!.endpoints[0]!.port = 9998;
    g.listeners![0]!.port = 8090;
    g.routes![0]!.match = { path: '/oldest' };
  });

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
      resolveTenant: async (slug) => TENANTS[slug],
    });
    // The transport the xds process serves ADS on, with grpc-js clients (an independent HTTP/2 implementation).
    server = await startGrpcServer({ host: '127.0.0.1', port: 0, methods: grpcServiceMethods(adsServiceDefinition(protos), ads.implementation()) });
    address = `127.0.0.1:${server.port}`;
  });

  beforeEach(() => {
    store.events = [];
    store.connects = [];
    cache.set({ ...v1, tenantId: 't-demo', nodeGroup: 'default' });
  });

  after(async () => {
    for (const o of open) o.stream.close();
    await ads.closeAll();
    await server.close(0);
  });

  const connect = () => {
    const o = openAdsStream(address, protos);
    open.push(o);
    return o.stream;
  };

  it('answers a new subscription with all clusters, then holds after the ACK', async () => {
    const s = connect();
    s.send({ node: node('n1', { tenant: 'demo', node_group: 'default' }), type_url: TYPE_URL.clusters });
    const res = await s.next();
    assert.equal(res.type_url, TYPE_URL.clusters);
    assert.equal(res.version_info, v1.typeVersions.clusters);
    assert.notEqual(res.nonce, '');
    assert.deepEqual(names(res), ['api', 'app', 'canary']);
    s.send({ type_url: TYPE_URL.clusters, version_info: res.version_info, response_nonce: res.nonce });
    await s.expectNothing();
    await until(() => store.events.some((e) => e.startsWith('ack')), 'ack');
    assert.equal(store.events.length, 3, store.events.join('\n'));
    assert.equal(store.events[0], 'connect n1');
    assert.match(store.events[1]!, new RegExp(`^sent p\\d+ Cluster ${v1.typeVersions.clusters.slice(0, 8)} ${res.nonce}$`));
    assert.match(store.events[2]!, new RegExp(`^ack p\\d+ Cluster ${v1.typeVersions.clusters.slice(0, 8)}$`));
    assert.deepEqual(
      { tenantId: store.connects[0]!.tenantId, nodeGroup: store.connects[0]!.nodeGroup, userAgent: store.connects[0]!.userAgent },
      { tenantId: 't-demo', nodeGroup: 'default', userAgent: 'ads-test/1.0' },
    );
    s.close();
  });

  it('sends RDS/EDS exactly the requested names and answers when the names change', async () => {
    const s = connect();
    s.send({ node: node('n2'), type_url: TYPE_URL.endpoints, resource_names: ['app', 'nope'] });
    const first = await s.next();
    assert.deepEqual(names(first), ['app']);
    s.send({ type_url: TYPE_URL.endpoints, response_nonce: first.nonce, version_info: first.version_info, resource_names: ['app', 'api'] });
    const second = await s.next();
    assert.equal(second.version_info, first.version_info);
    assert.deepEqual(names(second), ['api', 'app']);
    s.send({ type_url: TYPE_URL.endpoints, response_nonce: second.nonce, version_info: second.version_info, resource_names: ['api', 'app'] });
    await s.expectNothing();

    s.send({ type_url: TYPE_URL.routes, resource_names: ['web-v6'] });
    const rds = await s.next();
    assert.deepEqual(names(rds), ['web-v6']);
    s.close();
  });

  it('treats LDS/CDS with no names or "*" as wildcard', async () => {
    const s = connect();
    s.send({ node: node('n3'), type_url: TYPE_URL.listeners, resource_names: ['*'] });
    assert.deepEqual(names(await s.next()), ['web', 'web-v6']);
    s.close();
  });

  it('pushes the types a new snapshot changed, in the order clusters, endpoints, listeners, routes, once per type', async () => {
    const s = connect();
    const subscribe = async (typeUrl: string, resourceNames: string[] = []) => {
      s.send({ ...(typeUrl === TYPE_URL.listeners ? { node: node('n4') } : {}), type_url: typeUrl, resource_names: resourceNames });
      const res = await s.next();
      s.send({ type_url: typeUrl, response_nonce: res.nonce, version_info: res.version_info, resource_names: resourceNames });
      return res;
    };
    // Subscribe in the "wrong" order on purpose.
    await subscribe(TYPE_URL.listeners);
    await subscribe(TYPE_URL.routes, ['web', 'web-v6']);
    await subscribe(TYPE_URL.endpoints, ['api', 'app', 'canary']);
    await subscribe(TYPE_URL.clusters);
    await s.expectNothing(200);

    const subscribed: Record<string, string[]> = {
      [TYPE_URL.routes]: ['web', 'web-v6'],
      [TYPE_URL.endpoints]: ['api', 'app', 'canary'],
    };
    const kindOf = { [TYPE_URL.clusters]: 'clusters', [TYPE_URL.endpoints]: 'endpoints', [TYPE_URL.listeners]: 'listeners', [TYPE_URL.routes]: 'routes' } as const;
    const pushed = async (snapshot: XdsSnapshot, n: number): Promise<string[]> => {
      cache.set({ ...snapshot, tenantId: 't-demo', nodeGroup: 'default' });
      const order: string[] = [];
      for (let i = 0; i < n; i++) {
        const res = await s.next();
        assert.equal(res.version_info, snapshot.typeVersions[kindOf[res.type_url as keyof typeof kindOf]]);
        order.push(res.type_url);
        // An ACK repeats the subscribed names (an EDS/RDS request without names would unsubscribe).
        s.send({ type_url: res.type_url, response_nonce: res.nonce, version_info: res.version_info, resource_names: subscribed[res.type_url] ?? [] });
      }
      await s.expectNothing();
      return order;
    };
    // v2 changes endpoints and routes only: CDS and LDS are not resent.
    assert.equal(v2.typeVersions.clusters, v1.typeVersions.clusters);
    assert.equal(v2.typeVersions.listeners, v1.typeVersions.listeners);
    assert.deepEqual(await pushed(v2, 2), [TYPE_URL.endpoints, TYPE_URL.routes]);
    assert.deepEqual(await pushed(v3, 4), [TYPE_URL.clusters, TYPE_URL.endpoints, TYPE_URL.listeners, TYPE_URL.routes]);

    // Same content again: nothing to send.
    assert.equal(cache.set({ ...v3, tenantId: 't-demo', nodeGroup: 'default' }), false);
    await s.expectNothing();
    s.close();
  });

  it('records a NACK with its nonce, the version it rejected and the error, and does not resend', async () => {
    const s = connect();
    s.send({ node: node('n5'), type_url: TYPE_URL.listeners });
    const res = await s.next();
    s.send({
      type_url: TYPE_URL.listeners,
      response_nonce: res.nonce,
      version_info: '', // a client reports its previous version on a NACK
      error_detail: { code: 3, message: 'cannot bind 0.0.0.0:8080' },
    });
    await s.expectNothing();
    await until(() => store.events.some((e) => e.startsWith('nack')), 'nack');
    const nack = store.events.find((e) => e.startsWith('nack'))!;
    assert.match(nack, new RegExp(`^nack p\\d+ Listener ${v1.typeVersions.listeners.slice(0, 8)} ${res.nonce} cannot bind 0.0.0.0:8080$`));
    assert.ok(!store.events.some((e) => e.startsWith('ack')));

    cache.set({ ...v3, tenantId: 't-demo', nodeGroup: 'default' });
    const next = await s.next();
    assert.equal(next.version_info, v3.typeVersions.listeners);
    s.close();
  });

  it('ignores requests with a stale nonce', async () => {
    const s = connect();
    s.send({ node: node('n6'), type_url: TYPE_URL.clusters });
    const first = await s.next();
    s.send({ type_url: TYPE_URL.clusters, response_nonce: first.nonce, version_info: first.version_info });
    cache.set({ ...v3, tenantId: 't-demo', nodeGroup: 'default' });
    const second = await s.next();
    assert.notEqual(second.nonce, first.nonce);
    // A request answering the first response (e.g. crossed on the wire) neither ACKs nor triggers a response.
    store.events = [];
    s.send({ type_url: TYPE_URL.clusters, response_nonce: first.nonce, version_info: first.version_info, error_detail: { code: 3, message: 'old' } });
    await s.expectNothing();
    assert.deepEqual(store.events, []);
    s.close();
  });

  it('holds requests until the node group has a snapshot', async () => {
    const s = connect();
    s.send({ node: node('n7', { node_group: 'later' }), type_url: TYPE_URL.clusters });
    await s.expectNothing();
    cache.set({ ...v1, tenantId: 't-demo', nodeGroup: 'later' });
    const res = await s.next();
    assert.equal(res.version_info, v1.typeVersions.clusters);
    s.close();
  });

  it('refuses proxies of an unknown tenant and streams without a node', async () => {
    const s = connect();
    s.send({ node: node('n8', { tenant: 'nope' }), type_url: TYPE_URL.clusters });
    const status = await s.status;
    assert.equal(status.code, grpc.status.NOT_FOUND);
    assert.match(status.details, /unknown tenant "nope"/);

    const t = connect();
    t.send({ type_url: TYPE_URL.clusters });
    assert.equal((await t.status).code, grpc.status.INVALID_ARGUMENT);
  });

  it('records the disconnect when the client goes away', async () => {
    const s = connect();
    s.send({ node: node('n9', { tenant: 'other' }), type_url: TYPE_URL.clusters });
    await s.expectNothing(); // no snapshot for tenant "other"
    await until(() => store.events.includes('connect n9'), 'connect');
    assert.equal(store.connects.at(-1)!.tenantId, 't-other');
    s.close();
    await until(() => store.events.some((e) => e.startsWith('disconnect')), 'disconnect');
    await until(() => ads.openStreams === 0, 'stream cleanup');
  });
});
