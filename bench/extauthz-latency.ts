/**
 * ext_authz added latency through a real Envoy: the same upstream behind two routes of one listener, one
 * bound to a request policy (ext_authz filter → our ext_authz server in its own process → Wasm), one not.
 * Open-loop load at a fixed rate (default 1,000 req/s) for a bounded duration per route, keep-alive HTTP/1.1
 * connections; added latency = percentile(bound) − percentile(unbound). Prints name=value lines and writes
 * bench/results/extauthz.json.
 *   npx tsx bench/extauthz-latency.ts [seconds=10] [rate=1000]
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { RouteGraph } from '../contracts/route-graph.schema';
import { contentHash } from '../core/xds/snapshot';
import { freePort } from '../scripts/lib/ports';
import { createPolicyVersion } from '../server/services/policy.service';
import { publishRevision } from '../server/services/publish.service';
import { createTestDatabase } from '../test/support/db';
import { envoyBootstrap } from '../workers/envoy/bootstrap';
import { startEnvoy } from '../workers/envoy/envoy.process';
import { extAuthzBootstrapCluster } from '../workers/extauthz/extauthz.server';
import { createPolicyDeps } from '../workers/policy.activities';
import { startXdsServer } from '../workers/xds/xds.server';

const POLICY = `package proxyshard.request

default allow := false

allow if {
	input.attributes.request.http.method == "GET"
	input.parsed_path[0] == "authz"
	not input.attributes.request.http.headers["x-block"]
}
`;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 10);
  const rate = Number(process.argv[3] ?? 1000);
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const tdb = await createTestDatabase();
    cleanups.unshift(() => tdb.drop());
    const db = tdb.db;
    const tenantId = (await db.tenant.create({ data: { slug: 'bench', name: 'Bench' } })).id;
    const upstream = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    cleanups.unshift(() => new Promise((r) => upstream.close(r)));
    const listenerPort = await freePort();
    const authzPort = await freePort();
    const log = pino({ level: 'silent' });
    const xds = await startXdsServer({ db, databaseUrl: tdb.url, grpcPort: 0, httpPort: 0, log, replica: 'bench', defaultMetrics: false });
    cleanups.unshift(() => xds.stop());

    const deps = createPolicyDeps();
    const v = await createPolicyVersion(db, deps, { tenantId, actor: { type: 'system', id: 'bench', name: 'bench' } }, {
      name: 'bench-authz',
      kind: 'request',
      modules: [{ file: 'bench.rego', source: POLICY }],
      activate: true,
    });
    if (v.version.status !== 'compiled') throw new Error(JSON.stringify(v.version.diagnostics));

    // The ext_authz server in its own process, as in production.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(import.meta.dirname, '..', 'workers', 'extauthz', 'main.ts'), '--port', String(authzPort), '--database-url', tdb.url, '--sample-rate', '0'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.unshift(async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('ext_authz server did not start')), 30_000);
      child.stdout!.on('data', (b: Buffer) => {
        if (b.toString().includes('extauthz listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`ext_authz server exited ${code}`)));
    });

    const graph = {
      listeners: [{ name: 'bench', address: '127.0.0.1', port: listenerPort, protocol: 'http1', virtualHosts: ['bench'] }],
      virtualHosts: [{ name: 'bench', domains: ['*'], routes: ['authz', 'plain'] }],
      routes: [
        { name: 'authz', match: { prefix: '/authz', headers: [], queryParameters: [] }, action: { kind: 'forward', clusters: [{ cluster: 'up', weight: 1 }] }, extAuthz: { policy: 'bench-authz' } },
        { name: 'plain', match: { prefix: '/plain', headers: [], queryParameters: [] }, action: { kind: 'forward', clusters: [{ cluster: 'up', weight: 1 }] } },
      ],
      clusters: [
        {
          name: 'up',
          lbPolicy: 'roundRobin',
          connectTimeoutMs: 1000,
          endpoints: [{ address: '127.0.0.1', port: (upstream.address() as AddressInfo).port, weight: 1, locality: { region: '', zone: '' }, priority: 0 }],
        },
      ],
      nodeGroups: [{ name: 'default', listeners: ['bench'] }],
    } as RouteGraph;
    const rev = await db.revision.create({ data: { tenantId, number: 1, state: 'proposed', graph, graphHash: contentHash(graph), createdById: 'bench' } });
    await publishRevision(db, { tenantId, revisionId: rev.id });

    const adminPort = await freePort();
    const bootstrap = envoyBootstrap({ nodeId: 'bench-envoy', tenant: 'bench', nodeGroup: 'default', xdsHost: '127.0.0.1', xdsPort: xds.grpcPort, adminPort });
    (bootstrap.static_resources as { clusters: unknown[] }).clusters.push(extAuthzBootstrapCluster('127.0.0.1', authzPort));
    const envoy = await startEnvoy({ bootstrap, adminPort });
    cleanups.unshift(() => envoy.stop());

    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    cleanups.unshift(async () => agent.destroy());
    const get = (p: string) =>
      new Promise<{ status: number; ms: number }>((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        const req = httpRequest({ host: '127.0.0.1', port: listenerPort, path: p, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
        });
        req.setTimeout(5000, () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      });

    // Warm-up (connections, JIT); both routes must answer 200.
    for (let i = 0; i < 200; i++) {
      const [a, b] = await Promise.all([get('/authz/x'), get('/plain/x')]);
      if (i === 199 && (a.status !== 200 || b.status !== 200)) throw new Error(`warm-up: authz ${a.status}, plain ${b.status}`);
    }

    /** Open loop: `rate` requests per second in 5 ms ticks for `seconds`; latencies of 2xx answers. */
    const run = async (p: string) => {
      const latencies: number[] = [];
      let errors = 0;
      const pending: Promise<void>[] = [];
      const total = Math.round(rate * seconds);
      const start = performance.now();
      for (let sent = 0; sent < total; ) {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
        for (; sent < due; sent++) {
          pending.push(
            get(p).then(
              (r) => {
                if (r.status === 200) latencies.push(r.ms);
                else errors += 1;
              },
              () => {
                errors += 1;
              },
            ),
          );
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await Promise.all(pending);
      const elapsed = (performance.now() - start) / 1000;
      latencies.sort((a, b) => a - b);
      return { p50: pct(latencies, 50), p99: pct(latencies, 99), n: latencies.length, errors, achieved: total / elapsed };
    };

    const plain = await run('/plain/x');
    const authz = await run('/authz/x');
    const r3 = (n: number) => Math.round(n * 1000) / 1000;
    const results = {
      extauthz_added_p50_ms: r3(authz.p50 - plain.p50),
      extauthz_added_p99_ms: r3(authz.p99 - plain.p99),
      extauthz_route_p50_ms: r3(authz.p50),
      extauthz_route_p99_ms: r3(authz.p99),
      plain_route_p50_ms: r3(plain.p50),
      plain_route_p99_ms: r3(plain.p99),
      extauthz_requests: authz.n,
      extauthz_errors: authz.errors,
      plain_requests: plain.n,
      plain_errors: plain.errors,
      target_rate_per_s: rate,
      achieved_rate_extauthz_per_s: Math.round(authz.achieved),
      achieved_rate_plain_per_s: Math.round(plain.achieved),
      duration_s_per_route: seconds,
      machine: `${cpus().length}x ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}, envoy concurrency 1, load generator + upstream + xds in one node process, ext_authz server in its own`,
      date: new Date().toISOString(),
    };
    for (const [k, val] of Object.entries(results)) console.log(`${k}=${val}`);
    await writeFile(path.join(import.meta.dirname, 'results', 'extauthz.json'), `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    for (const c of cleanups) await c().catch((err: unknown) => console.error('cleanup:', err));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
