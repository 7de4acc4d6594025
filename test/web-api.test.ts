/**
 * Read endpoints and process endpoints: the live routes, revisions, /healthz, /metrics, and the demo seed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as signInRoute from '../app/api/v1/auth/sign-in/route';
import * as revisionRoute from '../app/api/v1/revisions/[id]/route';
import * as revisionsRoute from '../app/api/v1/revisions/route';
import * as routesRoute from '../app/api/v1/routes/route';
import * as healthz from '../app/healthz/route';
import * as metrics from '../app/metrics/route';
import { RouteGraphSchema } from '../contracts/route-graph.schema';
import { setAppDb } from '../server/app-db';
import { verifyAuditChain } from '../server/audit/audit.service';
import { createDb } from '../server/db/client';
import { flattenRoutes } from '../server/services/route.service';
import { ensureDemoTenantAndAdmin } from '../server/services/seed.service';
import { call, makeMember, makeRevision, makeTenant, makeToken, oneRouteGraph, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let viewer: TestMember;
let token: string;

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  const t = await makeTenant(tdb.db, 'reader');
  viewer = await makeMember(tdb.db, t, 'viewer');
  token = (await makeToken(tdb.db, viewer)).secret;
});

after(async () => {
  setAppDb(undefined);
  await tdb.drop();
});

test('GET /routes: nothing live yet, then the live revision’s routes with listener, virtual host, match and weights', async () => {
  const empty = await call(routesRoute.GET, { token });
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.body, { revision: null, routes: [] });

  await makeRevision(tdb.db, viewer.tenant, oneRouteGraph('old-route'), { live: false });
  const liveId = await makeRevision(
    tdb.db,
    viewer.tenant,
    oneRouteGraph('canary', [
      { cluster: 'stable', weight: 90 },
      { cluster: 'next', weight: 10 },
    ]),
    { live: true },
  );
  const res = await call(routesRoute.GET, { token });
  assert.equal(res.status, 200);
  assert.equal(res.body.revision.id, liveId);
  assert.deepEqual(res.body.routes, [
    {
      name: 'canary',
      listener: { name: 'main', address: '0.0.0.0', port: 10000 },
      virtualHost: { name: 'default', domains: ['*'] },
      match: { prefix: '/', headers: [], queryParameters: [] },
      action: 'forward',
      destinations: [
        { cluster: 'stable', weight: 90 },
        { cluster: 'next', weight: 10 },
      ],
    },
  ]);
});

test('flattenRoutes: one row per placement, unplaced routes last, non-forward actions have no destinations', () => {
  const graph = RouteGraphSchema.parse({
    listeners: [
      { name: 'public', port: 80, virtualHosts: ['site'] },
      { name: 'internal', port: 8080, virtualHosts: ['site', 'admin'] },
    ],
    virtualHosts: [
      { name: 'site', domains: ['example.com'], routes: ['home', 'old'] },
      { name: 'admin', domains: ['admin.local'], routes: ['home'] },
      { name: 'orphan-vhost', domains: ['x'], routes: ['api'] },
    ],
    routes: [
      { name: 'home', match: { path: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'web', weight: 1 }] } },
      { name: 'old', match: { prefix: '/old' }, action: { kind: 'redirect', path: '/new' } },
      { name: 'api', match: { prefix: '/api' }, action: { kind: 'directResponse', status: 503 } },
      { name: 'unused', match: { regex: '^/x' }, action: { kind: 'directResponse', status: 404 } },
    ],
    clusters: [{ name: 'web', endpoints: [] }],
  });
  const rows = flattenRoutes(graph).map((r) => `${r.listener?.name ?? '-'}/${r.virtualHost?.name ?? '-'}/${r.name}:${r.action}:${r.destinations.length}`);
  assert.deepEqual(rows, [
    'public/site/home:forward:1',
    'public/site/old:redirect:0',
    'internal/site/home:forward:1',
    'internal/site/old:redirect:0',
    'internal/admin/home:forward:1',
    '-/orphan-vhost/api:directResponse:0',
    '-/-/unused:directResponse:0',
  ]);
});

test('GET /revisions lists newest first with paging; GET /revisions/[id] returns the graph', async () => {
  const list = await call(revisionsRoute.GET, { token, query: { limit: '1' } });
  assert.equal(list.status, 200);
  assert.equal(list.body.revisions.length, 1);
  assert.equal(list.body.revisions[0].number, 2);
  assert.equal(list.body.revisions[0].live, true);
  assert.equal(list.body.nextBefore, 2);
  const next = await call(revisionsRoute.GET, { token, query: { before: '2' } });
  assert.deepEqual(next.body.revisions.map((r: { number: number }) => r.number), [1]);
  assert.equal(next.body.revisions[0].live, false);

  const one = await call(revisionRoute.GET, { token, params: { id: list.body.revisions[0].id } });
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.revision.graph.routes.map((r: { name: string }) => r.name), ['canary']);
});

test('GET /healthz is 200 with a reachable database and 503 without', async () => {
  const ok = await call(healthz.GET, { path: '/healthz' });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body, { status: 'ok' });
  const unreachable = createDb('postgresql://nobody:nothing@127.0.0.1:1/none', { maxConnections: 1 });
  setAppDb(unreachable);
  try {
    const down = await call(healthz.GET, { path: '/healthz' });
    assert.equal(down.status, 503);
  } finally {
    setAppDb(tdb.db);
    await unreachable.$disconnect();
  }
});

test('GET /metrics: Prometheus text with default metrics and requests by route and status', async () => {
  await call(signInRoute.POST, { json: { username: 'nobody', password: 'x' } });
  const res = await metrics.GET(new Request('http://127.0.0.1:3000/metrics'));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  assert.match(text, /^process_cpu_user_seconds_total /m);
  assert.match(text, /^proxyshard_http_requests_total\{method="POST",route="\/api\/v1\/auth\/sign-in",status="401"\} [1-9]/m);
  assert.match(text, /^proxyshard_http_requests_total\{method="GET",route="\/api\/v1\/routes",status="200"\} [1-9]/m);
});

test('ensureDemoTenantAndAdmin creates tenant demo and admin once, returns the password once, and signs in', async () => {
  const first = await ensureDemoTenantAndAdmin(tdb.db);
  assert.equal(first.tenant.slug, 'demo');
  assert.equal(first.admin.username, 'admin');
  assert.match(first.admin.password ?? '', /^[A-Za-z0-9_-]{16}$/);
  const second = await ensureDemoTenantAndAdmin(tdb.db);
  assert.equal(second.tenant.id, first.tenant.id);
  assert.deepEqual(second.admin, { username: 'admin' }, 'no password the second time');
  assert.equal(await tdb.db.user.count({ where: { username: 'admin' } }), 1);
  const signIn = await call(signInRoute.POST, { json: { username: 'admin', password: first.admin.password } });
  assert.equal(signIn.status, 200);
  assert.equal(signIn.body.role, 'admin');
  assert.equal(signIn.body.tenant.slug, 'demo');
  assert.equal((await verifyAuditChain(tdb.db, first.tenant.id)).ok, true);
  const [a, b] = await Promise.all([ensureDemoTenantAndAdmin(tdb.db), ensureDemoTenantAndAdmin(tdb.db)]);
  assert.equal(a.tenant.id, b.tenant.id);
});
