/**
 * Failover playbooks end to end (issue 9 acceptance): REST API → failoverPlaybookWorkflow /
 * playbookTriggerWorkflow on the real Temporal dev server → revisions published to a real Envoy (route `api`
 * over clusters in region-a and region-b) and XDP bundles applied by a real agent in a network namespace.
 * What a user observes: HTTP status codes at a client, packets at the node, Envoy's served weights, the
 * run's phase, events and audit entries.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as dryRunRoute from '../app/api/v1/playbooks/[id]/dry-run/route';
import * as startRunRoute from '../app/api/v1/playbooks/[id]/runs/route';
import * as runRoute from '../app/api/v1/playbooks/runs/[id]/route';
import * as approveRoute from '../app/api/v1/playbooks/runs/[id]/approve/route';
import * as triggerRoute from '../app/api/v1/playbooks/triggers/[id]/route';
import type { XdpPolicySpec } from '../contracts/xdp.schema';
import { setAppDb } from '../server/app-db';
import { call } from './support/api';
import { clientTraffic, createPlaybookAs, createTriggerAs, startPlaybookHarness, successBetween, XDP_GROUP, type PlaybookHarness } from './support/playbook-harness';
import { eventually } from './support/xds-harness';
import { countFrom, sendPackets, sleep, startReceiver } from './tools/xdp-lab';

let h: PlaybookHarness;

before(async () => {
  h = await startPlaybookHarness({ xdp: true });
  await h.startInProcessWorker();
  setAppDb(h.db);
});

after(async () => {
  setAppDb(undefined);
  await h?.stop();
});

const SHIFT = (increments: number, bakeMs = 300) => ({
  kind: 'shiftWeight',
  between: { level: 'clusters', route: '${route}', from: 'api-a', to: 'api-b' },
  increments,
  bakeMs,
});

const createPlaybook = (name: string, spec: unknown) => createPlaybookAs(h.alice.token, name, spec);

async function startRun(id: string, params: Record<string, string>, token = h.alice.token) {
  return call(startRunRoute.POST, { token, params: { id }, json: { target: 'route:api', params } });
}

async function finished(runId: string, timeoutMs = 180_000) {
  return eventually(
    `run ${runId} finished`,
    async () => {
      const r = await h.db.playbookRun.findUnique({ where: { id: runId } });
      return r && ['Completed', 'Compensated', 'Failed'].includes(r.phase) ? r : undefined;
    },
    timeoutMs,
    200,
  );
}

const events = (runId: string) => h.db.playbookRunEvent.findMany({ where: { runId }, orderBy: { seq: 'asc' } });
const event = (runId: string, action: string, timeoutMs = 120_000) =>
  eventually(`${action} of ${runId}`, async () => (await events(runId)).find((e) => e.action === action), timeoutMs, 100);

/** Weights of route `api` in each revision the run created, in order. */
async function runRevisionWeights(runId: string): Promise<string[]> {
  const revisions = await h.db.revision.findMany({ where: { createdById: `playbook:${runId}` }, orderBy: { number: 'asc' } });
  return revisions.map((r) => {
    const route = (r.graph as { routes: { name: string; action: { clusters: { cluster: string; weight: number }[] } }[] }).routes.find((x) => x.name === 'api')!;
    return route.action.clusters.map((c) => `${c.cluster}=${c.weight}`).join(',');
  });
}

/** Packets per source that reached the node (UDP receiver inside the node namespace). */
async function packets(sources: string[]): Promise<number[]> {
  const lab = h.lab!;
  const rx = await startReceiver(lab.tool, [lab.pair.nodeNs], 9000);
  let got;
  try {
    await Promise.all(sources.map((src) => sendPackets(lab.tool, lab.pair, { src, dst: lab.pair.nodeV4, dport: 9000, count: 100, pps: 2000 })));
    await sleep(150);
  } finally {
    got = await rx.stop();
  }
  return sources.map((src) => countFrom(got, lab.pair.nodeNs, src));
}

async function desiredXdpRules(): Promise<string[]> {
  const st = await h.db.xdpGroupState.findFirst({ where: { tenantId: h.tenant.id, nodeGroup: XDP_GROUP } });
  if (!st) return [];
  const p = await h.db.xdpPolicy.findUniqueOrThrow({ where: { id: st.desiredPolicyId } });
  return (p.spec as XdpPolicySpec).rules.map((r) => r.name);
}

test('region A starts failing: the automatic trigger runs the playbook, traffic moves to region B in 4 ACKed increments, client success recovers above 99% within the budget', { timeout: 300_000 }, async () => {
  await h.reset();
  const budgetMs = 120_000;
  const id = await createPlaybook('region-failover', {
    description: 'move ${route} from region A to region B',
    steps: [
      { kind: 'notify', severity: 'warning', subject: 'failing ${route} over to region B' },
      SHIFT(4),
      { kind: 'verify', condition: { clusters: ['api-b'], successRate: { min: 0.99 }, windowMs: 1500, minRequests: 10 }, attempts: 3 },
    ],
    ackTimeoutMs: 30_000,
    timeBudgetMs: budgetMs,
  });
  const traffic = clientTraffic(h.listenerPort, { parallel: 2, maxMs: 240_000 });
  let triggerId = '';
  try {
    triggerId = await createTriggerAs(h.alice.token, id, {
      target: 'route:api',
      params: { route: 'api' },
      condition: { clusters: ['api-a'], successRate: { max: 0.9 }, windowMs: 1500, minRequests: 10 },
      intervalMs: 500,
      cooldownMs: 600_000,
    });

    // Healthy: the watcher samples, nothing fires.
    await sleep(3000);
    assert.equal(await h.db.playbookRun.count({ where: { target: 'route:api', createdAt: { gte: new Date(Date.now() - 3000) } } }), 0);
    const healthy = successBetween(traffic, Date.now() - 2500, Date.now());
    assert.ok(healthy.n > 50 && healthy.rate === 1, `healthy baseline: ${JSON.stringify(healthy)}`);

    const failedAt = Date.now();
    h.regionA.setErrorRatio(1);
    const run = await eventually('a run started by the trigger', async () => (await h.db.playbookRun.findFirst({ where: { triggerId, createdAt: { gte: new Date(failedAt) } } })) ?? undefined, 60_000, 200);
    assert.equal(run.triggerType, 'auto');
    const degraded = successBetween(traffic, failedAt + 200, run.createdAt.getTime());
    assert.ok(degraded.rate < 0.5, `region A failing is visible to the client before the run: ${JSON.stringify(degraded)}`);

    const done = await finished(run.id);
    assert.equal(done.phase, 'Completed', JSON.stringify(done.failure));
    const evs = await events(run.id);
    const acked = evs.filter((e) => e.action === 'playbook.change.acked').map((e) => (e.detail as { key: string }).key);
    assert.deepEqual(acked, ['s1.1', 's1.2', 's1.3', 's1.4'], 'four increments, each ACKed before the next');
    assert.deepEqual(await runRevisionWeights(run.id), ['api-a=75,api-b=25', 'api-a=50,api-b=50', 'api-a=25,api-b=75', 'api-a=0,api-b=100']);
    const revisions = await h.db.revision.findMany({ where: { createdById: `playbook:${run.id}` } });
    for (const r of revisions) {
      assert.equal(await h.db.auditEntry.count({ where: { action: 'revision.publish.acked', targetId: r.id } }), 1, `revision ${r.number} ACKed by the proxies`);
    }
    assert.equal(await h.servedWeights(), 'api-b=100');
    assert.ok(evs.some((e) => e.action === 'playbook.verify.passed'));

    const completedAt = evs.find((e) => e.action === 'playbook.completed')!.at.getTime();
    await sleep(2500);
    const recovered = successBetween(traffic, completedAt, completedAt + 2500);
    console.log(`[playbook] failure → completed in ${completedAt - failedAt} ms (budget ${budgetMs}); client success after: ${(recovered.rate * 100).toFixed(2)}% of ${recovered.n}`);
    assert.ok(recovered.n >= 50, `enough requests after the failover: ${recovered.n}`);
    assert.ok(recovered.rate > 0.99, `client success rate after the failover: ${recovered.rate}`);
    assert.ok(completedAt - failedAt <= budgetMs, `recovered within the playbook's budget: ${completedAt - failedAt} ms`);
    assert.equal((done.status as { withinBudget: boolean }).withinBudget, true);
    assert.equal(await h.db.auditEntry.count({ where: { action: 'playbook.trigger.fired', targetId: triggerId } }), 1, 'one run per cooldown');
  } finally {
    await traffic.stop();
    if (triggerId) {
      const off = await call(triggerRoute.DELETE, { token: h.alice.token, params: { id: triggerId } });
      assert.equal(off.status, 200, JSON.stringify(off.body));
      assert.equal(off.body.trigger.enabled, false);
    }
  }
});

test('an XDP deny for the attacking CIDR drops its packets at the agent while the L7 shift proceeds; a failed verification compensates both', { timeout: 300_000 }, async () => {
  await h.reset();
  h.regionB.setErrorRatio(0.5); // region B is not healthy either: the verification fails
  const id = await createPlaybook('block-and-shift', {
    steps: [
      { kind: 'pushXdpRules', nodeGroup: XDP_GROUP, interfaces: ['${iface}'], rules: [{ kind: 'deny', name: 'attacker', cidrs: ['${cidr}'] }] },
      SHIFT(2, 4000),
      { kind: 'verify', condition: { clusters: ['api-b'], successRate: { min: 0.99 }, windowMs: 1500, minRequests: 10 }, attempts: 2 },
    ],
    onVerifyFailure: 'compensate',
    ackTimeoutMs: 30_000,
  });
  const traffic = clientTraffic(h.listenerPort, { parallel: 2, maxMs: 120_000 });
  try {
    assert.deepEqual(await packets(['198.19.66.6', '198.19.77.7']), [100, 100], 'before: both sources reach the node');
    const res = await startRun(id, { route: 'api', iface: h.lab!.pair.nodeIf, cidr: '198.19.66.0/24' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const runId: string = res.body.run.id;

    await event(runId, 'playbook.xdp.acked');
    await event(runId, 'playbook.change.acked'); // first increment of the shift served
    const [attacker, other] = await packets(['198.19.66.6', '198.19.77.7']);
    const during = await h.db.playbookRun.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(attacker, 0, 'the attacking CIDR is dropped at the agent');
    assert.equal(other, 100, 'other sources pass');
    assert.equal(during.phase, 'Running');
    assert.equal(during.currentStepIndex, 1, 'the L7 shift is still in progress');
    assert.equal(await h.servedWeights(), 'api-a=50,api-b=50');

    const done = await finished(runId);
    assert.equal(done.phase, 'Compensated', JSON.stringify(done.failure));
    assert.equal((done.failure as { reason: string }).reason, 'verify');
    const comp = (await events(runId)).filter((e) => e.action === 'playbook.compensation.acked').map((e) => (e.detail as { kind: string }).kind);
    assert.deepEqual(comp, ['graph', 'xdp'], 'compensated in reverse order, L7 and XDP together');
    assert.equal(await h.servedWeights(), 'api-a=100');
    assert.deepEqual(await desiredXdpRules(), []);
    assert.deepEqual(await packets(['198.19.66.6', '198.19.77.7']), [100, 100], 'after compensation the CIDR passes again');
  } finally {
    await traffic.stop();
  }
});

test('an approval step blocks until an approver who did not start the run approves; a timeout compensates', { timeout: 300_000 }, async () => {
  await h.reset();
  const id = await createPlaybook('approved-failover', {
    steps: [{ kind: 'approval', timeoutMs: 600_000 }, SHIFT(1, 0)],
    ackTimeoutMs: 30_000,
  });
  const res = await startRun(id, { route: 'api' });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const runId: string = res.body.run.id;
  await eventually('awaiting approval', async () => ((await h.db.playbookRun.findUniqueOrThrow({ where: { id: runId } })).phase === 'AwaitingApproval' ? true : undefined), 60_000);
  assert.equal(await h.servedWeights(), 'api-a=100', 'nothing applied before the approval');

  const second = await startRun(id, { route: 'api' }, h.bob.token);
  assert.equal(second.status, 409, 'one active run per target');
  const self = await call(approveRoute.POST, { token: h.alice.token, params: { id: runId }, json: {} });
  assert.equal(self.status, 403, JSON.stringify(self.body));
  assert.match(self.body.error.message, /started the run/);
  const ok = await call(approveRoute.POST, { token: h.bob.token, params: { id: runId }, json: { comment: 'go' } });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));

  const done = await finished(runId);
  assert.equal(done.phase, 'Completed', JSON.stringify(done.failure));
  assert.equal(await h.servedWeights(), 'api-b=100');
  const detail = await call(runRoute.GET, { token: h.alice.token, params: { id: runId } });
  assert.deepEqual(detail.body.approvals.map((a: { name: string; decision: string }) => `${a.name}:${a.decision}`), ['bob:approve']);
  assert.equal(await h.db.auditEntry.count({ where: { action: 'playbook.approve.refused', targetId: runId } }), 1);

  // Timeout: the shift applied before the approval is compensated.
  await h.reset();
  const late = await createPlaybook('approval-timeout', { steps: [SHIFT(1, 0), { kind: 'approval', timeoutMs: 3000 }], ackTimeoutMs: 30_000 });
  const r2 = await startRun(late, { route: 'api' });
  assert.equal(r2.status, 201, JSON.stringify(r2.body));
  const done2 = await finished(r2.body.run.id);
  assert.equal(done2.phase, 'Compensated', JSON.stringify(done2.failure));
  assert.equal((done2.failure as { reason: string }).reason, 'approvalTimeout');
  assert.deepEqual(await runRevisionWeights(r2.body.run.id), ['api-a=0,api-b=100', 'api-a=100']);
  assert.equal(await h.servedWeights(), 'api-a=100');
});

test('the dry run shows exactly the revisions and XDP bundles the run then applies', { timeout: 300_000 }, async () => {
  await h.reset();
  const id = await createPlaybook('dry-run-equals', {
    steps: [
      { kind: 'setOutlierDetection', cluster: 'api-b', outlierDetection: { consecutive5xx: 3, intervalMs: 1000, baseEjectionTimeMs: 10_000, maxEjectionPercent: 50 } },
      { kind: 'pushXdpRules', nodeGroup: XDP_GROUP, interfaces: ['${iface}'], rules: [{ kind: 'rateLimit', name: 'udp-flood', protocol: 'udp', ratePps: 1000, burst: 2000 }] },
      SHIFT(3, 0),
      { kind: 'setRateLimit', route: '${route}', rateLimit: { requestsPerFill: 1000, fillIntervalMs: 1000, burst: 2000 } },
    ],
    ackTimeoutMs: 30_000,
  });
  const params = { route: 'api', iface: h.lab!.pair.nodeIf };
  const dry = await call(dryRunRoute.POST, { token: h.alice.token, params: { id }, json: { target: 'route:api', params } });
  assert.equal(dry.status, 200, JSON.stringify(dry.body));
  type Action = { key: string; kind: string; graphHash?: string; graph?: unknown; version?: string; bundle?: unknown };
  const actions: Action[] = dry.body.actions;
  assert.deepEqual(actions.map((a) => `${a.key}:${a.kind}`), ['s0.1:revision', 's1.1:xdp', 's2.1:revision', 's2.2:revision', 's2.3:revision', 's3.1:revision']);
  assert.equal(await h.db.revision.count({ where: { createdById: { startsWith: 'playbook:' }, graphHash: { in: actions.flatMap((a) => (a.graphHash ? [a.graphHash] : [])) } } }), 0, 'the dry run applies nothing');

  const res = await startRun(id, params);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const runId: string = res.body.run.id;
  const done = await finished(runId);
  assert.equal(done.phase, 'Completed', JSON.stringify(done.failure));

  const changes = await h.db.playbookChange.findMany({ where: { runId }, orderBy: { at: 'asc' } });
  assert.deepEqual(changes.map((c) => `${c.key}:${c.kind === 'graph' ? 'revision' : 'xdp'}:${c.version}`), actions.map((a) => `${a.key}:${a.kind}:${a.graphHash ?? a.version}`));
  for (const c of changes) {
    const planned = actions.find((a) => a.key === c.key)!;
    if (c.kind === 'graph') {
      const rev = await h.db.revision.findUniqueOrThrow({ where: { id: c.revisionId! } });
      assert.equal(rev.graphHash, planned.graphHash);
      assert.deepEqual(rev.graph, planned.graph, `revision of ${c.key} equals the dry run's graph`);
    } else {
      const policy = await h.db.xdpPolicy.findUniqueOrThrow({ where: { id: c.policyId! } });
      assert.deepEqual(policy.bundle, planned.bundle, `XDP bundle of ${c.key} equals the dry run's`);
    }
  }
});
