/**
 * Webhook notifications: an admin registers an endpoint (the signing secret is shown once), the `notify`
 * activity posts signed JSON to every endpoint whose kind filter matches, records each attempt, delivers at
 * most once per dedupe key, and fails (so Temporal retries) when an endpoint does not accept it.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import * as notificationsRoute from '../app/api/v1/notifications/route';
import * as webhookRoute from '../app/api/v1/webhooks/[id]/route';
import * as webhooksRoute from '../app/api/v1/webhooks/route';
import { freePort } from '../scripts/lib/ports';
import { setAppDb } from '../server/app-db';
import { createNotifyActivities } from '../workers/notify.activities';
import { call, makeMember, makeTenant, makeToken, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let tdb: TestDatabase;
let admin: TestMember;
let adminToken: string;
let viewerToken: string;
let server: Server;
let base = '';
const received: Received[] = [];
/** Status the `/flaky` path answers with; the test flips it. */
let flakyStatus = 503;

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  const t = await makeTenant(tdb.db, 'notify');
  admin = await makeMember(tdb.db, t, 'admin');
  adminToken = (await makeToken(tdb.db, admin)).secret;
  viewerToken = (await makeToken(tdb.db, await makeMember(tdb.db, t, 'viewer'))).secret;
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(req.url === '/flaky' ? flakyStatus : 204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  setAppDb(undefined);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await tdb.drop();
});

const notify = (input: Parameters<ReturnType<typeof createNotifyActivities>['notify']>[0]) =>
  new MockActivityEnvironment().run(createNotifyActivities({ db: tdb.db }).notify, input);

test('endpoints: created by an admin with a one-time secret, refused to a viewer, bad fields named', async () => {
  const bad = await call(webhooksRoute.POST, { token: adminToken, json: { name: 'Pager Duty', url: 'ftp://x', kinds: ['Certificate'] } });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body.error.issues.map((i: { path: string }) => i.path).sort(), ['kinds[0]', 'name', 'url']);
  const denied = await call(webhooksRoute.POST, { token: viewerToken, json: { name: 'pager', url: `${base}/pager` } });
  assert.equal(denied.status, 403);

  const pager = await call(webhooksRoute.POST, { token: adminToken, json: { name: 'pager', url: `${base}/pager`, kinds: ['certificate.*', 'rollout.failed'] } });
  assert.equal(pager.status, 201, JSON.stringify(pager.body));
  assert.match(pager.body.secret, /^whsec_/);
  const all = await call(webhooksRoute.POST, { token: adminToken, json: { name: 'all', url: `${base}/all` } });
  assert.equal(all.status, 201);
  const dup = await call(webhooksRoute.POST, { token: adminToken, json: { name: 'all', url: `${base}/other` } });
  assert.equal(dup.status, 409);
  const list = await call(webhooksRoute.GET, { token: adminToken });
  assert.deepEqual(list.body.webhooks.map((w: { name: string }) => w.name), ['all', 'pager']);
  assert.equal(JSON.stringify(list.body).includes('whsec_'), false, 'the secret is never listed');
  const audit = await tdb.db.auditEntry.findMany({ where: { tenantId: admin.tenant.id, action: 'webhook.create' } });
  assert.equal(audit.length, 2);
});

test('notify posts signed JSON to the matching endpoints only, once per dedupe key', async () => {
  received.length = 0;
  const secret = (await tdb.db.webhookEndpoint.findFirstOrThrow({ where: { tenantId: admin.tenant.id, name: 'pager' } })).secret;
  const input = {
    tenantId: admin.tenant.id,
    kind: 'certificate.expiring',
    severity: 'warning' as const,
    subject: 'cert web-tls expires in 3 days',
    details: { certificate: 'web-tls', daysLeft: 3 },
    dedupeKey: 'cert:web-tls:expiring:1',
  };
  assert.deepEqual(await notify(input), { delivered: 2, skipped: 0 });
  assert.deepEqual(received.map((r) => r.path).sort(), ['/all', '/pager']);
  const toPager = received.find((r) => r.path === '/pager')!;
  assert.equal(toPager.headers['x-proxyshard-event'], 'certificate.expiring');
  assert.equal(toPager.headers['x-proxyshard-signature'], `sha256=${createHmac('sha256', secret).update(toPager.body).digest('hex')}`);
  const body = JSON.parse(toPager.body);
  assert.equal(body.subject, 'cert web-tls expires in 3 days');
  assert.deepEqual(body.details, { certificate: 'web-tls', daysLeft: 3 });
  assert.equal(body.id, toPager.headers['x-proxyshard-delivery']);

  // A retried activity (same key) posts nothing again.
  assert.deepEqual(await notify(input), { delivered: 2, skipped: 0 });
  assert.equal(received.length, 2);

  // A kind the pager does not subscribe to reaches only the catch-all endpoint.
  received.length = 0;
  assert.deepEqual(await notify({ ...input, kind: 'rollout.completed', dedupeKey: 'rollout:1:done' }), { delivered: 1, skipped: 1 });
  assert.deepEqual(received.map((r) => r.path), ['/all']);
});

test('an endpoint that refuses makes notify fail (Temporal retries); the retry delivers once and the record shows both attempts', async () => {
  const flaky = await call(webhooksRoute.POST, { token: adminToken, json: { name: 'flaky', url: `${base}/flaky`, kinds: ['playbook.*'] } });
  assert.equal(flaky.status, 201);
  received.length = 0;
  flakyStatus = 503;
  const input = { tenantId: admin.tenant.id, kind: 'playbook.step', severity: 'info' as const, subject: 'step 1 done', dedupeKey: 'pb:1:step:1' };
  await assert.rejects(notify(input), /webhook delivery failed: flaky: HTTP 503/);
  flakyStatus = 200;
  assert.deepEqual(await notify(input), { delivered: 2, skipped: 1 });
  assert.deepEqual(received.map((r) => r.path).sort(), ['/all', '/flaky', '/flaky'], 'the catch-all got it once, the flaky endpoint twice');

  const deliveries = await call(notificationsRoute.GET, { token: viewerToken });
  assert.equal(deliveries.status, 200);
  const row = deliveries.body.deliveries.find((d: { endpointId: string; kind: string }) => d.endpointId === flaky.body.webhook.id);
  assert.equal(row.status, 'delivered');
  assert.equal(row.attempts, 2);
  assert.equal(row.httpStatus, 200);
});

test('an unreachable endpoint is an error naming it; bad input is refused without retry', async () => {
  const gone = await call(webhooksRoute.POST, { token: adminToken, json: { name: 'gone', url: `http://127.0.0.1:${await freePort()}/nothing-listens`, kinds: ['test.gone'] } });
  await assert.rejects(notify({ tenantId: admin.tenant.id, kind: 'test.gone', severity: 'critical', subject: 's', dedupeKey: 'g1' }), /gone: fetch failed: connect ECONNREFUSED/);
  await assert.rejects(notify({ tenantId: admin.tenant.id, kind: 'Not A Kind', severity: 'critical', subject: 's', dedupeKey: 'g2' }), (err: Error) => {
    assert.equal(err.name, 'ApplicationFailure');
    assert.match(err.message, /invalid notification/);
    return true;
  });
  const del = await call(webhookRoute.DELETE, { token: adminToken, params: { id: gone.body.webhook.id } });
  assert.equal(del.status, 200);
  assert.equal((await call(webhookRoute.DELETE, { token: adminToken, params: { id: gone.body.webhook.id } })).status, 404);
  assert.deepEqual(await notify({ tenantId: admin.tenant.id, kind: 'test.gone', severity: 'critical', subject: 's', dedupeKey: 'g3' }), { delivered: 1, skipped: 2 });
});
