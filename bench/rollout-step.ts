/**
 * Rollout step latency: from the step decision (`at` of the workflow's `rollout.step.started` event of a
 * setWeight step: the start of the workflow task that decided it) to every proxy serving the new weight
 * (`at` of `rollout.traffic.serving`: when the step's activity saw every proxy of the node group ACK the
 * snapshot — or a newer one — and its config dump show the route's new weights). Runs recorded before the
 * batched-steps patch stamped both events with their write time instead.
 * N concurrent rollouts on N routes of one tenant, one real Envoy, one in-process worker, real Temporal dev
 * server and PostgreSQL; each rollout: setWeight 10 → 50 → 100 (no bake, no analysis), then promote.
 * Run with N = 50 and N = 200; p50 and p99 over all setWeight steps.
 *
 * Also from each run: the process's CPU time per step (xds, worker and API share this process), and, from
 * the Temporal histories of a sample of the rollouts, per activity type the time tasks waited in the queue
 * (scheduled → started) and ran (started → completed) — where a slow step spends its time.
 *
 *   npm run bench:rollout                         N = 50 and 200, writes bench/results/rollout.json
 *   npm run bench:rollout -- --sizes 20           quick iteration (no results file unless --write)
 *   node --cpu-prof --cpu-prof-dir /tmp/prof --import tsx bench/rollout-step.ts --sizes 50
 *   npm run bench:rollout -- --sizes 50 --profile /tmp/p   V8 CPU profile of the main thread over the measured
 *                                                          window only: /tmp/p-50.cpuprofile
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { fileURLToPath } from 'node:url';
import * as startRoute from '../app/api/v1/rollouts/route';
import { setAppDb } from '../server/app-db';
import type { Tenant } from '../server/db/tenant.repo';
import { call, makeMember, makeToken } from '../test/support/api';
import { mapLimit, startRolloutHarness } from '../test/support/rollout-harness';
import { eventually } from '../test/support/xds-harness';

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

interface ActivityTiming {
  queueMs: number[];
  runMs: number[];
}

interface HistoryFigures {
  /** Per activity type: scheduled → started and started → completed. */
  activities: Record<string, ActivityTiming>;
  /** Events, workflow tasks and activity tasks per rollout: what the Temporal server stores and dispatches. */
  eventsPerRollout: number;
  workflowTasksPerRollout: number;
  activityTasksPerRollout: number;
}

/** Activity timings and history sizes, from the histories of `workflowIds`. */
async function historyFigures(client: Client, workflowIds: string[]): Promise<HistoryFigures> {
  const out: Record<string, ActivityTiming> = {};
  let events = 0;
  let workflowTasks = 0;
  let activityTasks = 0;
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
  for (const id of workflowIds) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const scheduled = new Map<string, { type: string; at: number }>();
    const started = new Map<string, number>();
    for (const e of history.events ?? []) {
      const eid = String(e.eventId);
      events += 1;
      if (e.workflowTaskStartedEventAttributes) workflowTasks += 1;
      if (e.activityTaskStartedEventAttributes) activityTasks += 1;
      if (e.activityTaskScheduledEventAttributes) {
        scheduled.set(eid, { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at: ms(e.eventTime) });
      } else if (e.activityTaskStartedEventAttributes) {
        const s = scheduled.get(String(e.activityTaskStartedEventAttributes.scheduledEventId));
        if (s) started.set(String(e.activityTaskStartedEventAttributes.scheduledEventId), ms(e.eventTime));
      } else if (e.activityTaskCompletedEventAttributes) {
        const sid = String(e.activityTaskCompletedEventAttributes.scheduledEventId);
        const s = scheduled.get(sid);
        const st = started.get(sid);
        if (!s || st === undefined) continue;
        const t = (out[s.type] ??= { queueMs: [], runMs: [] });
        t.queueMs.push(st - s.at);
        t.runMs.push(ms(e.eventTime) - st);
      }
    }
  }
  const per = (x: number) => Math.round((x / Math.max(1, workflowIds.length)) * 10) / 10;
  return { activities: out, eventsPerRollout: per(events), workflowTasksPerRollout: per(workflowTasks), activityTasksPerRollout: per(activityTasks) };
}

/** CPU ms of this process' threads by thread name (Linux /proc; empty elsewhere): where the CPU per step goes. */
function threadCpuMs(): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
      out.set(name, (out.get(name) ?? 0) + (ticks * 1000) / 100);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/**
 * CPU ms of the processes this one started (Temporal dev server, PostgreSQL, Envoy), by process name, with the
 * CPU of their exited children (PostgreSQL backends) counted in their parent (Linux /proc; empty elsewhere).
 */
function childProcessCpuMs(): Map<string, number> {
  const out = new Map<string, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  const procs = new Map<number, { ppid: number; name: string; ms: number }>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
      procs.set(Number(pid), { ppid: Number(f[1]), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ms: (ticks * 1000) / 100 });
    } catch {
      // gone meanwhile
    }
  }
  const mine = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) {
      if (mine.has(pid) || !mine.has(p.ppid)) continue;
      mine.add(pid);
      grew = true;
    }
  }
  mine.delete(process.pid);
  // Each live descendant once; exited ones are in their parent's cutime/cstime.
  for (const pid of mine) {
    const p = procs.get(pid)!;
    out.set(p.name, (out.get(p.name) ?? 0) + p.ms);
  }
  return out;
}

/** Starts V8's CPU profiler on this thread; the returned function stops it and writes the profile to `file`. */
async function startProfile(file: string): Promise<() => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

async function run(n: number, profileFile?: string): Promise<{ samples: number[]; wallMs: number; failed: number; failures: string[]; cpuMsPerStep: number; threadMs: Map<string, number>; childMs: Map<string, number>; history: HistoryFigures }> {
  const h = await startRolloutHarness({ routes: n });
  try {
    await h.startInProcessWorker();
    setAppDb(h.appDb);
    const tenant = (await h.xds.db.tenant.findUniqueOrThrow({ where: { id: h.xds.tenantId } })) as Tenant;
    const op = await makeMember(h.xds.db, tenant, 'operator', { username: 'bench' });
    const token = (await makeToken(h.xds.db, op)).secret;
    const revisionId = await h.changeRevision(`user:${op.user.id}`);
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    const threads0 = threadCpuMs();
    const stopProfile = profileFile ? await startProfile(profileFile) : undefined;
    const children0 = childProcessCpuMs();
    const started = await mapLimit([...Array(n).keys()], 10, (i) =>
        call(startRoute.POST, {
          token,
          json: {
            revisionId,
            spec: {
              route: `r${i}`,
              stableCluster: `s${i}`,
              canaryCluster: `c${i}`,
              ackTimeoutMs: 600_000,
              steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'setWeight', weight: 50 }, { kind: 'setWeight', weight: 100 }],
            },
          },
        }),
    );
    const ids = started.map((s) => {
      if (s.status !== 201) throw new Error(`start: ${s.status} ${JSON.stringify(s.body)}`);
      return s.body.rollout.id as string;
    });
    await eventually(
      'rollouts finished',
      async () => ((await h.xds.db.rollout.count({ where: { id: { in: ids }, phase: { in: ['Promoted', 'Failed', 'Aborted'] } } })) === n ? true : undefined),
      1_800_000,
      500,
    );
    const wallMs = Date.now() - t0;
    await stopProfile?.();
    const cpu = process.cpuUsage(cpu0);
    const threadMs = new Map([...threadCpuMs()].map(([name, ms]) => [name, ms - (threads0.get(name) ?? 0)]));
    const childMs = new Map([...childProcessCpuMs()].map(([name, ms]) => [name, ms - (children0.get(name) ?? 0)]));
    const notPromoted = await h.xds.db.rollout.findMany({ where: { id: { in: ids }, phase: { not: 'Promoted' } }, select: { routeName: true, phase: true, failure: true } });
    const failures = notPromoted.map((r) => `${r.routeName}: ${r.phase} ${JSON.stringify(r.failure)}`);
    const rows = await h.xds.db.rollout.findMany({ where: { id: { in: ids } }, select: { workflowId: true }, take: 20 });
    const history = await historyFigures(h.client, rows.map((r) => r.workflowId));
    const events = await h.xds.db.rolloutEvent.findMany({ where: { rolloutId: { in: ids } }, orderBy: [{ rolloutId: 'asc' }, { seq: 'asc' }] });
    const samples: number[] = [];
    const startedAt = new Map<string, number>();
    for (const e of events) {
      const key = `${e.rolloutId}:${e.stepIndex}`;
      if (e.action === 'rollout.step.started') startedAt.set(key, e.at.getTime());
      if (e.action === 'rollout.traffic.serving' && (e.detail as { change?: string }).change === 'set') {
        const s = startedAt.get(key);
        if (s !== undefined) samples.push(e.at.getTime() - s);
      }
    }
    return { samples: samples.sort((a, b) => a - b), wallMs, failed: failures.length, failures, cpuMsPerStep: (cpu.user + cpu.system) / 1000 / (n * 4), threadMs, childMs, history };
  } finally {
    setAppDb(undefined);
    await h.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '50,200' }, write: { type: 'boolean', default: false }, profile: { type: 'string' } } });
  const sizes = values.sizes.split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--sizes: a comma-separated list of positive integers, got ${values.sizes}`);
  const write = values.write || values.sizes === '50,200';
  const results: Record<string, number | string> = {};
  for (const n of sizes) {
    const r = await run(n, values.profile ? `${values.profile}-${n}.cpuprofile` : undefined);
    for (const f of r.failures.slice(0, 10)) console.log(`# not promoted (N=${n}): ${f}`);
    console.log(`# N=${n} per rollout: ${r.history.eventsPerRollout} history events, ${r.history.workflowTasksPerRollout} workflow tasks, ${r.history.activityTasksPerRollout} activity tasks`);
    for (const [type, t] of Object.entries(r.history.activities)) {
      const q = t.queueMs.sort((a, b) => a - b);
      const x = t.runMs.sort((a, b) => a - b);
      console.log(`# N=${n} ${type}: n=${x.length} queue p50=${quantile(q, 0.5).toFixed(0)} p99=${quantile(q, 0.99).toFixed(0)} ms, run p50=${quantile(x, 0.5).toFixed(0)} p99=${quantile(x, 0.99).toFixed(0)} ms`);
    }
    const byThread = [...r.threadMs].filter(([, ms]) => ms > 0).sort((a, b) => b[1] - a[1]);
    console.log(`# N=${n} CPU ms per step by thread: ${byThread.map(([name, ms]) => `${name}=${(ms / (n * 4)).toFixed(1)}`).join(' ')}`);
    const byChild = [...r.childMs].filter(([, ms]) => ms > 0).sort((a, b) => b[1] - a[1]);
    console.log(`# N=${n} CPU ms per step of child processes: ${byChild.map(([name, ms]) => `${name}=${(ms / (n * 4)).toFixed(1)}`).join(' ')}`);
    results[`rollout_step_to_serving_p50_ms_${n}`] = quantile(r.samples, 0.5);
    results[`rollout_step_to_serving_p99_ms_${n}`] = quantile(r.samples, 0.99);
    results[`rollout_step_to_serving_max_ms_${n}`] = r.samples[r.samples.length - 1] ?? NaN;
    results[`rollout_steps_measured_${n}`] = r.samples.length;
    results[`rollout_failed_${n}`] = r.failed;
    results[`rollout_wall_ms_${n}`] = r.wallMs;
    // setWeight ×3 + promote per rollout; xds, worker and API run in this process.
    results[`rollout_cpu_ms_per_step_${n}`] = Math.round(r.cpuMsPerStep * 10) / 10;
  }
  for (const [k, v] of Object.entries(results)) console.log(`${k}=${v}`);
  const out = {
    ...results,
    machine: `${cpus().length}x ${cpus()[0]?.model.trim() ?? 'cpu'}, node ${process.version}, one Envoy (concurrency 1), xds + worker + PostgreSQL + Temporal dev server on the same machine`,
    date: new Date().toISOString(),
  };
  if (!write) return;
  const dir = join(fileURLToPath(new URL('.', import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'rollout.json'), `${JSON.stringify(out, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
