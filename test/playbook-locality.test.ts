/**
 * Failover playbooks inside one cluster (issue 9): a shiftWeight between two localities of cluster `api-ab`
 * (region-a active, region-b standby) observed at the upstreams through a real Envoy, the fail-back playbook,
 * `onVerifyFailure: 'pause'` (a human resumes or aborts through the REST API), and the trigger on Envoy's
 * outlier ejections. Real PostgreSQL, Temporal
 * dev server and Envoy (test/support/playbook-harness.ts).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as startRunRoute from '../app/api/v1/playbooks/[id]/runs/route';
import * as runRoute from '../app/api/v1/playbooks/runs/[id]/route';
import * as resumeRoute from '../app/api/v1/playbooks/runs/[id]/resume/route';
import * as abortRoute from '../app/api/v1/playbooks/runs/[id]/abort/route';
import * as triggerRoute from '../app/api/v1/playbooks/triggers/[id]/route';
import { contentHash } from '../core/xds/snapshot';
import type { RouteGraph } from '../contracts/route-graph.schema';
import { setAppDb } from '../server/app-db';
import { call } from './support/api';
import { clientTraffic, createPlaybookAs, createTriggerAs, oneClusterTwoLocalitiesGraph, startPlaybookHarness, type ClientLog, type PlaybookHarness } from './support/playbook-harness';
import { eventually } from './support/xds-harness';
import { sleep } from './tools/xdp-lab';

let h: PlaybookHarness;
let graph: RouteGraph;

before(async () => {
  h = await startPlaybookHarness();
  await h.startInProcessWorker();
  setAppDb(h.db);
  graph = oneClusterTwoLocalitiesGraph(h.baseGraph);
});

after(async () => {
  setAppDb(undefined);
  await h?.stop();
});

const SHIFT = (from: string, to: string, increments: number, bakeMs: number) => ({
  kind: 'shiftWeight',
  between: { level: 'localities', cluster: '${cluster}', from: { region: from }, to: { region: to } },
  increments,
  bakeMs,
});

const createPlaybook = (name: string, spec: unknown) => createPlaybookAs(h.alice.token, name, spec);

async function startRun(id: string): Promise<string> {
  const res = await call(startRunRoute.POST, { token: h.alice.token, params: { id }, json: { target: 'cluster:api-ab', params: { cluster: 'api-ab' } } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.run.id as string;
}

/** The run as GET /api/v1/playbooks/runs/[id] shows it, once `ok` holds. */
async function runWhen(runId: string, what: string, ok: (run: { phase: string; pauseReason: string | null }) => boolean, timeoutMs = 120_000) {
  return eventually(
    what,
    async () => {
      const res = await call(runRoute.GET, { token: h.alice.token, params: { id: runId } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return ok(res.body.run) ? res.body : undefined;
    },
    timeoutMs,
    200,
  );
}

const finished = (runId: string) => runWhen(runId, `run ${runId} finished`, (r) => ['Completed', 'Compensated', 'Failed'].includes(r.phase), 180_000);

const events = (runId: string) => h.db.playbookRunEvent.findMany({ where: { runId }, orderBy: { seq: 'asc' } });
const event = (runId: string, action: string) =>
  eventually(`${action} of ${runId}`, async () => (await events(runId)).find((e) => e.action === action), 120_000, 100);

/** Requests per upstream (region) answered in [from, to]. */
function landed(log: ClientLog, from: number, to: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [t, status, upstream] of log.entries) if (t >= from && t <= to && status === 200) out[upstream] = (out[upstream] ?? 0) + 1;
  return out;
}

/** Waits until the run completes, then asserts requests land only in `region` (and returns the run). */
async function completedThenOnly(traffic: ClientLog, runId: string, region: string, other: string) {
  const done = await finished(runId);
  assert.equal(done.run.phase, 'Completed', JSON.stringify(done.run.failure));
  const doneAt = new Date(done.run.finishedAt).getTime();
  await sleep(1500);
  const seen = landed(traffic, doneAt + 300, Date.now());
  assert.ok((seen[region] ?? 0) > 20 && seen[other] === undefined, `after run ${runId}: ${region} only: ${JSON.stringify(seen)}`);
  return done;
}

async function liveEndpoints(): Promise<string[]> {
  const live = (await h.db.revision.findFirstOrThrow({ where: { tenantId: h.tenant.id, state: 'live' } })).graph as RouteGraph;
  return live.clusters.find((c) => c.name === 'api-ab')!.endpoints.map((e) => `${e.locality.region}:p${e.priority}`);
}

async function liveGraphHash(): Promise<string> {
  const live = await h.db.revision.findFirstOrThrow({ where: { tenantId: h.tenant.id, state: 'live' } });
  return live.graphHash;
}

test('a shiftWeight between two localities of one cluster moves requests to region B through Envoy; the fail-back playbook returns them', { timeout: 300_000 }, async () => {
  await h.reset();
  await h.publishGraph(graph);
  const failover = await createPlaybook('locality-failover', { steps: [SHIFT('region-a', 'region-b', 2, 3000)], ackTimeoutMs: 30_000 });
  const failback = await createPlaybook('locality-failback', { steps: [SHIFT('region-b', 'region-a', 1, 0)], ackTimeoutMs: 30_000 });
  const traffic = clientTraffic(h.listenerPort, { parallel: 2, maxMs: 240_000 });
  try {
    await sleep(1500);
    const t0 = Date.now();
    const before = landed(traffic, t0 - 1000, t0);
    assert.ok((before['region-a'] ?? 0) > 20 && before['region-b'] === undefined, `before: region A only: ${JSON.stringify(before)}`);

    const runId = await startRun(failover);
    const half = await event(runId, 'playbook.change.acked');
    assert.equal((half.detail as { key: string }).key, 's0.1');
    // The first increment is served while the step bakes (3 s): both regions get requests.
    await sleep(1500);
    const mid = landed(traffic, half.at.getTime() + 300, Date.now());
    assert.ok((mid['region-a'] ?? 0) > 10 && (mid['region-b'] ?? 0) > 10, `half-way: both regions: ${JSON.stringify(mid)}`);

    await completedThenOnly(traffic, runId, 'region-b', 'region-a');
    assert.deepEqual(await liveEndpoints(), ['region-a:p1', 'region-b:p0'], 'region A is the standby priority now');

    const backId = await startRun(failback);
    await completedThenOnly(traffic, backId, 'region-a', 'region-b');
    assert.equal(await liveGraphHash(), contentHash(graph), 'the fail-back restores the cluster as it was');
  } finally {
    await traffic.stop();
  }
});

test("onVerifyFailure 'pause': a failed verification pauses the run for a human; resume carries on, abort compensates to the original graph", { timeout: 300_000 }, async () => {
  await h.reset();
  await h.publishGraph(graph);
  h.regionB.setErrorRatio(0.5);
  const id = await createPlaybook('locality-verified', {
    steps: [SHIFT('region-a', 'region-b', 1, 0), { kind: 'verify', condition: { clusters: ['api-ab'], successRate: { min: 0.99 }, windowMs: 1500, minRequests: 10 }, attempts: 2 }],
    onVerifyFailure: 'pause',
    ackTimeoutMs: 30_000,
  });
  const traffic = clientTraffic(h.listenerPort, { parallel: 2, maxMs: 240_000 });
  try {
    // Resume: the run carries on after the failed verification and completes with the shift in place.
    const first = await startRun(id);
    const paused = await runWhen(first, 'paused after the failed verification', (r) => r.phase === 'Paused');
    assert.equal(paused.run.pauseReason, 'VerifyFailed');
    assert.ok(paused.events.some((e: { action: string }) => e.action === 'playbook.verify.failed'));
    await sleep(1000);
    assert.equal((await call(runRoute.GET, { token: h.alice.token, params: { id: first } })).body.run.phase, 'Paused', 'stays paused until a human decides');
    const resumed = await call(resumeRoute.POST, { token: h.bob.token, params: { id: first }, json: { comment: 'region B errors are known' } });
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    const done = await finished(first);
    assert.equal(done.run.phase, 'Completed', JSON.stringify(done.run.failure));
    assert.notEqual(await liveGraphHash(), contentHash(graph), 'the shift stays');

    // Abort: the paused run compensates: the live graph is the original again.
    await h.publishGraph(graph);
    const second = await startRun(id);
    await runWhen(second, 'paused again', (r) => r.phase === 'Paused');
    const aborted = await call(abortRoute.POST, { token: h.bob.token, params: { id: second }, json: { comment: 'back' } });
    assert.equal(aborted.status, 200, JSON.stringify(aborted.body));
    const comp = await finished(second);
    assert.equal(comp.run.phase, 'Compensated', JSON.stringify(comp.run.failure));
    assert.equal((comp.run.failure as { reason: string }).reason, 'aborted');
    assert.equal(await liveGraphHash(), contentHash(graph), 'graph back to the original content hash');
    const at = new Date(comp.run.finishedAt).getTime();
    await sleep(1500);
    const afterAbort = landed(traffic, at + 300, Date.now());
    assert.ok((afterAbort['region-a'] ?? 0) > 20 && afterAbort['region-b'] === undefined, `after the abort: region A only: ${JSON.stringify(afterAbort)}`);
  } finally {
    await traffic.stop();
  }
});

test("Envoy's outlier detection ejects region A's failing endpoint: the trigger on ejections starts the locality failover", { timeout: 300_000 }, async () => {
  await h.reset();
  const ab = graph.clusters.find((c) => c.name === 'api-ab')!;
  // Both regions active (priority 0), outlier detection on: a few 5xx in a row eject an endpoint.
  const active: RouteGraph = {
    ...graph,
    clusters: graph.clusters.map((c) =>
      c.name === 'api-ab'
        ? { ...ab, endpoints: ab.endpoints.map((e) => ({ ...e, priority: 0 })), outlierDetection: { consecutive5xx: 3, intervalMs: 1000, baseEjectionTimeMs: 60_000, maxEjectionPercent: 50 } }
        : c,
    ),
  };
  await h.publishGraph(active);
  const id = await createPlaybook('ejection-failover', { steps: [SHIFT('region-a', 'region-b', 1, 0)], ackTimeoutMs: 30_000 });
  const traffic = clientTraffic(h.listenerPort, { parallel: 2, maxMs: 240_000 });
  let triggerId = '';
  try {
    triggerId = await createTriggerAs(h.alice.token, id, { target: 'cluster:api-ab', params: { cluster: 'api-ab' }, condition: { clusters: ['api-ab'], ejectionsActive: { min: 1 }, windowMs: 1000 }, intervalMs: 300, cooldownMs: 600_000 });

    await sleep(3000);
    const healthy = landed(traffic, Date.now() - 2500, Date.now());
    assert.ok((healthy['region-a'] ?? 0) > 10 && (healthy['region-b'] ?? 0) > 10, `both regions serve: ${JSON.stringify(healthy)}`);
    assert.equal(await h.db.playbookRun.count({ where: { triggerId } }), 0, 'no ejection, no run');

    h.regionA.setErrorRatio(1);
    const run = await eventually('a run started by the ejection trigger', async () => (await h.db.playbookRun.findFirst({ where: { triggerId } })) ?? undefined, 60_000, 200);
    assert.equal(run.triggerType, 'auto');
    const fired = await h.db.auditEntry.findFirstOrThrow({ where: { action: 'playbook.trigger.fired', targetId: triggerId } });
    assert.ok((fired.details as { measurement: { ejectionsActive: number } }).measurement.ejectionsActive >= 1, JSON.stringify(fired.details));

    await completedThenOnly(traffic, run.id, 'region-b', 'region-a');
    assert.deepEqual(await liveEndpoints(), ['region-a:p1', 'region-b:p0'], 'region A moved to the standby priority');
  } finally {
    await traffic.stop();
    if (triggerId) {
      const off = await call(triggerRoute.DELETE, { token: h.alice.token, params: { id: triggerId } });
      assert.equal(off.status, 200, JSON.stringify(off.body));
    }
  }
});
