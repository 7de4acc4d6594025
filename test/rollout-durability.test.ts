/**
 * Durability: the real worker process (workers/worker/main.ts) is SIGKILLed while a rollout bakes, while it
 * analyses and while it waits for an approval; each time a new worker process takes over. The rollout
 * finishes correctly and no step is applied twice (one revision and one publish per traffic change).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import * as startRoute from '../app/api/v1/rollouts/route';
import * as approveRoute from '../app/api/v1/rollouts/[id]/approve/route';
import { verifyAuditChain } from '../server/audit/audit.service';
import { setAppDb } from '../server/app-db';
import type { Tenant } from '../server/db/tenant.repo';
import { call, makeMember, makeToken } from './support/api';
import { maybeRecordHistory } from './support/histories';
import { generateTraffic, startRolloutHarness, type RolloutHarness } from './support/rollout-harness';
import { eventually } from './support/xds-harness';

let h: RolloutHarness;

before(async () => {
  h = await startRolloutHarness({ routes: 1 });
  setAppDb(h.xds.db);
});

after(async () => {
  setAppDb(undefined);
  await h?.stop();
});

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

test('SIGKILL of the worker during bake, analysis and approval wait: a new worker finishes the rollout, no step applied twice', { timeout: 600_000 }, async () => {
  const tenant = (await h.xds.db.tenant.findUniqueOrThrow({ where: { id: h.xds.tenantId } })) as Tenant;
  const alice = await makeMember(h.xds.db, tenant, 'approver', { username: 'alice' });
  const bob = await makeMember(h.xds.db, tenant, 'approver', { username: 'bob' });
  const [aliceToken, bobToken] = [(await makeToken(h.xds.db, alice)).secret, (await makeToken(h.xds.db, bob)).secret];
  const traffic = generateTraffic(h.listenerPort, ['/r0/x'], { parallel: 2 });
  try {
    let worker = await h.spawnWorker();
    const revisionId = await h.changeRevision(`user:${alice.user.id}`);
    const res = await call(startRoute.POST, {
      token: aliceToken,
      json: {
        revisionId,
        spec: {
          route: 'r0',
          stableCluster: 's0',
          canaryCluster: 'c0',
          ackTimeoutMs: 30_000,
          steps: [
            { kind: 'setWeight', weight: 20, bakeMs: 8000 },
            { kind: 'analysis', intervalMs: 8000, count: 1, minRequests: 10, metrics: [{ name: 'successRate', min: 0.9 }] },
            { kind: 'approval', timeoutMs: 300_000 },
            { kind: 'setWeight', weight: 60 },
            { kind: 'setWeight', weight: 100 },
          ],
        },
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const id: string = res.body.rollout.id;
    const event = (what: string, pred: (e: { action: string; detail: unknown }) => boolean) =>
      eventually(what, async () => (await h.xds.db.rolloutEvent.findMany({ where: { rolloutId: id } })).find(pred), 120_000, 100);

    // 1. During bake (after 20 % is served, before the bake timer fires).
    await event('20 % served', (e) => e.action === 'rollout.traffic.serving');
    await kill(worker);
    worker = await h.spawnWorker();
    // 2. During the analysis window.
    await event('analysis started', (e) => e.action === 'rollout.step.started' && (e.detail as { kind: string }).kind === 'analysis');
    await kill(worker);
    worker = await h.spawnWorker();
    // 3. While waiting for the approval.
    await eventually('awaiting approval', async () => ((await h.xds.db.rollout.findUniqueOrThrow({ where: { id } })).pauseReason === 'AwaitingApproval' ? true : undefined), 120_000);
    await kill(worker);
    worker = await h.spawnWorker();
    const approved = await call(approveRoute.POST, { token: bobToken, params: { id }, json: {} });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));

    const row = await eventually('promoted', async () => {
      const r = await h.xds.db.rollout.findUniqueOrThrow({ where: { id } });
      return ['Promoted', 'Failed', 'Aborted'].includes(r.phase) ? r : undefined;
    }, 180_000, 200);
    assert.equal(row.phase, 'Promoted', JSON.stringify(row.failure));

    const events = await h.xds.db.rolloutEvent.findMany({ where: { rolloutId: id }, orderBy: { seq: 'asc' } });
    assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), 'every transition recorded once, in order');
    const served = events.filter((e) => e.action === 'rollout.traffic.serving').map((e) => (e.detail as { expected: { cluster: string; weight: number }[] }).expected.map((c) => `${c.cluster}=${c.weight}`).join(','));
    assert.deepEqual(served, ['s0=80,c0=20', 's0=40,c0=60', 's0=0,c0=100', 'c0=100']);
    assert.equal(events.filter((e) => e.action === 'rollout.analysis.passed').length, 1);
    const revisions = await h.xds.db.revision.findMany({ where: { createdById: `rollout:${id}` }, orderBy: { number: 'asc' } });
    assert.equal(revisions.length, 4, 'one revision per traffic change');
    assert.equal(new Set(revisions.map((r) => r.graphHash)).size, 4);
    const publishes = await h.xds.db.auditEntry.count({ where: { action: 'revision.publish', targetId: { in: revisions.map((r) => r.id) } } });
    assert.equal(publishes, 4, 'each published once');
    const audit = await h.xds.db.auditEntry.findMany({ where: { targetId: id } });
    assert.equal(audit.filter((a) => a.action === 'rollout.approval.granted').length, 1);
    // Retried activities after each SIGKILL wrote nothing twice: one audit entry per transition, same order.
    const audited = audit.flatMap((a) => {
      const seq = (a.details as { seq?: number }).seq;
      return seq === undefined ? [] : [[seq, a.action] as const];
    }).sort((x, y) => x[0] - y[0]);
    assert.deepEqual(audited, events.map((e) => [e.seq, e.action] as const), 'the audit log has each transition once');
    const chain = await verifyAuditChain(h.xds.db, h.xds.tenantId);
    assert.equal(chain.ok, true, JSON.stringify(chain));
    await maybeRecordHistory(h.client.workflow.getHandle(row.workflowId), 'canary-promotion.worker-killed');
  } finally {
    await traffic.stop();
  }
});
