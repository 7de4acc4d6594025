/**
 * Canary rollouts end to end: REST API → canaryPromotionWorkflow on the real Temporal dev server → revisions
 * published by the real publish service → a real Envoy (ADS) → two upstream versions; analysis on Envoy's own
 * admin stats. What a user observes: the split at the upstreams, the rollout's phase and failure, Envoy's
 * served weights, the audit log.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as startRoute from '../app/api/v1/rollouts/route';
import * as rolloutRoute from '../app/api/v1/rollouts/[id]/route';
import * as approveRoute from '../app/api/v1/rollouts/[id]/approve/route';
import type { RolloutFailure } from '../contracts/rollout.schema';
import { setAppDb } from '../server/app-db';
import { call, type TestMember } from './support/api';
import { maybeRecordHistory } from './support/histories';
import { generateTraffic, shareBetween, startRolloutHarness, type RolloutHarness } from './support/rollout-harness';
import { eventually } from './support/xds-harness';

let h: RolloutHarness;
let alice: TestMember; // approver; starts rollouts, so she is the author (bob approves)
let vera: TestMember; // viewer
const tokens: Record<string, string> = {};

before(async () => {
  h = await startRolloutHarness({ routes: 3 });
  await h.startInProcessWorker();
  setAppDb(h.xds.db);
  const m = await h.addMembers({ alice: 'approver', bob: 'approver', vera: 'viewer' });
  alice = m.alice.member;
  vera = m.vera.member;
  for (const [n, x] of Object.entries(m)) tokens[n] = x.token;
});

after(async () => {
  setAppDb(undefined);
  await h?.stop();
});

async function startRollout(route: number, steps: unknown[], opts: { stable?: string; canary?: string } = {}): Promise<{ id: string; workflowId: string }> {
  const revisionId = await h.changeRevision(`user:${alice.user.id}`);
  const res = await call(startRoute.POST, {
    token: tokens.alice,
    json: { revisionId, spec: { route: `r${route}`, stableCluster: opts.stable ?? `s${route}`, canaryCluster: opts.canary ?? `c${route}`, steps, ackTimeoutMs: 20_000 } },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.rollout.id, workflowId: res.body.rollout.workflowId };
}

async function finished(id: string, timeoutMs = 120_000) {
  return eventually(
    `rollout ${id} finished`,
    async () => {
      const r = await h.xds.db.rollout.findUniqueOrThrow({ where: { id } });
      return ['Promoted', 'Failed', 'Aborted'].includes(r.phase) ? r : undefined;
    },
    timeoutMs,
    200,
  );
}

async function events(id: string) {
  return h.xds.db.rolloutEvent.findMany({ where: { rolloutId: id }, orderBy: { seq: 'asc' } });
}

test('a healthy canary goes 10 → 50 → 100 with analysis, the split at the upstreams follows each weight, and it is promoted', { timeout: 240_000 }, async () => {
  const analysis = {
    kind: 'analysis',
    intervalMs: 2500,
    count: 1,
    minRequests: 20,
    metrics: [
      { name: 'successRate', min: 0.95, maxDegradationVsStable: 0.05 },
      { name: 'latencyP99', max: 1000 },
    ],
  };
  const traffic = generateTraffic(h.listenerPort, ['/r0/hello'], { parallel: 4 });
  let rollout: { id: string; workflowId: string };
  try {
    rollout = await startRollout(0, [
      { kind: 'setWeight', weight: 10, bakeMs: 300 },
      analysis,
      { kind: 'setWeight', weight: 50, bakeMs: 300 },
      analysis,
      { kind: 'setWeight', weight: 100, bakeMs: 300 },
      analysis,
    ]);
    const row = await finished(rollout.id);
    assert.equal(row.phase, 'Promoted', JSON.stringify(row.failure));
  } finally {
    await traffic.stop();
  }
  const evs = await events(rollout.id);
  const serving = evs.filter((e) => e.action === 'rollout.traffic.serving' && (e.detail as { change: string }).change === 'set');
  assert.equal(serving.length, 3);
  const figures: string[] = [];
  for (const e of serving) {
    const expected = (e.detail as { expected: { cluster: string; weight: number }[] }).expected;
    const weight = expected.find((c) => c.cluster === 'c0')!.weight;
    const next = evs.find((x) => x.seq > e.seq && (x.action === 'rollout.step.started' || x.action === 'rollout.promoting') && x.seq > e.seq + 2);
    assert.ok(next, 'a later step follows');
    const { share, n } = shareBetween(traffic, 'canary', e.at.getTime(), next.at.getTime());
    figures.push(`weight ${weight}: canary ${(share * 100).toFixed(1)}% of ${n}`);
    assert.ok(n >= 100, `enough requests at weight ${weight}: ${n}`);
    assert.ok(Math.abs(share * 100 - weight) <= 5, `weight ${weight}: observed ${(share * 100).toFixed(1)}% over ${n} requests`);
  }
  console.log(`[rollout] healthy split: ${figures.join('; ')}`);
  const analyses = evs.filter((e) => e.action.startsWith('rollout.analysis.'));
  assert.deepEqual(analyses.map((e) => e.action), ['rollout.analysis.passed', 'rollout.analysis.passed', 'rollout.analysis.passed']);
  // Promoted: canary is the route's only cluster, in Envoy too; one revision per traffic change.
  assert.equal(await h.servedRoute('r0'), 'c0=100');
  const revisions = await h.xds.db.revision.findMany({ where: { createdById: `rollout:${rollout.id}` } });
  assert.equal(revisions.length, 4, 'w10, w50, w100, promote');
  const published = await h.xds.db.auditEntry.count({ where: { action: 'revision.publish', targetId: { in: revisions.map((r) => r.id) } } });
  assert.equal(published, 4);
  await maybeRecordHistory(h.client.workflow.getHandle(rollout.workflowId), 'canary-promotion.healthy');
});

test('a faulty canary (30 % 5xx) fails analysis, traffic returns to 0 % canary, and the rollout is Failed with the metric and values', { timeout: 240_000 }, async () => {
  h.canary.setErrorRatio(0.3);
  const traffic = generateTraffic(h.listenerPort, ['/r1/hello'], { parallel: 4 });
  let rollout: { id: string; workflowId: string };
  try {
    rollout = await startRollout(1, [
      { kind: 'setWeight', weight: 30 },
      { kind: 'analysis', intervalMs: 2000, count: 3, minRequests: 20, metrics: [{ name: 'successRate', min: 0.95 }] },
      { kind: 'setWeight', weight: 100 },
    ]);
    const row = await finished(rollout.id);
    assert.equal(row.phase, 'Failed');
    const failure = row.failure as unknown as RolloutFailure;
    assert.equal(failure.reason, 'analysis');
    assert.equal(failure.metrics?.[0]?.metric, 'successRate');
    const value = failure.metrics![0]!.canary!;
    assert.ok(value > 0.6 && value < 0.8, `canary success rate ${value}`);
    assert.equal(failure.metrics![0]!.min, 0.95);
    assert.match(failure.message, /successRate .* is below the minimum 95\.00%/);
    const evs = await events(rollout.id);
    const failedAt = evs.find((e) => e.action === 'rollout.analysis.failed')!.at.getTime();
    const back = evs.find((e) => e.action === 'rollout.traffic.serving' && (e.detail as { change: string }).change === 'rollback');
    assert.ok(back, 'the rollback was served');
    console.log(`[rollout] faulty canary: analysis failed → 0 % canary served in ${back.at.getTime() - failedAt} ms (analysis interval 2000 ms)`);
    // Envoy serves the route as it was, and the upstreams see it.
    assert.equal(await h.servedRoute('r1'), 's1=100');
    const after = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    const { share, n } = shareBetween(traffic, 'canary', after, Date.now());
    assert.ok(n > 50, `requests after rollback: ${n}`);
    assert.equal(share, 0);
    const audit = await h.xds.db.auditEntry.findMany({ where: { targetId: rollout.id }, orderBy: { seq: 'asc' } });
    const failed = audit.find((a) => a.action === 'rollout.failed');
    assert.ok(failed, audit.map((a) => a.action).join());
    assert.equal((failed.details as unknown as { failure: RolloutFailure }).failure.metrics?.[0]?.metric, 'successRate');
    await maybeRecordHistory(h.client.workflow.getHandle(rollout.workflowId), 'canary-promotion.analysis-failed');
  } finally {
    await traffic.stop();
    h.canary.setErrorRatio(0);
  }
  const live = await h.xds.db.revision.findFirstOrThrow({ where: { tenantId: h.xds.tenantId, state: 'live' } });
  const route = (live.graph as { routes: { name: string; action: { clusters: unknown } }[] }).routes.find((r) => r.name === 'r1');
  assert.deepEqual(route?.action.clusters, [{ cluster: 's1', weight: 100 }], 'the live graph has the route as it was before the rollout');
});

test('an approval step blocks; a viewer and the author are refused with a reason; an approver succeeds; a timeout aborts; all audited', { timeout: 240_000 }, async () => {
  const rollout = await startRollout(2, [
    { kind: 'setWeight', weight: 10 },
    { kind: 'approval', timeoutMs: 120_000 },
    { kind: 'setWeight', weight: 100 },
  ]);
  await eventually('awaiting approval', async () => {
    const r = await h.xds.db.rollout.findUniqueOrThrow({ where: { id: rollout.id } });
    return r.pauseReason === 'AwaitingApproval' ? r : undefined;
  });
  const get = await call(rolloutRoute.GET, { token: tokens.vera, params: { id: rollout.id } });
  assert.equal(get.status, 200);
  assert.equal(get.body.rollout.phase, 'Paused');
  assert.equal(get.body.rollout.canaryWeight, 10);

  const asViewer = await call(approveRoute.POST, { token: tokens.vera, params: { id: rollout.id }, json: {} });
  assert.equal(asViewer.status, 403);
  assert.match(asViewer.body.error.message, /viewer/);
  // Defence in depth: the workflow's validator refuses a viewer even when the API is bypassed.
  await assert.rejects(
    h.client.workflow.getHandle(rollout.workflowId).executeUpdate('approveStep', {
      args: [{ principal: { id: `user:${vera.user.id}`, name: 'vera', role: 'viewer', actor: { type: 'user', id: vera.user.id, name: 'vera' } } }],
    }),
    (err: Error) => /role viewer cannot approve/.test(`${err.message} ${(err.cause as Error | undefined)?.message}`),
  );
  const asAuthor = await call(approveRoute.POST, { token: tokens.alice, params: { id: rollout.id }, json: { comment: 'lgtm' } });
  assert.equal(asAuthor.status, 403);
  assert.match(asAuthor.body.error.message, /author of the change cannot approve/);
  assert.equal((await h.xds.db.rollout.findUniqueOrThrow({ where: { id: rollout.id } })).pauseReason, 'AwaitingApproval', 'still blocked');

  const asApprover = await call(approveRoute.POST, { token: tokens.bob, params: { id: rollout.id }, json: { comment: 'ship it' } });
  assert.equal(asApprover.status, 200, JSON.stringify(asApprover.body));
  const row = await finished(rollout.id);
  assert.equal(row.phase, 'Promoted');
  const approvals = await h.xds.db.rolloutApproval.findMany({ where: { rolloutId: rollout.id } });
  assert.deepEqual(approvals.map((a) => [a.name, a.decision, a.comment]), [['bob', 'approve', 'ship it']]);
  const audit = await h.xds.db.auditEntry.findMany({ where: { targetId: rollout.id }, orderBy: { seq: 'asc' } });
  const refused = audit.find((a) => a.action === 'rollout.approve.refused');
  assert.ok(refused);
  assert.equal(refused.actorName, 'alice');
  assert.match((refused.details as { reason: string }).reason, /author/);
  const granted = audit.find((a) => a.action === 'rollout.approval.granted');
  assert.equal(granted?.actorName, 'bob');
  assert.ok(audit.some((a) => a.action === 'rollout.approval.requested'));
  await maybeRecordHistory(h.client.workflow.getHandle(rollout.workflowId), 'canary-promotion.approved');

  // The route now forwards to c2 only; roll s2 back in as a "canary" and let the approval time out.
  const timed = await startRollout(2, [{ kind: 'setWeight', weight: 10 }, { kind: 'approval', timeoutMs: 1500 }, { kind: 'setWeight', weight: 100 }], { stable: 'c2', canary: 's2' });
  const t = await finished(timed.id);
  assert.equal(t.phase, 'Aborted');
  assert.equal((t.failure as unknown as RolloutFailure).reason, 'approvalTimeout');
  assert.equal(await h.servedRoute('r2'), 'c2=100');
  const tAudit = await h.xds.db.auditEntry.findMany({ where: { targetId: timed.id }, orderBy: { seq: 'asc' } });
  assert.ok(tAudit.some((a) => a.action === 'rollout.approval.timed_out'));
  assert.ok(tAudit.some((a) => a.action === 'rollout.aborted'));
  await maybeRecordHistory(h.client.workflow.getHandle(timed.workflowId), 'canary-promotion.approval-timeout');
});
