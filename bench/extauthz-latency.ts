/**
 * ext_authz added latency through a real Envoy: the same upstream behind two routes of one listener, one
 * bound to a request policy (ext_authz filter → our ext_authz server in its own process → Wasm), one not.
 * Open-loop load at a fixed rate (default 1,000 req/s) on a precomputed schedule, from a load generator in
 * its own process (bench/extauthz-load-generator.ts), for a bounded duration per route, the routes
 * alternating second by second, keep-alive HTTP/1.1 connections; added latency = percentile(bound) −
 * percentile(unbound). Also the ext_authz server's CPU time per request (user and system), its event-loop
 * lag and GC time during the bound runs only, Envoy's own view of the Check round trip, and how late the
 * generator sent against its schedule. Note the machine's load when reading the figures: everything shares
 * its cores. Prints name=value lines and writes bench/results/extauthz.json.
 *   npx tsx bench/extauthz-latency.ts [seconds=10] [rate=1000] [--cpu-prof DIR]
 * --cpu-prof DIR: the ext_authz server runs with `node --cpu-prof` and writes its profile into DIR on exit.
 */
import { execFile, fork, spawn } from 'node:child_process';
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
import { createPolicyVersion } from '../server/services/policy.service';
import { publishRevision } from '../server/services/publish.service';
import { createTestDatabase } from '../test/support/db';
import { envoyBootstrap } from '../workers/envoy/bootstrap';
import { startEnvoy } from '../workers/envoy/envoy.process';
import { extAuthzBootstrapCluster } from '../workers/extauthz/extauthz.server';
import { createPolicyDeps } from '../server/opa/policy-deps';
import { startXdsServer } from '../workers/xds/xds.server';
import type { LoadRunResult } from './extauthz-load-generator';

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

/** utime and stime of a process (all its threads), in ms (Linux /proc). */
async function processCpuMs(pid: number): Promise<{ user: number; system: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of /proc/<pid>/stat (utime, stime) in clock ticks, here at index 11 and 12.
  const hz = Number(await new Promise<string>((resolve) => execFile('getconf', ['CLK_TCK'], (err, out) => resolve(err ? '100' : out.trim()))));
  return { user: (Number(fields[11]) / hz) * 1000, system: (Number(fields[12]) / hz) * 1000 };
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

    // The load generator in its own process (IPC), started after everything else is up.
    const generator = fork(path.join(import.meta.dirname, 'extauthz-load-generator.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    cleanups.unshift(async () => {
      if (generator.exitCode === null) {
        generator.disconnect();
        await new Promise((r) => generator.once('exit', r));
      }
    });
    const load = (p: string, count: number, rate: number) =>
      new Promise<LoadRunResult>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`load generator exited ${code}`));
        generator.once('exit', onExit);
        generator.once('message', (m: LoadRunResult) => {
          generator.off('exit', onExit);
          resolve(m);
        });
        generator.send({ kind: 'run', host: '127.0.0.1', port: listenerPort, path: p, rate, count });
      });

    // Both routes must answer 200 (a refusal names its reason: the ext_authz deny body).
    for (const p of ['/authz/x', '/plain/x']) {
      const res = await fetch(`http://127.0.0.1:${listenerPort}${p}`);
      if (res.status !== 200) throw new Error(`${p}: ${res.status} ${await res.text()}`);
    }
    // Warm-up (connections, JIT) until a round of each route is clean (a machine busy with other work can
    // make the first checks outlast the filter's timeout, which fails closed).
    for (let round = 1; ; round++) {
      let clean = true;
      for (const p of ['/authz/x', '/plain/x']) {
        const w = await load(p, 500, 500);
        if (w.errors > 0 || Object.keys(w.statuses).length > 0) {
          clean = false;
          if (round === 6) throw new Error(`warm-up of ${p}: ${w.errors} errors, statuses ${JSON.stringify(w.statuses)}`);
        }
      }
      if (clean && round >= 2) break;
    }

    interface RouteStats {
      latencies: number[];
      sendLag: number[];
      errors: number;
      sent: number;
      seconds: number;
    }
    const stats = (): RouteStats => ({ latencies: [], sendLag: [], errors: 0, sent: 0, seconds: 0 });
    const total = Math.round(rate);
    const runSecond = async (p: string, into: RouteStats) => {
      const r = await load(p, total, rate);
      for (const l of r.latenciesMs) into.latencies.push(l);
      for (const l of r.sendLagMs) into.sendLag.push(l);
      into.errors += r.errors + Object.values(r.statuses).reduce((a, b) => a + b, 0);
      into.sent += total;
      into.seconds += r.seconds;
    };

    const serverMetrics = async () => {
      const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      return (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
    };
    const gcMs = (metric: (name: string) => number) =>
      ((metric('nodejs_gc_duration_seconds_sum\\{kind="minor"\\}') || 0) + (metric('nodejs_gc_duration_seconds_sum\\{kind="major"\\}') || 0) + (metric('nodejs_gc_duration_seconds_sum\\{kind="incremental"\\}') || 0)) * 1000;

    // The two routes alternate second by second, so both see the same machine (load on a shared machine
    // drifts over tens of seconds); the ext_authz server's CPU is counted over its seconds only. Scraping
    // the server's metrics resets prom-client's event-loop delay histogram, so the lag reported is that
    // of the measured runs, not of the process start (module loading blocks the loop for a while).
    const loadBefore = loadavg();
    const plainStats = stats();
    const authzStats = stats();
    const serverCpu = { user: 0, system: 0 };
    const gcBefore = gcMs(await serverMetrics());
    let lagP99 = 0;
    let lagMax = 0;
    for (let i = 0; i < seconds; i++) {
      await runSecond('/plain/x', plainStats);
      await serverMetrics();
      const cpu0 = await processCpuMs(child.pid!);
      await runSecond('/authz/x', authzStats);
      const cpu1 = await processCpuMs(child.pid!);
      serverCpu.user += cpu1.user - cpu0.user;
      serverCpu.system += cpu1.system - cpu0.system;
      const m = await serverMetrics();
      lagP99 = Math.max(lagP99, m('nodejs_eventloop_lag_p99_seconds') * 1000);
      lagMax = Math.max(lagMax, m('nodejs_eventloop_lag_max_seconds') * 1000);
    }
    const gcDuring = gcMs(await serverMetrics()) - gcBefore;
    const summary = (r: RouteStats) => {
      r.latencies.sort((a, b) => a - b);
      r.sendLag.sort((a, b) => a - b);
      return { p50: pct(r.latencies, 50), p99: pct(r.latencies, 99), n: r.latencies.length, errors: r.errors, achieved: r.sent / r.seconds, sendLagP99: pct(r.sendLag, 99) };
    };
    const plain = summary(plainStats);
    const authz = summary(authzStats);
    const check = await envoyCheckQuantiles(adminPort);
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
      // CPU time (user + system, all threads) the ext_authz server process used per request during the
      // bound runs; /proc counts in clock ticks (10 ms), so a run of a few seconds is good to ~±5 µs.
      extauthz_server_cpu_us_per_request: Math.round(((serverCpu.user + serverCpu.system) * 1000) / Math.max(1, authz.n + authz.errors)),
      extauthz_server_cpu_user_us_per_request: Math.round((serverCpu.user * 1000) / Math.max(1, authz.n + authz.errors)),
      extauthz_server_cpu_system_us_per_request: Math.round((serverCpu.system * 1000) / Math.max(1, authz.n + authz.errors)),
      // The ext_authz process's event-loop lag during the bound runs (worst second's p99 and max; prom-client's
      // monitorEventLoopDelay at 10 ms resolution) and its GC time over the measured part: if these are
      // small while Envoy's view of the round trip is large, the time is lost outside the server's code.
      extauthz_server_event_loop_lag_p99_ms: r3(lagP99),
      extauthz_server_event_loop_lag_max_ms: r3(lagMax),
      extauthz_server_gc_ms: r3(gcDuring),
      // How late the generator sent against its schedule (p99): large = the generator itself was starved.
      generator_send_lag_p99_ms_extauthz: r3(authz.sendLagP99),
      generator_send_lag_p99_ms_plain: r3(plain.sendLagP99),
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
      machine: `${cpus().length}x ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}, envoy concurrency 1, load generator in its own node process, upstream + xds in the bench's, ext_authz server in its own`,
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
