/**
 * Durability of failover playbooks: the real worker process (workers/worker/main.ts) is SIGKILLed in the
 * middle of a playbook (while an increment bakes, and again at the next one); a new worker process takes
 * over each time. The run completes and no step is applied twice: one revision, one publish and one change
 * record per increment, every transition recorded once. A notify step posts exactly one signed delivery to a
 * real webhook receiver even when the worker is killed while the POST is in flight or later in the run.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import * as playbooksRoute from '../app/api/v1/playbooks/route';
import * as startRunRoute from '../app/api/v1/playbooks/[id]/runs/route';
import * as webhooksRoute from '../app/api/v1/webhooks/route';
import { setAppDb } from '../server/app-db';
import { call, makeMember, makeToken } from './support/api';
import { maybeRecordHistory } from './support/histories';
import { clientTraffic, startPlaybookHarness, successBetween, type PlaybookHarness } from './support/playbook-harness';
import { eventually } from './support/xds-harness';

let h: PlaybookHarness;

before(async () => {
  h = await startPlaybookHarness();
  setAppDb(h.db);
});

after(async () => {
  setAppDb(undefined);
  await h?.stop();
});

const runFinished = (runId: string) =>
  eventually('run finished', async () => {
    const r = await h.db.playbookRun.findUniqueOrThrow({ where: { id: runId } });
    return ['Completed', 'Compensated', 'Failed'].includes(r.phase) ? r : undefined;
  }, 240_000, 200);

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

test('SIGKILL of the worker mid-playbook: a new worker finishes the run with no step applied twice', { timeout: 600_000 }, async () => {
  let worker = await h.spawnWorker();
  const created = await call(playbooksRoute.POST, {
    token: h.alice.token,
    json: {
      name: 'durable-failover',
      spec: {
        steps: [
          { kind: 'shiftWeight', between: { level: 'clusters', route: 'api', from: 'api-a', to: 'api-b' }, increments: 4, bakeMs: 4000 },
          { kind: 'verify', condition: { clusters: ['api-b'], successRate: { min: 0.99 }, windowMs: 1500, minRequests: 10 }, attempts: 3 },
        ],
        ackTimeoutMs: 30_000,
      },
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const traffic = clientTraffic(h.listenerPort, { parallel: 2, maxMs: 300_000 });
  try {
    const res = await call(startRunRoute.POST, { token: h.alice.token, params: { id: created.body.playbook.id }, json: { target: 'route:api', params: {} } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const runId: string = res.body.run.id;
    const acked = async (n: number) =>
      eventually(`${n} increments ACKed`, async () => ((await h.db.playbookRunEvent.count({ where: { runId, action: 'playbook.change.acked' } })) >= n ? true : undefined), 120_000, 100);

    await acked(1); // baking after the first increment
    await kill(worker);
    worker = await h.spawnWorker();
    await acked(3);
    await kill(worker);
    worker = await h.spawnWorker();

    const run = await runFinished(runId);
    assert.equal(run.phase, 'Completed', JSON.stringify(run.failure));

    const events = await h.db.playbookRunEvent.findMany({ where: { runId }, orderBy: { seq: 'asc' } });
    assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), 'every transition recorded once, in order');
    assert.deepEqual(
      events.filter((e) => e.action === 'playbook.change.acked').map((e) => (e.detail as { key: string }).key),
      ['s0.1', 's0.2', 's0.3', 's0.4'],
    );
    const revisions = await h.db.revision.findMany({ where: { createdById: `playbook:${runId}` }, orderBy: { number: 'asc' } });
    assert.equal(revisions.length, 4, 'one revision per increment');
    assert.equal(new Set(revisions.map((r) => r.graphHash)).size, 4);
    assert.equal(await h.db.auditEntry.count({ where: { action: 'revision.publish', targetId: { in: revisions.map((r) => r.id) } } }), 4, 'each published once');
    assert.equal(await h.db.playbookChange.count({ where: { runId } }), 4, 'one change record per increment');
    assert.equal(await h.db.auditEntry.count({ where: { targetId: runId, action: 'playbook.step.started' } }), 2, 'each step started once');
    assert.equal(await h.servedWeights(), 'api-b=100');
    const last = successBetween(traffic, Date.now() - 2000, Date.now());
    assert.ok(last.n > 20 && last.rate === 1, JSON.stringify(last));
    await maybeRecordHistory(h.client.workflow.getHandle(run.workflowId), 'failover-playbook.worker-killed');
  } finally {
    await traffic.stop();
  }
});

test('a notify step makes exactly one signed delivery to a real webhook, with the worker killed mid-POST and again later', { timeout: 600_000 }, async () => {
  await h.reset();
  const admin = await makeMember(h.db, h.tenant, 'admin', { username: 'carol' });
  const adminToken = (await makeToken(h.db, admin)).secret;
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  let held: ServerResponse | undefined;
  let holdNext = true;
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (holdNext) {
        // The first POST gets no answer: the worker is killed while it waits.
        holdNext = false;
        held = res;
        return;
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  let worker = await h.spawnWorker();
  try {
    const hook = await call(webhooksRoute.POST, { token: adminToken, json: { name: 'oncall', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, kinds: ['playbook.*'] } });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    const secret: string = hook.body.secret;
    const created = await call(playbooksRoute.POST, {
      token: h.alice.token,
      json: {
        name: 'notified-failover',
        spec: {
          steps: [
            { kind: 'notify', severity: 'warning', subject: 'failing ${route} over to region B' },
            { kind: 'shiftWeight', between: { level: 'clusters', route: '${route}', from: 'api-a', to: 'api-b' }, increments: 1, bakeMs: 4000 },
            { kind: 'notify', subject: '${route} failed over' },
          ],
          ackTimeoutMs: 30_000,
        },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const res = await call(startRunRoute.POST, { token: h.alice.token, params: { id: created.body.playbook.id }, json: { target: 'route:api', params: { route: 'api' } } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const runId: string = res.body.run.id;

    await eventually('the first POST reached the receiver', async () => (received.length >= 1 ? true : undefined), 60_000, 50);
    await kill(worker);
    held?.destroy();
    worker = await h.spawnWorker();
    await eventually('the shift ACKed', async () => ((await h.db.playbookRunEvent.count({ where: { runId, action: 'playbook.change.acked' } })) >= 1 ? true : undefined), 180_000, 100);
    await kill(worker); // while the shift bakes, after the first notify step completed
    worker = await h.spawnWorker();
    const run = await runFinished(runId);
    assert.equal(run.phase, 'Completed', JSON.stringify(run.failure));

    for (const r of received) {
      assert.equal(r.headers['x-proxyshard-signature'], `sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`, 'every POST is signed with the endpoint secret');
    }
    const byDelivery = new Map<string, string[]>();
    for (const r of received) byDelivery.set(String(r.headers['x-proxyshard-delivery']), [...(byDelivery.get(String(r.headers['x-proxyshard-delivery'])) ?? []), r.body]);
    const subjects = [...byDelivery.values()].map((bodies) => (JSON.parse(bodies[0]!) as { subject: string }).subject);
    assert.deepEqual(subjects, ['failing api over to region B', 'api failed over'], 'one delivery per notify step');
    const [first, second] = [...byDelivery.values()];
    assert.equal(new Set(first).size, 1, 'the retried POST is the same delivery: same id, same body, same signature');
    assert.equal(first!.length, 2, 'the POST cut off by the kill was sent again by the new worker');
    assert.equal(second!.length, 1, 'a notify step already completed is not sent again after the later kill');
    const rows = await h.db.notificationDelivery.findMany({ where: { tenantId: h.tenant.id, dedupeKey: { startsWith: `playbook:${runId}:` } }, orderBy: { createdAt: 'asc' } });
    assert.deepEqual(rows.map((r) => `${r.dedupeKey}:${r.status}`), [`playbook:${runId}:s0:delivered`, `playbook:${runId}:s2:delivered`]);
  } finally {
    if (worker.exitCode === null && worker.signalCode === null) await kill(worker);
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
});
