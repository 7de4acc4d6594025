/**
 * Rollout controls and the remaining step kinds on the real stack (REST API → canaryPromotionWorkflow on the
 * real Temporal dev server → real publish → a real Envoy → two upstream versions): pause/resume, abort (back
 * to 0 % canary), promote now (remaining steps skipped), retry after an inconclusive analysis, a NACKed step
 * rolled back to the last good revision, a header route and mirroring observed at the upstreams, and a long
 * rollout that continues as new with its history bounded and its transitions recorded once.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import * as startRoute from '../app/api/v1/rollouts/route';
import * as abortRoute from '../app/api/v1/rollouts/[id]/abort/route';
import * as pauseRoute from '../app/api/v1/rollouts/[id]/pause/route';
import * as promoteRoute from '../app/api/v1/rollouts/[id]/promote/route';
import * as resumeRoute from '../app/api/v1/rollouts/[id]/resume/route';
import * as retryRoute from '../app/api/v1/rollouts/[id]/retry/route';
import type { RolloutFailure } from '../contracts/rollout.schema';
import { verifyAuditChain } from '../server/audit/audit.service';
import { setAppDb } from '../server/app-db';
import { startRollout as startRolloutService } from '../server/services/rollout.service';
import { call, type TestMember } from './support/api';
import { generateTraffic, shareBetween, startRolloutHarness, type RolloutHarness } from './support/rollout-harness';
import { eventually } from './support/xds-harness';

let h: RolloutHarness;
let alice: TestMember; // operator; starts rollouts (the author)
const tokens: Record<string, string> = {};

before(async () => {
  h = await startRolloutHarness({ routes: 7 });
  await h.startInProcessWorker();
  setAppDb(h.xds.db);
  const m = await h.addMembers({ alice: 'operator', bob: 'approver' });
  alice = m.alice.member;
  for (const [n, x] of Object.entries(m)) tokens[n] = x.token;
});

after(async () => {
  setAppDb(undefined);
  await h?.stop();
});

async function startRollout(route: number, steps: unknown[], change: Parameters<RolloutHarness['changeRevision']>[1] = {}): Promise<{ id: string; workflowId: string }> {
  const revisionId = await h.changeRevision(`user:${alice.user.id}`, change);
  const res = await call(startRoute.POST, {
    token: tokens.alice,
    json: { revisionId, spec: { route: `r${route}`, stableCluster: `s${route}`, canaryCluster: `c${route}`, steps, ackTimeoutMs: 20_000 } },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.rollout.id, workflowId: res.body.rollout.workflowId };
}

async function row(id: string) {
  return h.xds.db.rollout.findUniqueOrThrow({ where: { id } });
}

async function finished(id: string, timeoutMs = 120_000) {
  return eventually(`rollout ${id} finished`, async () => {
    const r = await row(id);
    return ['Promoted', 'Failed', 'Aborted'].includes(r.phase) ? r : undefined;
  }, timeoutMs, 200);
}

async function paused(id: string, reason: string) {
  return eventually(`rollout ${id} paused (${reason})`, async () => {
    const r = await row(id);
    return r.pauseReason === reason ? r : undefined;
  }, 60_000, 100);
}

async function events(id: string) {
  return h.xds.db.rolloutEvent.findMany({ where: { rolloutId: id }, orderBy: { seq: 'asc' } });
}

async function command(route: { POST: typeof pauseRoute.POST }, id: string, token: string, json: Record<string, unknown> = {}) {
  return call(route.POST, { token, params: { id }, json });
}

/** `n` requests to `path` one after another; the upstream that answered each (x-version) or `status:<code>`. */
async function send(path: string, n: number, headers: Record<string, string> = {}): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await new Promise<string>((resolve) => {
        const req = request({ host: '127.0.0.1', port: h.listenerPort, path, headers, timeout: 5000 }, (res) => {
          const v = res.headers['x-version'];
          res.resume();
          res.on('end', () => resolve(typeof v === 'string' ? v : `status:${res.statusCode}`));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', (err) => resolve(`error:${err.message}`));
        req.end();
      }),
    );
  }
  return out;
}

function count(labels: string[], name: string): number {
  return labels.filter((l) => l === name).length;
}

test('pause holds a rollout at its weight past the bake; resume carries on to promotion; a second pause is refused', { timeout: 180_000 }, async () => {
  const r = await startRollout(0, [{ kind: 'setWeight', weight: 20, bakeMs: 1500 }, { kind: 'setWeight', weight: 60 }, { kind: 'setWeight', weight: 100 }]);
  await eventually('20 % served', async () => (await events(r.id)).find((e) => e.action === 'rollout.traffic.serving'));
  const p = await command(pauseRoute, r.id, tokens.alice!, { reason: 'checking dashboards' });
  assert.equal(p.status, 200, JSON.stringify(p.body));
  assert.equal(p.body.status.phase, 'Paused');
  assert.equal(p.body.status.pauseReason, 'Manual');
  const again = await command(pauseRoute, r.id, tokens.alice!);
  assert.equal(again.status, 409);
  assert.match(again.body.error.message, /already paused/);
  // The bake ends (step 0 completes) but step 1 does not start while paused.
  await eventually('bake over', async () => (await events(r.id)).find((e) => e.action === 'rollout.step.completed'));
  await new Promise((res) => setTimeout(res, 1500));
  const held = await events(r.id);
  assert.equal(held.filter((e) => e.action === 'rollout.step.started').length, 1, held.map((e) => e.action).join());
  assert.equal((await row(r.id)).phase, 'Paused');
  assert.equal(await h.servedRoute('r0'), 's0=80,c0=20');

  const resumed = await command(resumeRoute, r.id, tokens.alice!, { reason: 'all good' });
  assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
  const done = await finished(r.id);
  assert.equal(done.phase, 'Promoted', JSON.stringify(done.failure));
  assert.equal(await h.servedRoute('r0'), 'c0=100');
  const audit = await h.xds.db.auditEntry.findMany({ where: { targetId: r.id }, orderBy: { seq: 'asc' } });
  assert.deepEqual(
    audit.filter((a) => a.action === 'rollout.paused' || a.action === 'rollout.resumed' || a.action === 'rollout.pause.refused').map((a) => [a.action, a.actorName]),
    [['rollout.paused', 'alice'], ['rollout.pause.refused', 'alice'], ['rollout.resumed', 'alice']],
  );
});

test('abort during a pause step sends the traffic back to 0 % canary and ends Aborted, audited with the actor', { timeout: 180_000 }, async () => {
  const traffic = generateTraffic(h.listenerPort, ['/r1/x'], { parallel: 2 });
  try {
    const r = await startRollout(1, [{ kind: 'setWeight', weight: 40 }, { kind: 'pause' }, { kind: 'setWeight', weight: 100 }]);
    await paused(r.id, 'PauseStep');
    assert.equal(await h.servedRoute('r1'), 's1=60,c1=40');
    await eventually('canary answers', async () => (traffic.entries.some(([, l]) => l === 'canary') ? true : undefined));
    const a = await command(abortRoute, r.id, tokens.alice!, { reason: 'latency looks off' });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const done = await finished(r.id);
    assert.equal(done.phase, 'Aborted');
    const failure = done.failure as unknown as RolloutFailure;
    assert.equal(failure.reason, 'aborted');
    assert.match(failure.message, /aborted by alice: latency looks off/);
    assert.equal(await h.servedRoute('r1'), 's1=100');
    const from = Date.now();
    await eventually('requests after the abort', async () => (shareBetween(traffic, 'canary', from, Date.now()).n >= 100 ? true : undefined), 30_000, 100);
    assert.equal(shareBetween(traffic, 'canary', from, Date.now()).share, 0, 'no request reaches the canary after the abort');
    const evs = await events(r.id);
    assert.ok(evs.some((e) => e.action === 'rollout.traffic.serving' && (e.detail as { change: string }).change === 'rollback'));
    assert.ok(!evs.some((e) => e.action === 'rollout.step.started' && e.stepIndex === 2), 'the last step never started');
    const audit = await h.xds.db.auditEntry.findMany({ where: { targetId: r.id }, orderBy: { seq: 'asc' } });
    assert.equal(audit.find((x) => x.action === 'rollout.abort.requested')?.actorName, 'alice');
    assert.ok(audit.some((x) => x.action === 'rollout.aborted'));
  } finally {
    await traffic.stop();
  }
});

test('promote now skips the remaining steps: an operator is refused, an approver promotes, the canary takes 100 %', { timeout: 180_000 }, async () => {
  const r = await startRollout(2, [{ kind: 'setWeight', weight: 10 }, { kind: 'pause' }, { kind: 'setWeight', weight: 50 }, { kind: 'setWeight', weight: 100 }]);
  await paused(r.id, 'PauseStep');
  const asOperator = await command(promoteRoute, r.id, tokens.alice!);
  assert.equal(asOperator.status, 403);
  const p = await command(promoteRoute, r.id, tokens.bob!, { reason: 'hotfix, skip the rest' });
  assert.equal(p.status, 200, JSON.stringify(p.body));
  const done = await finished(r.id);
  assert.equal(done.phase, 'Promoted', JSON.stringify(done.failure));
  assert.equal(await h.servedRoute('r2'), 'c2=100');
  const answered = count(await send('/r2/x', 20), 'canary');
  assert.equal(answered, 20, 'every request goes to the promoted canary');
  const evs = await events(r.id);
  assert.deepEqual(evs.filter((e) => e.action === 'rollout.step.started').map((e) => e.stepIndex), [0, 1], 'steps 2 and 3 never ran');
  assert.deepEqual(
    evs.filter((e) => e.action === 'rollout.traffic.serving').map((e) => (e.detail as { change: string }).change),
    ['set', 'promote'],
  );
  const requested = evs.find((e) => e.action === 'rollout.promote.requested');
  assert.equal(requested?.actorName, 'bob');
  assert.equal((requested?.detail as { skippedFromStep: number }).skippedFromStep, 1);
});

test('an inconclusive analysis pauses the rollout; retry re-runs the analysis, which passes once there is traffic', { timeout: 180_000 }, async () => {
  const r = await startRollout(3, [
    { kind: 'setWeight', weight: 50 },
    { kind: 'analysis', intervalMs: 1500, count: 1, minRequests: 20, metrics: [{ name: 'successRate', min: 0.9 }] },
  ]);
  await paused(r.id, 'AnalysisInconclusive');
  const early = await command(retryRoute, r.id, tokens.alice!);
  const traffic = generateTraffic(h.listenerPort, ['/r3/x'], { parallel: 2 });
  try {
    assert.equal(early.status, 200, JSON.stringify(early.body)); // retry is accepted while paused inconclusive
    const done = await finished(r.id);
    assert.equal(done.phase, 'Promoted', JSON.stringify(done.failure));
  } finally {
    await traffic.stop();
  }
  const evs = await events(r.id);
  const analyses = evs.filter((e) => e.action.startsWith('rollout.analysis.')).map((e) => e.action);
  assert.equal(analyses[0], 'rollout.analysis.inconclusive');
  assert.equal(analyses.at(-1), 'rollout.analysis.passed');
  assert.ok(evs.some((e) => e.action === 'rollout.retry'));
  const late = await command(retryRoute, r.id, tokens.alice!);
  assert.equal(late.status, 409);
  assert.match(late.body.error.message, /Promoted/);
});

test('a step whose configuration Envoy rejects (NACK) rolls back to the last good revision', { timeout: 180_000 }, async () => {
  // The change's canary cluster health-checks a path with a line break: ProxyShard's validation lets it
  // through, Envoy's own (protoc-gen-validate: a header value) rejects the cluster, a NACK.
  const r = await startRollout(4, [{ kind: 'setWeight', weight: 30 }, { kind: 'setWeight', weight: 100 }], {
    canary: { healthCheck: { path: '/healthz\nX-Injected: 1' } },
  });
  const done = await finished(r.id);
  assert.equal(done.phase, 'Failed');
  const failure = done.failure as unknown as RolloutFailure;
  assert.equal(failure.reason, 'nack', JSON.stringify(failure));
  assert.match(failure.message, /rejected/);
  assert.equal(await h.servedRoute('r4'), 's4=100');
  assert.equal(count(await send('/r4/x', 20), 'stable'), 20);
  // The live graph is the last good one again: same content as the revision live before the rollout.
  const live = await h.xds.db.revision.findFirstOrThrow({ where: { tenantId: h.xds.tenantId, state: 'live' } });
  const lastGood = await h.xds.db.revision.findUniqueOrThrow({ where: { id: done.lastGoodRevisionId! } });
  assert.equal(live.graphHash, lastGood.graphHash, 'the live graph has the content of the last good revision');
  const evs = await events(r.id);
  assert.ok(evs.some((e) => e.action === 'rollout.traffic.serving' && (e.detail as { change: string }).change === 'rollback'), 'the rollback was served');
  assert.ok(evs.some((e) => e.action === 'rollout.failed'));
});

test('a header route sends matching requests to the canary and mirroring copies requests to it, both observed at the upstreams', { timeout: 180_000 }, async () => {
  const r = await startRollout(5, [
    { kind: 'setHeaderRoute', match: { name: 'x-canary', exact: 'always' } },
    { kind: 'pause' },
    { kind: 'setHeaderRoute', match: null },
    { kind: 'mirror', percent: 100 },
    { kind: 'pause' },
    { kind: 'mirror', percent: 0 },
    { kind: 'setWeight', weight: 100 },
  ]);
  await paused(r.id, 'PauseStep');
  assert.equal(count(await send('/r5/x', 20, { 'x-canary': 'always' }), 'canary'), 20, 'the header route goes to the canary');
  assert.equal(count(await send('/r5/x', 20, { 'x-canary': 'no' }), 'stable'), 20, 'other values follow the weight (0 %)');
  assert.equal(count(await send('/r5/x', 20), 'stable'), 20);

  assert.equal((await command(resumeRoute, r.id, tokens.alice!)).status, 200);
  await eventually('second pause step', async () => ((await row(r.id)).currentStepIndex === 4 && (await row(r.id)).pauseReason === 'PauseStep' ? true : undefined), 60_000, 100);
  assert.equal(count(await send('/r5/x', 20, { 'x-canary': 'always' }), 'stable'), 20, 'the header route is gone');
  const before = h.canary.count();
  const answered = await send('/r5/x', 40);
  assert.equal(count(answered, 'stable'), 40, 'mirrored requests are answered by the stable');
  await eventually('40 mirrored requests at the canary', async () => (h.canary.count() - before >= 40 ? true : undefined), 20_000, 100);

  assert.equal((await command(resumeRoute, r.id, tokens.alice!)).status, 200);
  const done = await finished(r.id);
  assert.equal(done.phase, 'Promoted', JSON.stringify(done.failure));
  const settled = h.canary.count();
  assert.equal(count(await send('/r5/x', 20), 'canary'), 20);
  assert.equal(h.canary.count() - settled, 20, 'no mirrored copies after promotion');
  assert.equal(await h.servedRoute('r5-canary'), null, 'the header route is removed');
});

test('a long rollout continues as new every few steps: bounded history per run, every transition recorded once', { timeout: 240_000 }, async () => {
  const revisionId = await h.changeRevision(`user:${alice.user.id}`);
  const weights = [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
  const { rollout } = await startRolloutService(
    h.xds.db,
    alice.principal,
    { revisionId, spec: { route: 'r6', stableCluster: 's6', canaryCluster: 'c6', ackTimeoutMs: 20_000, steps: weights.map((weight) => ({ kind: 'setWeight', weight })) } },
    { stepsPerRun: 3 },
  );
  const done = await finished(rollout.id);
  assert.equal(done.phase, 'Promoted', JSON.stringify(done.failure));
  assert.equal((done.status as { runs: number }).runs, Math.ceil(weights.length / 3), 'one run per 3 steps');
  const handle = h.client.workflow.getHandle(rollout.workflowId);
  const runs: number[] = [];
  let runId: string | undefined = (await handle.describe()).runId;
  // Walk back through the chain of runs: each one's history stays small.
  for (let i = 0; runId && i < 10; i++) {
    const history: { events?: { workflowExecutionStartedEventAttributes?: { continuedExecutionRunId?: string | null } | null }[] | null } = await h.client.workflow
      .getHandle(rollout.workflowId, runId)
      .fetchHistory();
    runs.unshift(history.events?.length ?? 0);
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  assert.equal(runs.length, Math.ceil(weights.length / 3));
  for (const n of runs) assert.ok(n < 200, `history of one run: ${n} events`);
  console.log(`[rollout] continue-as-new: ${runs.length} runs, history events per run ${runs.join(', ')}`);
  const evs = await events(rollout.id);
  assert.deepEqual(evs.map((e) => e.seq), evs.map((_, i) => i + 1), 'seq 1..n across runs, no gap, no duplicate');
  assert.deepEqual(
    evs.filter((e) => e.action === 'rollout.traffic.serving').map((e) => (e.detail as { expected: { cluster: string; weight: number }[] }).expected.find((c) => c.cluster === 'c6')?.weight),
    [...weights, 100],
  );
  const audit = await h.xds.db.auditEntry.findMany({ where: { targetId: rollout.id, action: { startsWith: 'rollout.' } } });
  const seqs = audit.map((a) => (a.details as { seq?: number }).seq).filter((s) => s !== undefined);
  assert.equal(new Set(seqs).size, evs.length, 'one audit entry per transition');
  assert.equal(seqs.length, evs.length);
  const chain = await verifyAuditChain(h.xds.db, h.xds.tenantId);
  assert.equal(chain.ok, true, JSON.stringify(chain));
});
