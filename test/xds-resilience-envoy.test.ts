/**
 * Both xDS protocols against real Envoy, and the control plane going away: one Envoy on state of the world,
 * one on delta (api_type DELTA_GRPC), served by one revision; weight changes and a NACK on both; `xds`
 * restarted under a steady load of ≥ 100 requests/s through both Envoys loses no request, and the Envoys
 * reconnect and resync without a configuration change; two replicas on one database serve identical versions.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RouteGraphInput } from '../contracts/route-graph.schema';
import { TYPE_URL } from '../core/xds/snapshot';
import { freePort } from '../scripts/lib/ports';
import { startDemoUpstream, type DemoUpstream } from '../scripts/demo/upstream';
import { listProxyStatus } from '../server/services/proxy-status.service';
import type { RunningEnvoy } from '../workers/envoy/envoy.process';
import { loadXdsProtos } from '../workers/xds/protos';
import type { RunningXdsServer } from '../workers/xds/xds.server';
import { openAdsStream, openDeltaAdsStream } from './support/ads-client';
import { eventually, keepAliveClient, startXdsHarness, upstreamOf, type XdsHarness } from './support/xds-harness';

let h: XdsHarness;
let xdsPort: number;
const upstreams: DemoUpstream[] = [];
const envoys: Record<'sotw' | 'delta', RunningEnvoy> = {} as never;
const ports: Record<'sotw' | 'delta', number> = { sotw: 0, delta: 0 };
const clients = {} as Record<'sotw' | 'delta', ReturnType<typeof keepAliveClient>>;
let blocker: Server | undefined;

function graph(weights: [number, number], extra?: (g: RouteGraphInput) => void): RouteGraphInput {
  const g: RouteGraphInput = {
    listeners: [
      { name: 'sotw', address: '127.0.0.1', port: ports.sotw, virtualHosts: ['all'] },
      { name: 'delta', address: '127.0.0.1', port: ports.delta, virtualHosts: ['all'] },
    ],
    virtualHosts: [{ name: 'all', domains: ['*'], routes: ['split'] }],
    routes: [
      {
        name: 'split',
        match: { prefix: '/' },
        action: { kind: 'forward', clusters: [{ cluster: 'one', weight: weights[0] }, { cluster: 'two', weight: weights[1] }] },
      },
    ],
    clusters: [
      { name: 'one', endpoints: [{ address: '127.0.0.1', port: upstreams[0]!.port }] },
      { name: 'two', endpoints: [{ address: '127.0.0.1', port: upstreams[1]!.port }] },
    ],
    nodeGroups: [
      { name: 'default', listeners: ['sotw'] },
      { name: 'delta', listeners: ['delta'] },
    ],
  };
  extra?.(g);
  return g;
}

/** Which upstreams answer `n` requests through each Envoy. */
async function answers(n: number): Promise<Record<'sotw' | 'delta', Set<string>>> {
  const out = { sotw: new Set<string>(), delta: new Set<string>() };
  for (const kind of ['sotw', 'delta'] as const) {
    for (let i = 0; i < n; i++) {
      const r = await clients[kind].get('/');
      assert.equal(r.status, 200, `${kind}: ${r.body}`);
      out[kind].add(upstreamOf(r.body) ?? r.body);
    }
  }
  return out;
}

async function stat(envoy: RunningEnvoy, name: string): Promise<string> {
  const body = (await envoy.admin(`/stats?filter=^${name.replace(/\./g, '\\.')}$`)).body;
  const m = new RegExp(`^${name.replace(/\./g, '\\.')}: (.*)$`, 'm').exec(body);
  assert.ok(m, `stat ${name} in ${body}`);
  return m[1]!.replace(/^"|"$/g, '');
}

/** The version of one type in snapshot `version` of `nodeGroup` (what Envoy is sent and ACKs of that type). */
async function typeVersion(version: string, nodeGroup: string, typeUrl: string): Promise<string> {
  return (await h.typeVersions(version, nodeGroup))[typeUrl]!;
}

/** The config state of an Envoy that must not change across an xds restart. */
async function configState(envoy: RunningEnvoy) {
  return {
    lds: await stat(envoy, 'listener_manager.lds.version_text'),
    cds: await stat(envoy, 'cluster_manager.cds.version_text'),
    listenersModified: await stat(envoy, 'listener_manager.listener_modified'),
    listenersAdded: await stat(envoy, 'listener_manager.listener_added'),
    clustersModified: await stat(envoy, 'cluster_manager.cluster_modified'),
    clustersAdded: await stat(envoy, 'cluster_manager.cluster_added'),
  };
}

describe('both xDS protocols against real Envoy, and xds restarts', () => {
  let versions: Record<string, string>;

  before(async () => {
    xdsPort = await freePort();
    h = await startXdsHarness({ grpcPort: xdsPort });
    upstreams.push(await startDemoUpstream({ port: 0, name: 'one' }), await startDemoUpstream({ port: 0, name: 'two' }));
    ports.sotw = await freePort();
    ports.delta = await freePort();
    versions = await h.publish(graph([1, 0]));
    envoys.sotw = await h.envoy({ nodeId: 'envoy-sotw' });
    envoys.delta = await h.envoy({ nodeId: 'envoy-delta', nodeGroup: 'delta', apiType: 'DELTA_GRPC' });
    clients.sotw = keepAliveClient(ports.sotw, 32);
    clients.delta = keepAliveClient(ports.delta, 32);
  });

  after(async () => {
    clients.sotw?.close();
    clients.delta?.close();
    await h?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
    await new Promise<void>((r) => (blocker ? blocker.close(() => r()) : r()));
  });

  it('serves one revision to a state-of-the-world Envoy and a delta Envoy; both ACK every type', async () => {
    const sotw = await h.ackedAll('envoy-sotw', versions.default!);
    const delta = await h.ackedAll('envoy-delta', versions.delta!);
    assert.notEqual(versions.default, versions.delta);
    for (const p of [sotw, delta]) assert.deepEqual(p.resources.map((r) => r.nackError), [null, null, null, null]);
    const seen = await answers(5);
    assert.deepEqual([...seen.sotw], ['one']);
    assert.deepEqual([...seen.delta], ['one']);
    // Envoy's own view: each Envoy reports the CDS version we sent (the snapshot's version of that type).
    assert.equal(await stat(envoys.delta, 'cluster_manager.cds.version_text'), await typeVersion(versions.delta!, 'delta', TYPE_URL.clusters));
    assert.equal(await stat(envoys.sotw, 'cluster_manager.cds.version_text'), await typeVersion(versions.default!, 'default', TYPE_URL.clusters));
  });

  it('applies a weight change on both without restarting them', async () => {
    const pids = [envoys.sotw.pid, envoys.delta.pid];
    const v2 = await h.publish(graph([0, 1]));
    await eventually('all traffic on "two"', async () => {
      const seen = await answers(4);
      return seen.sotw.size === 1 && seen.sotw.has('two') && seen.delta.size === 1 && seen.delta.has('two') ? true : undefined;
    });
    await h.ackedAll('envoy-sotw', v2.default!);
    await h.ackedAll('envoy-delta', v2.delta!);
    assert.deepEqual([envoys.sotw.pid, envoys.delta.pid], pids);
    versions = v2;
  });

  it('records a delta NACK with Envoy’s error text while the delta Envoy keeps serving', async () => {
    blocker = createServer();
    const blockedPort = await new Promise<number>((resolve) => blocker!.listen(0, '127.0.0.1', () => resolve((blocker!.address() as { port: number }).port)));
    const bad = await h.publish(
      graph([0, 1], (g) => {
        g.listeners!.push({ name: 'blocked', address: '127.0.0.1', port: blockedPort, virtualHosts: ['all'] });
        g.nodeGroups!.find((n) => n.name === 'delta')!.listeners.push('blocked');
      }),
    );
    const row = await eventually('the delta LDS NACK', async () => {
      const r = (await h.proxy('envoy-delta')).resources.find((x) => x.typeUrl === TYPE_URL.listeners);
      return r?.nackError ? r : undefined;
    });
    const goodLds = await typeVersion(versions.delta!, 'delta', TYPE_URL.listeners);
    assert.equal(row.nackVersion, await typeVersion(bad.delta!, 'delta', TYPE_URL.listeners));
    assert.equal(row.nackNonce, row.sentNonce);
    assert.equal(row.ackedVersion, goodLds, 'the last ACKed listener version is still the good one');
    assert.match(row.nackError!, /bind|address already in use/i);
    assert.deepEqual([...(await answers(3)).delta], ['two']);
    // What the proxy-status API (GET /api/v1/proxies) shows for it.
    const status = (await listProxyStatus(h.db, h.tenantId)).find((p) => p.nodeId === 'envoy-delta')!;
    const lds = status.types.find((t) => t.type === 'LDS')!;
    assert.equal(lds.status, 'NACKED');
    assert.equal(lds.error, row.nackError);
    assert.deepEqual(status.types.filter((t) => t.type !== 'LDS').map((t) => t.status), ['SYNCED', 'SYNCED', 'SYNCED']);
    // Back to the good graph, so the rest of the file starts from a clean state.
    const good = await h.publish(graph([0, 1]));
    assert.deepEqual(good, versions);
    await eventually('the delta LDS ACK of the good version again', async () => {
      const r = (await h.proxy('envoy-delta')).resources.find((x) => x.typeUrl === TYPE_URL.listeners);
      return r !== undefined && r.sentVersion === goodLds && r.ackedVersion === goodLds ? r : undefined;
    });
  });

  it('restarting xds under ≥ 100 requests/s loses no request; Envoys reconnect and resync without a config change', async () => {
    const before = { sotw: await configState(envoys.sotw), delta: await configState(envoys.delta) };
    const results = { ok: 0, failed: 0, errors: [] as string[], duringOutage: 0 };
    let outage = false;
    let stopLoad = false;
    const inflight = new Set<Promise<void>>();
    const RPS = 200;
    const MAX_REQUESTS = 20_000;
    const started = Date.now();
    let sent = 0;
    // Paced open-loop load: RPS requests per second, alternating Envoys; bounded in count and time.
    const load = (async () => {
      while (!stopLoad && sent < MAX_REQUESTS && Date.now() - started < 60_000) {
        const due = started + (sent * 1000) / RPS;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const kind = sent % 2 === 0 ? 'sotw' : 'delta';
        sent += 1;
        if (outage) results.duringOutage += 1;
        const p = clients[kind]
          .get('/', {}, 10_000)
          .then((r) => {
            if (r.status === 200 && upstreamOf(r.body) === 'two') results.ok += 1;
            else {
              results.failed += 1;
              results.errors.push(`${kind} ${r.status} ${r.body.slice(0, 80)}`);
            }
          })
          .catch((err: unknown) => {
            results.failed += 1;
            results.errors.push(`${kind} ${String(err)}`);
          })
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
    })();

    await new Promise((r) => setTimeout(r, 1_000));
    outage = true;
    await h.xds.stop();
    await eventually('both proxies marked disconnected', async () => {
      const [a, b] = [await h.proxy('envoy-sotw'), await h.proxy('envoy-delta')];
      return !a.connected && !b.connected ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 2_000)); // Envoy serves from its last config meanwhile
    const restarted: RunningXdsServer = await h.replica({ grpcPort: xdsPort, replica: 'replica-a' });
    outage = false;
    await eventually(
      'both Envoys reconnected to the restarted xds',
      async () => (restarted.ads.openStreams === 2 && (await h.proxy('envoy-sotw')).connected && (await h.proxy('envoy-delta')).connected ? true : undefined),
      30_000,
    );
    // Resynced: every type sent and ACKed again at the same version.
    for (const [nodeId, version, group] of [['envoy-sotw', versions.default!, 'default'], ['envoy-delta', versions.delta!, 'delta']] as const) {
      const p = await h.ackedAll(nodeId, version, 30_000);
      const want = await h.typeVersions(version, group);
      for (const r of p.resources) assert.equal(r.sentVersion, want[r.typeUrl], `${nodeId} ${r.typeUrl}: no push with a new version`);
      assert.equal(p.replica, 'replica-a');
    }
    await new Promise((r) => setTimeout(r, 1_000));
    stopLoad = true;
    await load;
    await Promise.all([...inflight]);
    const seconds = (Date.now() - started) / 1000;

    assert.equal(results.failed, 0, `failed requests: ${results.errors.slice(0, 5).join('; ')}`);
    assert.equal(results.ok, sent);
    assert.ok(results.duringOutage >= 200, `requests while xds was down: ${results.duringOutage}`);
    assert.ok(sent / seconds >= 100, `offered load ${(sent / seconds).toFixed(0)} requests/s`);
    const afterState = { sotw: await configState(envoys.sotw), delta: await configState(envoys.delta) };
    assert.deepEqual(afterState, before, 'versions, listeners and clusters unchanged: no configuration change');
    assert.equal(before.sotw.cds, await typeVersion(versions.default!, 'default', TYPE_URL.clusters));
    assert.equal(before.delta.lds, await typeVersion(versions.delta!, 'delta', TYPE_URL.listeners));
  });

  it('two replicas on one database serve identical versions and resources, and follow a publish alike', async () => {
    const protos = loadXdsProtos();
    const a = await h.replica({ replica: 'replica-x' });
    const b = await h.replica({ replica: 'replica-y' });
    const sotwA = openAdsStream(`127.0.0.1:${a.grpcPort}`, protos).stream;
    const sotwB = openAdsStream(`127.0.0.1:${b.grpcPort}`, protos).stream;
    const deltaA = openDeltaAdsStream(`127.0.0.1:${a.grpcPort}`, protos).stream;
    const deltaB = openDeltaAdsStream(`127.0.0.1:${b.grpcPort}`, protos).stream;
    try {
      const node = (id: string) => ({ id, metadata: { tenant: 'demo', node_group: 'delta' } });
      const sotwFirst = async (s: typeof sotwA, id: string) => {
        s.send({ node: node(id), type_url: TYPE_URL.clusters });
        return s.next();
      };
      const deltaFirst = async (s: typeof deltaA, id: string) => {
        s.send({ node: node(id), type_url: TYPE_URL.clusters });
        return s.next();
      };
      const [ra, rb] = await Promise.all([sotwFirst(sotwA, 'cmp-sotw-a'), sotwFirst(sotwB, 'cmp-sotw-b')]);
      assert.equal(ra.version_info, await typeVersion(versions.delta!, 'delta', TYPE_URL.clusters));
      assert.equal(rb.version_info, ra.version_info);
      assert.deepEqual(rb.resources.map((r) => Buffer.from(r.value).toString('hex')), ra.resources.map((r) => Buffer.from(r.value).toString('hex')));
      const [da, db] = await Promise.all([deltaFirst(deltaA, 'cmp-delta-a'), deltaFirst(deltaB, 'cmp-delta-b')]);
      assert.equal(da.system_version_info, db.system_version_info);
      assert.deepEqual(
        db.resources.map((r) => [r.name, r.version]),
        da.resources.map((r) => [r.name, r.version]),
        'per-resource versions are equal on both replicas',
      );
      sotwA.send({ type_url: TYPE_URL.clusters, response_nonce: ra.nonce, version_info: ra.version_info });
      sotwB.send({ type_url: TYPE_URL.clusters, response_nonce: rb.nonce, version_info: rb.version_info });

      // A publish reaches both replicas through NOTIFY.
      const v3 = await h.publish(
        graph([0, 1], (g) => {
          g.clusters![1]!.connectTimeoutMs = 2500;
        }),
      );
      const [na, nb] = await Promise.all([sotwA.next(10_000), sotwB.next(10_000)]);
      const v3Cds = await typeVersion(v3.delta!, 'delta', TYPE_URL.clusters);
      assert.notEqual(v3Cds, ra.version_info, 'the publish changed a cluster');
      assert.equal(na.version_info, v3Cds);
      assert.equal(nb.version_info, v3Cds);
      assert.deepEqual(nb.resources.map((r) => Buffer.from(r.value).toString('hex')), na.resources.map((r) => Buffer.from(r.value).toString('hex')));
    } finally {
      for (const s of [sotwA, sotwB, deltaA, deltaB]) s.close();
    }
  });
});
