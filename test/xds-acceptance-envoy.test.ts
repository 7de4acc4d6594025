/**
 * Issue 3 acceptance with real components: a real Envoy (state of the world) bootstrapped to the xds
 * server routes by prefix, header and regex; a 90/10 split lands within ±3 points over 2,000 requests;
 * retries on 503 are observed at the upstream; a weight change applies without restarting Envoy; and
 * `@grpc/grpc-js-xds`, as a second independent xDS client, is routed by the same revision.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { RouteGraphInput } from '../contracts/route-graph.schema';
import { freePort } from '../scripts/lib/ports';
import { startDemoUpstream, type DemoUpstream } from '../scripts/demo/upstream';
import type { RunningEnvoy } from '../workers/envoy/envoy.process';
import type { GrpcXdsClientJob } from './support/grpc-xds-client';
import { eventually, keepAliveClient, startXdsHarness, upstreamOf, type XdsHarness } from './support/xds-harness';

const run = promisify(execFile);
let h: XdsHarness;
let envoy: RunningEnvoy;
const upstreams = new Map<string, DemoUpstream>();
let flaky: { server: Server; port: number; attempts: Map<string, number> };
const grpcServers: { server: grpc.Server; port: number; name: string }[] = [];
let listenerPort: number;
let client: ReturnType<typeof keepAliveClient>;

/** Runs the gRPC xDS client (test/support/grpc-xds-client.ts) as a child process; returns its counts. */
async function runGrpcClient(job: Omit<GrpcXdsClientJob, 'xdsPort' | 'tenant' | 'nodeGroup' | 'target' | 'waitMs'>) {
  const full: GrpcXdsClientJob = { xdsPort: h.xds.grpcPort, tenant: 'demo', nodeGroup: 'grpc', target: 'who', waitMs: 20_000, ...job };
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/support/grpc-xds-client.ts', JSON.stringify(full)], {
    timeout: 60_000,
    killSignal: 'SIGKILL',
  });
  return (JSON.parse(stdout.trim().split('\n').at(-1)!) as { counts: Record<string, Record<string, number>> }).counts;
}

/** An upstream that answers 503 to the first attempt of each `x-request-key` and 200 to the next ones. */
async function startFlakyUpstream(): Promise<typeof flaky> {
  const attempts = new Map<string, number>();
  const server = createServer((req, res) => {
    const key = String(req.headers['x-request-key'] ?? '');
    const n = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, n);
    if (n === 1) res.writeHead(503, { 'content-type': 'text/plain' }).end('first attempt fails\n');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok after ${n} attempts\n`);
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  return { server, port, attempts };
}

// A unary gRPC method whose answer names the server, defined without a .proto (raw bytes both ways).
const WHO_PATH = '/proxyshard.test.Who/Name'; // as in test/support/grpc-xds-client.ts
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const whoService: grpc.ServiceDefinition = {
  Name: {
    path: WHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: raw.serialize,
    requestDeserialize: raw.deserialize,
    responseSerialize: raw.serialize,
    responseDeserialize: raw.deserialize,
  },
};

async function startWhoServer(name: string): Promise<{ server: grpc.Server; port: number; name: string }> {
  const server = new grpc.Server();
  server.addService(whoService, {
    Name: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(name)),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, port, name };
}

function endpoint(port: number) {
  return { address: '127.0.0.1', port };
}

function graph(weights: { alpha: number; beta: number }): RouteGraphInput {
  const up = (n: string) => upstreams.get(n)!.port;
  return {
    listeners: [
      { name: 'edge', address: '127.0.0.1', port: listenerPort, virtualHosts: ['edge'] },
      // For the gRPC node group: delivered as an API listener, target xds:///who.
      { name: 'who', address: '127.0.0.1', port: 1, virtualHosts: ['who'] },
    ],
    virtualHosts: [
      { name: 'edge', domains: ['*'], routes: ['beta-by-header', 'items-by-regex', 'flaky', 'api', 'split'] },
      { name: 'who', domains: ['*'], routes: ['who-beta', 'who-default'] },
    ],
    routes: [
      { name: 'beta-by-header', match: { prefix: '/', headers: [{ name: 'x-variant', exact: 'beta' }] }, action: { kind: 'forward', clusters: [{ cluster: 'beta', weight: 1 }] } },
      { name: 'items-by-regex', match: { regex: '^/items/[0-9]+$' }, action: { kind: 'forward', clusters: [{ cluster: 'items', weight: 1 }] } },
      {
        name: 'flaky',
        match: { prefix: '/flaky' },
        action: { kind: 'forward', clusters: [{ cluster: 'flaky', weight: 1 }] },
        retry: { retryOn: ['retriable-status-codes'], retriableStatusCodes: [503], numRetries: 2, backoffBaseMs: 5, backoffMaxMs: 20 },
      },
      { name: 'api', match: { prefix: '/api/' }, action: { kind: 'forward', clusters: [{ cluster: 'api', weight: 1 }] } },
      {
        name: 'split',
        match: { prefix: '/' },
        action: { kind: 'forward', clusters: [{ cluster: 'alpha', weight: weights.alpha }, { cluster: 'beta', weight: weights.beta }] },
      },
      { name: 'who-beta', match: { prefix: '/', headers: [{ name: 'x-variant', exact: 'beta' }] }, action: { kind: 'forward', clusters: [{ cluster: 'who-beta', weight: 1 }] } },
      {
        name: 'who-default',
        match: { prefix: '/proxyshard.test.Who/' },
        action: { kind: 'forward', clusters: [{ cluster: 'who-alpha', weight: weights.alpha }, { cluster: 'who-beta', weight: weights.beta }] },
      },
    ],
    clusters: [
      { name: 'alpha', endpoints: [endpoint(up('alpha'))] },
      { name: 'beta', endpoints: [endpoint(up('beta'))] },
      { name: 'items', endpoints: [endpoint(up('items'))] },
      { name: 'api', endpoints: [endpoint(up('api'))] },
      { name: 'flaky', endpoints: [endpoint(flaky.port)] },
      { name: 'who-alpha', endpoints: [endpoint(grpcServers[0]!.port)] },
      { name: 'who-beta', endpoints: [endpoint(grpcServers[1]!.port)] },
    ],
    nodeGroups: [
      { name: 'default', listeners: ['edge'] },
      { name: 'grpc', kind: 'grpc', listeners: ['who'] },
    ],
  };
}

/** `n` GETs of `path`, `concurrency` at a time, bounded by a deadline; counts answers per upstream. */
async function spread(n: number, concurrency = 8, deadlineMs = 60_000): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const deadline = Date.now() + deadlineMs;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next += 1;
      if (Date.now() > deadline) throw new Error(`only ${next} of ${n} requests before the deadline`);
      const r = await client.get('/');
      assert.equal(r.status, 200);
      const who = upstreamOf(r.body) ?? `? ${r.body}`;
      counts.set(who, (counts.get(who) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return counts;
}

describe('issue 3 acceptance: real Envoy and a gRPC xDS client routed by one revision', () => {
  let versions: Record<string, string>;

  before(async () => {
    h = await startXdsHarness();
    for (const name of ['alpha', 'beta', 'items', 'api']) upstreams.set(name, await startDemoUpstream({ port: 0, name }));
    flaky = await startFlakyUpstream();
    grpcServers.push(await startWhoServer('who-alpha'), await startWhoServer('who-beta'));
    listenerPort = await freePort();
    versions = await h.publish(graph({ alpha: 90, beta: 10 }));
    envoy = await h.envoy({ nodeId: 'edge-1' });
    client = keepAliveClient(listenerPort);
    await eventually('the edge listener', async () => ((await client.get('/api/x')).status === 200 ? true : undefined));
  });

  after(async () => {
    client?.close();
    await h?.stop();
    await Promise.all([...upstreams.values()].map((u) => u.close()));
    if (flaky) await new Promise<void>((r) => flaky.server.close(() => r()));
    for (const g of grpcServers) g.server.forceShutdown();
  });

  it('routes prefix, header and regex matches to the right upstream', async () => {
    await h.ackedAll('edge-1', versions.default!);
    const cases: [string, Record<string, string>, string][] = [
      ['/api/users', {}, 'api'],
      ['/api/users', { 'x-variant': 'beta' }, 'beta'], // the header route comes first
      ['/items/42', {}, 'items'],
      ['/items/42/more', { 'x-variant': 'gamma' }, 'alpha|beta'], // regex is anchored: falls through to the split
      ['/items/abc', {}, 'alpha|beta'],
      ['/anything', { 'x-variant': 'beta' }, 'beta'],
    ];
    for (const [path, headers, expected] of cases) {
      const r = await client.get(path, headers);
      assert.equal(r.status, 200, `${path}: ${r.body}`);
      assert.match(upstreamOf(r.body) ?? r.body, new RegExp(`^(${expected})$`), `${path} ${JSON.stringify(headers)}`);
    }
    const itemsBefore = upstreams.get('items')!.requests();
    for (let i = 0; i < 5; i++) assert.equal(upstreamOf((await client.get(`/items/${i}`)).body), 'items');
    assert.equal(upstreams.get('items')!.requests() - itemsBefore, 5, 'the items upstream saw exactly those requests');
  });

  it('splits 90/10 within ±3 percentage points over 2,000 requests', async () => {
    const counts = await spread(2_000);
    const alpha = counts.get('alpha') ?? 0;
    const beta = counts.get('beta') ?? 0;
    assert.equal(alpha + beta, 2_000, `only alpha and beta answer: ${JSON.stringify([...counts])}`);
    const alphaShare = (alpha / 2_000) * 100;
    assert.ok(Math.abs(alphaShare - 90) <= 3, `alpha got ${alphaShare.toFixed(1)} % (beta ${beta})`);
  });

  it('retries a 503 and the upstream sees the second attempt', async () => {
    for (const key of ['k1', 'k2', 'k3']) {
      const r = await client.get('/flaky/thing', { 'x-request-key': key });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.body, 'ok after 2 attempts\n');
      assert.equal(flaky.attempts.get(key), 2, `attempts for ${key}`);
    }
    const stats = (await envoy.admin('/stats?filter=cluster.flaky.upstream_rq_retry$')).body;
    assert.match(stats, /cluster\.flaky\.upstream_rq_retry: [3-9]/);
  });

  it('@grpc/grpc-js-xds is routed by the same revision (API listener, RDS, CDS, EDS over ADS)', async () => {
    const counts = await runGrpcClient({ nodeId: 'grpc-client-1', calls: [{ count: 200 }, { variant: 'beta', count: 5 }] });
    const split = counts['-'] ?? {};
    assert.equal((split['who-alpha'] ?? 0) + (split['who-beta'] ?? 0), 200, JSON.stringify(counts));
    assert.ok((split['who-alpha'] ?? 0) > 150, `the 90/10 split applies to gRPC too: ${JSON.stringify(split)}`);
    assert.deepEqual(counts.beta, { 'who-beta': 5 }, 'the header route matches gRPC metadata');

    const p = await h.ackedAll('grpc-client-1', versions.grpc!);
    assert.match(p.userAgent, /gRPC Node/i);
    assert.equal(p.nodeGroup, 'grpc');
    for (const r of p.resources) assert.equal(r.nackError, null, r.typeUrl);
  });

  it('applies a weight change without restarting Envoy (same pid), for Envoy and the gRPC client alike', async () => {
    const pid = envoy.pid;
    const v2 = await h.publish(graph({ alpha: 0, beta: 100 }));
    assert.notEqual(v2.default, versions.default);
    await eventually('all traffic on beta', async () => {
      const c = await spread(20, 4);
      return c.get('beta') === 20 ? c : undefined;
    });
    const counts = await spread(200, 4);
    assert.deepEqual([...counts], [['beta', 200]]);
    assert.equal(envoy.pid, pid, 'the same Envoy process');
    await h.ackedAll('edge-1', v2.default!);
    const grpcCounts = await runGrpcClient({ nodeId: 'grpc-client-2', until: 'who-beta', calls: [{ count: 50 }] });
    assert.deepEqual(grpcCounts['-'], { 'who-beta': 50 });
    await h.ackedAll('grpc-client-2', v2.grpc!);
  });
});
