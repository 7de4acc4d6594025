/**
 * ext_authz added latency through a real Envoy: the same upstream behind two routes of one listener, one
 * bound to a request policy (ext_authz filter → our ext_authz server in its own process → Wasm), one not.
 * Open-loop load at a fixed rate (default 1,000 req/s) for a bounded duration per route, the routes
 * alternating second by second, keep-alive HTTP/1.1 connections; added latency = percentile(bound) −
 * percentile(unbound). Also the ext_authz server's CPU time per request and Envoy's own view of the Check
 * round trip. Note the machine's load when reading the figures: everything shares its cores. Prints name=value lines and writes
 * bench/results/extauthz.json.
 *   npx tsx bench/extauthz-latency.ts [seconds=10] [rate=1000] [--cpu-prof DIR]
 * --cpu-prof DIR: the ext_authz server runs with `node --cpu-prof` and writes its profile into DIR on exit.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, getPriority, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
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
import { createPolicyDeps } from '../server/opa/policy-deps';
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

/** utime + stime of a process, in ms (Linux /proc). */
async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of /proc/<pid>/stat (utime, stime) in clock ticks, here at index 11 and 12.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hz = Number(await new Promise<string>((resolve) => execFile('getconf', ['CLK_TCK'], (err, out) => resolve(err ? '100' : out.trim()))));
  return (ticks / hz) * 1000;
}

/** P50 / P99 of Envoy's `cluster.proxyshard-extauthz.upstream_rq_time` histogram (ms), NaN when absent. */
async function envoyCheckQuantiles(adminPort: number): Promise<{ p50: number; p99: number }> {
  const filter = encodeURIComponent('^cluster\\.proxyshard-extauthz\\.upstream_rq_time$');
  const res = await fetch(`http://127.0.0.1:${adminPort}/stats?format=json&filter=${filter}`);
  const body = (await res.json()) as {
    stats: { histograms?: { supported_quantiles: number[]; computed_quantiles: { name: string; values: { cumulative: number | null }[] }[] } }[];
  };
  const h = body.stats.find((s) => s.histograms)?.histograms;
  const values = h?.computed_quantiles.find((q) => q.name === 'cluster.proxyshard-extauthz.upstream_rq_time')?.values;
  const at = (q: number) => values?.[h!.supported_quantiles.indexOf(q)]?.cumulative ?? NaN;
  return { p50: at(50), p99: at(99) };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'cpu-prof': { type: 'string' } } });
  const seconds = Number(positionals[0] ?? 10);
  const rate = Number(positionals[1] ?? 1000);
  const profile = values['cpu-prof'] !== undefined ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(values['cpu-prof'])] : [];
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
    const opsPort = await freePort();
    const child = spawn(
      process.execPath,
      [...profile, '--import', 'tsx', path.join(import.meta.dirname, '..', 'workers', 'extauthz', 'main.ts'), '--port', String(authzPort), '--database-url', tdb.url, '--sample-rate', '0'],
      // Its ops HTTP port on a free port too, so a running `npm start` does not collide with the bench.
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, EXTAUTHZ_HTTP_PORT: String(opsPort) } },
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

    interface RouteStats {
      latencies: number[];
      errors: number;
      sent: number;
      seconds: number;
    }
    const stats = (): RouteStats => ({ latencies: [], errors: 0, sent: 0, seconds: 0 });

    /** Open loop: `rate` requests per second in 5 ms ticks for one second; latencies of 2xx answers. */
    const runSecond = async (p: string, into: RouteStats) => {
      const pending: Promise<void>[] = [];
      const total = Math.round(rate);
      const start = performance.now();
      for (let sent = 0; sent < total; ) {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
        for (; sent < due; sent++) {
          pending.push(
            get(p).then(
              (r) => {
                if (r.status === 200) into.latencies.push(r.ms);
                else into.errors += 1;
              },
              () => {
                into.errors += 1;
              },
            ),
          );
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await Promise.all(pending);
      into.sent += total;
      into.seconds += (performance.now() - start) / 1000;
    };

    // The two routes alternate second by second, so both see the same machine (load on a shared machine
    // drifts over tens of seconds); the ext_authz server's CPU is counted over its seconds only.
    const loadBefore = loadavg();
    const plainStats = stats();
    const authzStats = stats();
    let serverCpuMs = 0;
    for (let i = 0; i < seconds; i++) {
      await runSecond('/plain/x', plainStats);
      const cpu0 = await processCpuMs(child.pid!);
      await runSecond('/authz/x', authzStats);
      serverCpuMs += (await processCpuMs(child.pid!)) - cpu0;
    }
    const summary = (r: RouteStats) => {
      r.latencies.sort((a, b) => a - b);
      return { p50: pct(r.latencies, 50), p99: pct(r.latencies, 99), n: r.latencies.length, errors: r.errors, achieved: r.sent / r.seconds };
    };
    const plain = summary(plainStats);
    const authz = summary(authzStats);
    const check = await envoyCheckQuantiles(adminPort);
    const serverMetrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    const metric = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(serverMetrics)?.[1] ?? NaN);
    const r3 = (n: number) => Math.round(n * 1000) / 1000;
    const results = {
      extauthz_added_p50_ms: r3(authz.p50 - plain.p50),
      extauthz_added_p99_ms: r3(authz.p99 - plain.p99),
      extauthz_route_p50_ms: r3(authz.p50),
      extauthz_route_p99_ms: r3(authz.p99),
      plain_route_p50_ms: r3(plain.p50),
      plain_route_p99_ms: r3(plain.p99),
      // Envoy's own histogram of the ext_authz round trip (cluster proxyshard-extauthz upstream_rq_time,
      // warm-up included; Envoy's histogram buckets are coarse): where the added latency goes.
      envoy_extauthz_check_p50_ms: check.p50,
      envoy_extauthz_check_p99_ms: check.p99,
      // CPU time (user + system) the ext_authz server process used per request during the bound run.
      extauthz_server_cpu_us_per_request: Math.round((serverCpuMs * 1000) / Math.max(1, authz.n + authz.errors)),
      // The ext_authz process's event-loop lag (prom-client, whole process life) and GC time: if these are
      // small while Envoy's view of the round trip is large, the time is lost outside the server's code.
      extauthz_server_event_loop_lag_p99_ms: r3(metric('nodejs_eventloop_lag_p99_seconds') * 1000),
      extauthz_server_event_loop_lag_max_ms: r3(metric('nodejs_eventloop_lag_max_seconds') * 1000),
      extauthz_server_gc_ms: r3(((metric('nodejs_gc_duration_seconds_sum\\{kind="minor"\\}') || 0) + (metric('nodejs_gc_duration_seconds_sum\\{kind="major"\\}') || 0)) * 1000),
      extauthz_requests: authz.n,
      extauthz_errors: authz.errors,
      plain_requests: plain.n,
      plain_errors: plain.errors,
      target_rate_per_s: rate,
      achieved_rate_extauthz_per_s: Math.round(authz.achieved),
      achieved_rate_plain_per_s: Math.round(plain.achieved),
      duration_s_per_route: seconds,
      // 1-minute load average of the machine before and after the measured runs (2 cores: above 2 = queueing).
      load_avg_1m_before: Math.round(loadBefore[0]! * 100) / 100,
      load_avg_1m_after: Math.round(loadavg()[0]! * 100) / 100,
      // Scheduling priority the bench (and the Envoy and ext_authz processes it starts) ran at: 0 is normal;
      // `nice -n -10 npx tsx bench/extauthz-latency.ts` shields the measurement from other work on the machine.
      nice: getPriority(),
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
