/**
 * ext_authz added latency through a real Envoy: the same upstream behind two routes of one listener, one
 * bound to a request policy (ext_authz filter → our ext_authz server in its own process → Wasm), one not.
 *
 * Method. Open-loop runs of vegeta (bench/extauthz-vegeta.ts, a Go load generator) at `rate` requests/s
 * (default 1,000) over keep-alive HTTP/1.1 connections, one route at a time, in alternating blocks of
 * BLOCK_S seconds ordered A B B A A B … (bound, unbound, unbound, bound, …), so both routes see the machine
 * over the same stretch of time and a slow drift of the machine's load cancels out; after a warm-up until
 * clean. Each route is measured at `rate` on its own: the machine carries `rate` requests/s, as the goal
 * says (running the two routes at once would put twice that through Envoy and measure the 2-core machine's
 * saturation instead of ext_authz). Latency of a request = from the moment it was due on the generator's
 * schedule until its answer ended (coordinated-omission-correct: a generator that falls behind counts
 * against the route, not for it). Added latency = percentile(bound route) − percentile(unbound route).
 *
 * Also reported: Envoy's own histogram of the Check round trip over the run (cluster proxyshard-extauthz
 * upstream_rq_time), CPU time per request of the ext_authz server, Envoy and the bench process (upstream +
 * xds), the server's event-loop lag and GC over the run, how late vegeta sent, and the load average.
 *
 * Process placement: Envoy runs one worker thread (--concurrency 1). With `--pin` (2+ CPUs), the ext_authz
 * server gets CPU 1 to itself (as a deployment gives the authz server its own CPU) and Envoy, vegeta and
 * the bench process share CPU 0 (taskset). Everything shares the machine with whatever else runs: read the
 * figures with the load average beside them. `nice` helps less than it seems where the kernel groups
 * processes by session (autogroup: nice then only ranks a session's own processes); do not run the measured
 * processes in a real-time class on a shared machine (Node's and V8's helper threads at one SCHED_FIFO
 * priority can starve each other and everything else). Placement and priority apply to both routes alike
 * and are written in `machine` and `nice`.
 *
 * Prints name=value lines and writes bench/results/extauthz.json.
 *   npx tsx bench/extauthz-latency.ts [seconds=10] [rate=1000] [--pin] [--cpu-prof DIR]
 * --cpu-prof DIR: the ext_authz server runs with `node --cpu-prof` and writes its profile into DIR on exit.
 * BENCH_EXTAUTHZ_NODE_ARGS="--trace-gc …": more node flags for the ext_authz server; its stdout is then shown.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, getPriority, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { RouteGraph } from '../contracts/route-graph.schema';
import { contentHash } from '../core/xds/snapshot';
import { freePort } from '../scripts/lib/ports';
import { resolveBinary } from '../server/binaries';
import { createPolicyDeps } from '../server/opa/policy-deps';
import { createPolicyVersion } from '../server/services/policy.service';
import { publishRevision } from '../server/services/publish.service';
import { createTestDatabase } from '../test/support/db';
import { envoyBootstrap } from '../workers/envoy/bootstrap';
import { startEnvoy } from '../workers/envoy/envoy.process';
import { EXTAUTHZ_CLUSTER, extAuthzBootstrapCluster } from '../workers/extauthz/extauthz.server';
import { startXdsServer } from '../workers/xds/xds.server';
import { runVegeta, type VegetaHit } from './extauthz-vegeta';

const POLICY = `package proxyshard.request

default allow := false

allow if {
	input.attributes.request.http.method == "GET"
	input.parsed_path[0] == "authz"
	not input.attributes.request.http.headers["x-block"]
}
`;

/** With --pin: the ext_authz server's CPU, and the CPU of everything else the bench runs. */
const PINNED = { authz: '1', rest: '0' };

/** Length of one measured block (one route at a time), s. */
const BLOCK_S = 2;

const EXTAUTHZ_RQ_TIME = `cluster.${EXTAUTHZ_CLUSTER}.upstream_rq_time`;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/**
 * Percentiles of one route's requests, CO-correct (from the due time) and from the send. Every request
 * counts, failed ones too (a Check that outlasts the filter's timeout answers 403 after it: leaving those out
 * would flatter the tail); `failed` says how many were not 2xx.
 */
function routeStats(hits: VegetaHit[]) {
  const total = hits.map((h) => h.sendLagMs + h.latencyMs).sort((a, b) => a - b);
  const service = hits.map((h) => h.latencyMs).sort((a, b) => a - b);
  const failed = hits.filter((h) => h.code < 200 || h.code >= 300).length;
  return { n: hits.length, failed, p50: pct(total, 50), p99: pct(total, 99), p999: pct(total, 99.9), serviceP99: pct(service, 99) };
}

let clockTicks: Promise<number> | undefined;

/** utime and stime of a process (all its threads), in ms (Linux /proc). */
async function processCpuMs(pid: number): Promise<{ user: number; system: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  clockTicks ??= new Promise<number>((resolve) => execFile('getconf', ['CLK_TCK'], (err, out) => resolve(err ? 100 : Number(out.trim()))));
  const hz = await clockTicks;
  // Fields 14 and 15 of /proc/<pid>/stat (utime, stime) in clock ticks, here at index 11 and 12.
  return { user: (Number(fields[11]) / hz) * 1000, system: (Number(fields[12]) / hz) * 1000 };
}

/** The scheduling class of this process (children inherit it): `other`, `fifo:<priority>`, `rr:<priority>`… */
async function schedulingPolicy(): Promise<string> {
  const fields = (await readFile('/proc/self/stat', 'utf8')).split(') ')[1]!.split(' ');
  // Fields 40 (rt_priority) and 41 (policy) of /proc/<pid>/stat, here at index 37 and 38.
  const name = ['other', 'fifo', 'rr', 'batch', 'iso', 'idle', 'deadline'][Number(fields[38])] ?? `policy ${fields[38]}`;
  return Number(fields[37]) > 0 ? `${name}:${fields[37]}` : name;
}

function exec(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile(command, args, (err) => (err ? reject(new Error(`${command} ${args.join(' ')}: ${err.message}`)) : resolve())));
}

/** CPUs of the ext_authz server and of everything else (taskset lists), or no pinning. */
type Placement = { authz: string; rest: string } | undefined;

/** Every thread of a running process onto its CPUs (taskset). */
async function place(p: Placement, pid: number, role: 'authz' | 'rest'): Promise<void> {
  if (p !== undefined) await exec('taskset', ['-a', '-p', '-c', p[role], String(pid)]);
}

/** The same as a command prefix, for processes started later (vegeta). */
function placementPrefix(p: Placement): string[] {
  return p === undefined ? [] : ['taskset', '-c', p.rest];
}

function describePlacement(p: Placement): string {
  return p === undefined ? 'no CPU pinning' : `pinned: ext_authz server on CPU ${p.authz}, envoy + vegeta + bench process (upstream, xds) on CPU ${p.rest}`;
}

/** An Envoy histogram's buckets (lower bound → width and count, cumulative since start), from the admin API. */
type Buckets = Map<number, { width: number; count: number }>;

async function envoyHistogram(adminPort: number, name: string): Promise<Buckets> {
  const filter = encodeURIComponent(`^${name.replaceAll('.', '\\.')}$`);
  const read = async (): Promise<Buckets> => {
    const res = await fetch(`http://127.0.0.1:${adminPort}/stats?format=json&type=Histograms&histogram_buckets=detailed&filter=${filter}`);
    const body = (await res.json()) as { stats: { histograms?: { details?: { name: string; totals?: { lower_bound: number; width: number; count: number }[] }[] } }[] };
    const detail = body.stats.flatMap((s) => s.histograms?.details ?? []).find((d) => d.name === name);
    return new Map((detail?.totals ?? []).map((b) => [b.lower_bound, { width: b.width, count: b.count }]));
  };
  const total = (h: Buckets) => [...h.values()].reduce((n, b) => n + b.count, 0);
  // With stats_flush_on_admin a query starts a merge of the worker threads' histograms that completes a
  // little later: read until two reads agree (bounded).
  let last = await read();
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const next = await read();
    if (total(next) === total(last)) return next;
    last = next;
  }
  return last;
}

/** after − before, bucket by bucket: the histogram of what was recorded in between. */
function subtractHistogram(after: Buckets, before: Buckets): Buckets {
  const out: Buckets = new Map();
  for (const [lower, b] of after) {
    const count = b.count - (before.get(lower)?.count ?? 0);
    if (count > 0) out.set(lower, { width: b.width, count });
  }
  return out;
}

/** P50, P99 and max (upper bound of the highest bucket) of a histogram, interpolating inside a bucket. */
function quantilesOf(h: Buckets): { p50: number; p99: number; max: number; count: number } {
  const buckets = [...h].sort(([a], [b]) => a - b);
  const count = buckets.reduce((n, [, b]) => n + b.count, 0);
  const at = (q: number) => {
    const rank = q * count;
    let seen = 0;
    for (const [lower, b] of buckets) {
      if (seen + b.count >= rank) return lower + (b.width * (rank - seen)) / b.count;
      seen += b.count;
    }
    return NaN;
  };
  const last = buckets.at(-1);
  return { p50: at(0.5), p99: at(0.99), max: last === undefined ? NaN : last[0] + last[1].width, count };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { 'cpu-prof': { type: 'string' }, pin: { type: 'boolean', default: false } },
  });
  const seconds = Number(positionals[0] ?? 10);
  const rate = Number(positionals[1] ?? 1000);
  if (!(seconds > 0) || !(rate > 0)) throw new Error(`seconds and rate must be positive numbers (got ${positionals.join(' ')})`);
  if (values.pin && cpus().length < 2) throw new Error('--pin needs at least 2 CPUs');
  const placement: Placement = values.pin ? PINNED : undefined;
  const profile = values['cpu-prof'] !== undefined ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(values['cpu-prof'])] : [];
  const vegeta = await resolveBinary('vegeta', { install: true });
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
    const serverArgs = [...profile, ...(process.env.BENCH_EXTAUTHZ_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', path.join(import.meta.dirname, '..', 'workers', 'extauthz', 'main.ts'), '--port', String(authzPort), '--database-url', tdb.url, '--sample-rate', '0'];
    const child = spawn(
      process.execPath,
      serverArgs,
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
        if (process.env.BENCH_EXTAUTHZ_NODE_ARGS) process.stderr.write(b);
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
    // Histograms are merged into /stats on a flush; flushing on admin queries makes the histogram read
    // before and after the run exact (envoyHistogram).
    bootstrap.stats_flush_on_admin = true;
    const envoy = await startEnvoy({ bootstrap, adminPort });
    cleanups.unshift(() => envoy.stop());

    // Placement from here on (setup ran as usual): the same for both routes.
    await place(placement, child.pid!, 'authz');
    await place(placement, envoy.pid, 'rest');
    await place(placement, process.pid, 'rest');

    const url = (p: string) => `http://127.0.0.1:${listenerPort}${p}`;
    const attack = (urls: string[], seconds: number) => runVegeta({ binary: vegeta, urls, totalRate: rate * urls.length, seconds, prefix: placementPrefix(placement) });
    const failures = (hits: VegetaHit[]) => hits.filter((h) => h.code < 200 || h.code >= 300);

    // Both routes must answer 200 (a refusal names its reason: the ext_authz deny body). The first Check
    // opens Envoy's connection to the ext_authz server; on a busy machine it can outlast the filter's timeout
    // (fail closed: 403 without a body), so a few tries.
    for (const p of ['/authz/x', '/plain/x']) {
      for (let attempt = 1; ; attempt++) {
        const res = await fetch(url(p));
        const body = await res.text();
        if (res.status === 200) break;
        if (attempt === 10 || body !== '') throw new Error(`${p}: ${res.status} ${body}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    // Warm-up (connections, JIT) at the measured rate, both routes, until a round is clean.
    for (let round = 1; ; round++) {
      const warm = [...(await attack([url('/authz/x')], BLOCK_S)), ...(await attack([url('/plain/x')], BLOCK_S))];
      const bad = failures(warm);
      console.error(`warm-up round ${round}: ${warm.length} requests, ${bad.length} failed, p99 ${pct(warm.map((h) => h.sendLagMs + h.latencyMs).sort((a, b) => a - b), 99).toFixed(2)} ms`);
      if (bad.length === 0 && round >= 2) break;
      if (round === 6) {
        // A machine too busy for the filter's timeout: measure anyway, the failures are counted.
        console.error(`warm-up never clean (last round: ${bad.length} failed, e.g. ${bad[0]?.code} ${bad[0]?.error}); measuring anyway`);
        break;
      }
    }

    const serverMetrics = async () => {
      const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      return (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
    };
    const gcMs = (metric: (name: string) => number) =>
      ['minor', 'major', 'incremental', 'weakcb'].reduce((sum, kind) => sum + (metric(`nodejs_gc_duration_seconds_sum\\{kind="${kind}"\\}`) || 0), 0) * 1000;
    const gcCount = (metric: (name: string) => number) =>
      ['minor', 'major', 'incremental', 'weakcb'].reduce((sum, kind) => sum + (metric(`nodejs_gc_duration_seconds_count\\{kind="${kind}"\\}`) || 0), 0);

    // The measured run: blocks of BLOCK_S seconds, one route at a time at `rate`, ordered A B B A A B …, so
    // each route's blocks sit as early and as late in the run as the other's. Scraping the server's metrics
    // resets prom-client's event-loop delay histogram, so the lag reported after the run is that of the run.
    const m0 = await serverMetrics();
    const checkBefore = await envoyHistogram(adminPort, EXTAUTHZ_RQ_TIME);
    const loadBefore = loadavg();
    const cpu0 = await Promise.all([processCpuMs(child.pid!), processCpuMs(envoy.pid), processCpuMs(process.pid)]);
    const blocks = Math.max(1, Math.round(seconds / BLOCK_S));
    const hits: VegetaHit[] = [];
    for (let b = 0; b < 2 * blocks; b++) {
      const bound = b % 4 === 0 || b % 4 === 3;
      hits.push(...(await attack([url(bound ? '/authz/x' : '/plain/x')], seconds / blocks)));
    }
    const cpu1 = await Promise.all([processCpuMs(child.pid!), processCpuMs(envoy.pid), processCpuMs(process.pid)]);
    const loadAfter = loadavg();
    const m1 = await serverMetrics();
    const check = quantilesOf(subtractHistogram(await envoyHistogram(adminPort, EXTAUTHZ_RQ_TIME), checkBefore));

    const authz = routeStats(hits.filter((h) => h.url.endsWith('/authz/x')));
    const plain = routeStats(hits.filter((h) => h.url.endsWith('/plain/x')));
    const cpuUs = (i: number, n: number) => Math.round(((cpu1[i]!.user + cpu1[i]!.system - cpu0[i]!.user - cpu0[i]!.system) * 1000) / Math.max(1, n));
    const r3 = (n: number) => Math.round(n * 1000) / 1000;
    const sched = await schedulingPolicy();
    const results = {
      // Response time from the moment each request was due (coordinated-omission-correct), ext_authz route
      // minus plain route, same percentile.
      extauthz_added_p50_ms: r3(authz.p50 - plain.p50),
      extauthz_added_p99_ms: r3(authz.p99 - plain.p99),
      extauthz_route_p50_ms: r3(authz.p50),
      extauthz_route_p99_ms: r3(authz.p99),
      extauthz_route_p999_ms: r3(authz.p999),
      plain_route_p50_ms: r3(plain.p50),
      plain_route_p99_ms: r3(plain.p99),
      plain_route_p999_ms: r3(plain.p999),
      // The same from the moment vegeta actually sent each request (service time, not corrected).
      extauthz_added_service_p99_ms: r3(authz.serviceP99 - plain.serviceP99),
      // How late vegeta sent against its schedule (p99, both routes): large = the generator was starved.
      generator_send_lag_p99_ms: r3(pct(hits.map((h) => h.sendLagMs).sort((x, y) => x - y), 99)),
      // Envoy's own histogram of the Check round trip (cluster proxyshard-extauthz upstream_rq_time) over
      // the measured run only: where the added latency goes. Envoy records it in whole milliseconds
      // (truncated), so 1 means 1 to 2 ms.
      envoy_extauthz_check_p50_ms: r3(check.p50),
      envoy_extauthz_check_p99_ms: r3(check.p99),
      envoy_extauthz_check_max_ms: r3(check.max),
      envoy_extauthz_checks: check.count,
      // CPU time (user + system, all threads, from /proc in 10 ms ticks) per request of the route it serves.
      extauthz_server_cpu_us_per_request: cpuUs(0, authz.n),
      envoy_cpu_us_per_request: cpuUs(1, hits.length),
      bench_process_cpu_us_per_request: cpuUs(2, hits.length),
      // The ext_authz process's event-loop lag over the run (prom-client's monitorEventLoopDelay, 10 ms
      // resolution) and its garbage collection (count, total time).
      extauthz_server_event_loop_lag_p99_ms: r3(m1('nodejs_eventloop_lag_p99_seconds') * 1000),
      extauthz_server_event_loop_lag_max_ms: r3(m1('nodejs_eventloop_lag_max_seconds') * 1000),
      extauthz_server_gc_count: gcCount(m1) - gcCount(m0),
      extauthz_server_gc_ms: r3(gcMs(m1) - gcMs(m0)),
      // Requests per route, and those not answered 2xx (counted in the percentiles above).
      extauthz_requests: authz.n,
      extauthz_failed: authz.failed,
      plain_requests: plain.n,
      plain_failed: plain.failed,
      target_rate_per_route_per_s: rate,
      duration_s: seconds,
      // 1-minute load average of the machine before and after the run (2 cores: above 2 = queueing).
      load_avg_1m_before: Math.round(loadBefore[0]! * 100) / 100,
      load_avg_1m_after: Math.round(loadAfter[0]! * 100) / 100,
      // Scheduling priority the bench (and the processes it starts) ran at: 0 is normal. Its scheduling class
      // is in `machine`.
      nice: getPriority(),
      machine: `${cpus().length}x ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}, envoy concurrency 1, vegeta open loop (one route at a time at the target rate, alternating ${BLOCK_S} s blocks ABBA), bench started in scheduling class ${sched}, ${describePlacement(placement)}`,
      date: new Date().toISOString(),
    };
    for (const [k, val] of Object.entries(results)) console.log(`${k}=${val}`);
    for (const [route, r] of [['ext_authz', authz], ['plain', plain]] as const) {
      if (r.failed > r.n / 100) {
        console.error(`WARNING: ${r.failed} of ${r.n} ${route} requests failed: the machine could not carry the load (see load_avg_*); the percentiles are not a measure of ext_authz`);
      }
    }
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
