/**
 * Rollout step latency: from the step decision (the workflow records `rollout.step.started` for a setWeight
 * step) to every proxy serving the new weight (`rollout.traffic.serving`, recorded once every proxy of the
 * node group ACKed the snapshot — or a newer one — and its config dump shows the route's new weights).
 * N concurrent rollouts on N routes of one tenant, one real Envoy, one in-process worker, real Temporal dev
 * server and PostgreSQL; each rollout: setWeight 10 → 50 → 100 (no bake, no analysis), then promote.
 * Run with N = 50 and N = 200; p50 and p99 over all setWeight steps.
 *
 *   npx tsx bench/rollout-step.ts       prints name=value lines, writes bench/results/rollout.json
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
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

async function run(n: number): Promise<{ samples: number[]; wallMs: number; failed: number }> {
  const h = await startRolloutHarness({ routes: n });
  try {
    await h.startInProcessWorker();
    setAppDb(h.appDb);
    const tenant = (await h.xds.db.tenant.findUniqueOrThrow({ where: { id: h.xds.tenantId } })) as Tenant;
    const op = await makeMember(h.xds.db, tenant, 'operator', { username: 'bench' });
    const token = (await makeToken(h.xds.db, op)).secret;
    const revisionId = await h.changeRevision(`user:${op.user.id}`);
    const t0 = Date.now();
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
    const failed = await h.xds.db.rollout.count({ where: { id: { in: ids }, phase: { not: 'Promoted' } } });
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
    return { samples: samples.sort((a, b) => a - b), wallMs, failed };
  } finally {
    setAppDb(undefined);
    await h.stop();
  }
}

async function main(): Promise<void> {
  const results: Record<string, number | string> = {};
  for (const n of [50, 200]) {
    const r = await run(n);
    results[`rollout_step_to_serving_p50_ms_${n}`] = quantile(r.samples, 0.5);
    results[`rollout_step_to_serving_p99_ms_${n}`] = quantile(r.samples, 0.99);
    results[`rollout_step_to_serving_max_ms_${n}`] = r.samples[r.samples.length - 1] ?? NaN;
    results[`rollout_steps_measured_${n}`] = r.samples.length;
    results[`rollout_failed_${n}`] = r.failed;
    results[`rollout_wall_ms_${n}`] = r.wallMs;
  }
  for (const [k, v] of Object.entries(results)) console.log(`${k}=${v}`);
  const out = {
    ...results,
    machine: `${cpus().length}x ${cpus()[0]?.model.trim() ?? 'cpu'}, node ${process.version}, one Envoy (concurrency 1), xds + worker + PostgreSQL + Temporal dev server on the same machine`,
    date: new Date().toISOString(),
  };
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
