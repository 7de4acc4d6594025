/**
 * Roles are enforced on the server for every mutating endpoint: the test walks app/api/v1/**\/route.ts,
 * takes every exported POST/PUT/PATCH/DELETE and calls it as a viewer (by cookie and by token). Each must
 * answer 403 and write nothing — except the endpoints listed in VIEWER_MAY, each with its reason. The
 * list is checked against the handlers' declared permissions, so a new endpoint a viewer may call fails
 * this test until someone justifies it here.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as signInRoute from '../app/api/v1/auth/sign-in/route';
import { setAppDb } from '../server/app-db';
import { createWebhookEndpoint } from '../server/db/notify.repo';
import { PERMISSIONS } from '../server/auth/permissions';
import { makeXdpPolicy } from './support/api';
import { getAppKeyBox } from '../server/pki/key-box';
import { issueCertificate, SYSTEM_ACTOR } from '../server/services/certificate.service';
import { call, cookieOf, discoverRoutes, makeMember, makePolicy, makeRevision, makeTenant, makeToken, MUTATING, oneRouteGraph, snapshotDatabase, type DiscoveredRoute, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

/** Mutating endpoints open to viewers, and why. */
const VIEWER_MAY: Record<string, string> = {
  'POST /api/v1/auth/sign-in': 'public: signing in is how a caller becomes someone; it needs no role',
  'POST /api/v1/auth/sign-out': 'public: it only ever removes the caller’s own access',
  'POST /api/v1/me/tenant': 'switches the caller’s own session between tenants they already belong to; grants nothing new',
  'POST /api/v1/tokens': 'every member may create API tokens for themselves (the CLI needs one); a token carries its owner’s role, never more',
  'DELETE /api/v1/tokens/[id]': 'revoking one’s own token only removes access; other members’ tokens are not_found to a viewer',
  'POST /api/v1/audit/verify': 'POST because it recomputes the chain, but it only reads; audit.verify is open to every member',
  'POST /api/v1/policies/check': 'POST because it carries Rego source; runs `opa check` in a temp dir and stores nothing (policies.read)',
  'POST /api/v1/policies/format': 'POST because it carries Rego source; runs `opa fmt` and stores nothing (policies.read)',
  'POST /api/v1/policies/test': 'POST because it carries Rego source and data; runs `opa test` and stores nothing (policies.read)',
  'POST /api/v1/playbooks/[id]/dry-run': 'POST because it carries the target and parameters; computes the changes a run would make and stores nothing (playbooks.read)',
  'POST /api/v1/policies/[id]/evaluate': 'playground: evaluates a stored version with a sample input and stores nothing; a viewer can read the policy anyway (policies.read)',
};

let tdb: TestDatabase;
let viewer: TestMember;
let viewerToken: string;
let viewerCookie: string;
let ids: Record<string, string>;

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  const t = await makeTenant(tdb.db, 'perm');
  const admin = await makeMember(tdb.db, t, 'admin');
  const operator = await makeMember(tdb.db, t, 'operator');
  viewer = await makeMember(tdb.db, t, 'viewer', { username: 'vera' });
  viewerToken = (await makeToken(tdb.db, viewer, 'vera-cli')).secret;
  viewerCookie = cookieOf(await call(signInRoute.POST, { json: { username: 'vera', password: viewer.password } }));
  const adminToken = await makeToken(tdb.db, admin, 'admin-cli');
  const revisionId = await makeRevision(tdb.db, t, oneRouteGraph('r1'), { live: true });
  // Real objects to aim at, so that a 403 cannot be a disguised 404.
  ids = { '/api/v1/members/[id]': operator.member.id, '/api/v1/tokens/[id]': adminToken.id, '/api/v1/revisions/[id]': revisionId };
  const policyId = (await makePolicy(tdb.db, t, 'guard', { live: true })).id;
  for (const p of ['/api/v1/policies/[id]/versions', '/api/v1/policies/[id]/activate', '/api/v1/policies/[id]/evaluate']) ids[p] = policyId;
  ids['/api/v1/xdp-policies/[id]/publish'] = (await makeXdpPolicy(tdb.db, t, 'edge')).id;
  const cert = await issueCertificate(tdb.db, getAppKeyBox(), t.id, { name: 'web', commonName: 'web.example', usage: 'server' }, SYSTEM_ACTOR);
  for (const p of ['/api/v1/certificates/[id]/revoke', '/api/v1/certificates/[id]/rotate', '/api/v1/certificates/[id]/schedule']) ids[p] = cert.id;
  const caId = (await tdb.db.certificate.findUniqueOrThrow({ where: { id: cert.id } })).caId!;
  const rootId = (await tdb.db.certificateAuthority.findFirstOrThrow({ where: { tenantId: t.id, kind: 'root' } })).id;
  ids['/api/v1/cas/[id]/export-key'] = rootId;
  ids['/api/v1/cas/[id]/retire'] = caId;
  ids['/api/v1/cas/[id]/rotate'] = caId;
  ids['/api/v1/webhooks/[id]'] = (await createWebhookEndpoint(tdb.db, { tenantId: t.id, name: 'pager', url: 'http://127.0.0.1:9/p', secret: 's', kinds: [] })).id;
});

after(async () => {
  setAppDb(undefined);
  await tdb.drop();
});

/** Plausible, valid bodies, so a refusal is about the role and not the input. */
const BODIES: Record<string, unknown> = {
  'POST /api/v1/members': { username: 'newbie', role: 'admin', password: 'a-long-enough-password' },
  'PATCH /api/v1/members/[id]': { role: 'admin' },
  'POST /api/v1/tokens': { name: 'x' },
  'POST /api/v1/webhooks': { name: 'pager', url: 'http://127.0.0.1:9/hook' },
  'POST /api/v1/me/tenant': { tenant: 'perm' },
  'POST /api/v1/auth/sign-in': { username: 'vera', password: 'wrong' },
  'POST /api/v1/xdp-policies': { nodeGroup: 'edge', spec: { interfaces: ['eth0'], rules: [{ kind: 'deny', name: 'bad', cidrs: ['198.18.7.0/24'] }] } },
  'POST /api/v1/xdp-policies/[id]/publish': { wait: true },
  'POST /api/v1/policies': { name: 'new-guard', kind: 'admission', modules: [{ file: 'policy.rego', source: 'package proxyshard.admission\n\ndeny contains "no" if false\n' }] },
  'POST /api/v1/policies/[id]/versions': { modules: [{ file: 'policy.rego', source: 'package proxyshard.admission\n\ndeny contains "no" if false\n' }], activate: true },
  'POST /api/v1/policies/[id]/activate': { version: 1 },
  'POST /api/v1/certificates': { name: 'api', commonName: 'api.example', usage: 'server' },
  'POST /api/v1/certificates/[id]/revoke': { reason: 'keyCompromise' },
  'POST /api/v1/certificates/[id]/rotate': {},
  'POST /api/v1/certificates/[id]/schedule': { every: '1h' },
  'POST /api/v1/cas/[id]/export-key': { remove: true },
  'POST /api/v1/cas/intermediate': { newRoot: true },
  'POST /api/v1/cas/[id]/rotate': { graceSeconds: 60 },
};

const key = (r: DiscoveredRoute) => `${r.method} ${r.pattern}`;
const params = (r: DiscoveredRoute): Record<string, string> => (r.pattern.includes('[id]') ? { id: ids[r.pattern] ?? '' } : {});

test('every exported handler is built by apiRoute/publicApiRoute and declares its route and method', async () => {
  const routes = await discoverRoutes();
  assert.ok(routes.length >= 14, `found ${routes.length} handlers`);
  for (const r of routes) {
    assert.ok(r.handler.meta, `${r.file} ${r.method} has no meta: build it with apiRoute()`);
    assert.equal(r.handler.meta.route, r.pattern, `${r.file}: meta.route`);
    assert.equal(r.handler.meta.method, r.method, `${r.file}: meta.method`);
    assert.ok(r.handler.meta.access === 'public' || r.handler.meta.access in PERMISSIONS, `${r.file}: unknown permission`);
  }
});

test('the viewer exclusions are exactly the mutating endpoints whose declared access admits a viewer', async () => {
  const mutating = (await discoverRoutes()).filter((r) => MUTATING.includes(r.method));
  const open = mutating.filter((r) => r.handler.meta.access === 'public' || PERMISSIONS[r.handler.meta.access] === 'viewer').map(key);
  assert.deepEqual(open.sort(), Object.keys(VIEWER_MAY).sort());
  const publicOnes = mutating.filter((r) => r.handler.meta.access === 'public').map(key);
  assert.deepEqual(publicOnes.sort(), ['POST /api/v1/auth/sign-in', 'POST /api/v1/auth/sign-out']);
});

test('a viewer gets 403 on every other mutating endpoint, by cookie and by token, and nothing is written', async () => {
  const targets = (await discoverRoutes()).filter((r) => MUTATING.includes(r.method) && !(key(r) in VIEWER_MAY));
  assert.ok(targets.length >= 3, `${targets.map(key).join(', ')}`);
  const beforeAll = await snapshotDatabase(tdb.db);
  for (const r of targets) {
    for (const cred of [{ cookie: viewerCookie }, { token: viewerToken }]) {
      const res = await call(r.handler, { ...cred, params: params(r), json: BODIES[key(r)] ?? {} });
      assert.equal(res.status, 403, `${key(r)} via ${Object.keys(cred)[0]}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'forbidden');
      assert.match(res.body.error.message, /viewer/);
    }
  }
  const afterAll = await snapshotDatabase(tdb.db);
  for (const table of Object.keys(beforeAll)) {
    if (table === 'apiToken' || table === 'session') continue; // lastUsedAt / lastSeenAt bookkeeping, checked below
    assert.equal(afterAll[table], beforeAll[table], `${table} changed`);
  }
  const strip = (json: string) => JSON.parse(json).map(({ lastUsedAt: _u, lastSeenAt: _s, ...rest }: Record<string, unknown>) => rest);
  assert.deepEqual(strip(afterAll.apiToken!), strip(beforeAll.apiToken!));
  assert.deepEqual(strip(afterAll.session!), strip(beforeAll.session!));
});

test('what a viewer may do stays within their own reach', async () => {
  const routes = new Map((await discoverRoutes()).map((r) => [key(r), r]));
  const revokeOthers = await call(routes.get('DELETE /api/v1/tokens/[id]')!.handler, { token: viewerToken, params: { id: ids['/api/v1/tokens/[id]']! } });
  assert.equal(revokeOthers.status, 404, "another member's token is not_found to a viewer");
  const snapshot = await snapshotDatabase(tdb.db);
  const verify = await call(routes.get('POST /api/v1/audit/verify')!.handler, { token: viewerToken });
  assert.equal(verify.status, 200);
  assert.equal(verify.body.ok, true);
  assert.equal((await snapshotDatabase(tdb.db)).auditEntry, snapshot.auditEntry, 'verifying writes nothing');
  const created = await call(routes.get('POST /api/v1/tokens')!.handler, { token: viewerToken, json: { name: 'mine' } });
  assert.equal(created.status, 201);
  assert.equal(created.body.token.userId, viewer.user.id, 'the token belongs to the viewer and carries the viewer role');
});

test('without credentials every non-public endpoint is 401', async () => {
  for (const r of await discoverRoutes()) {
    if (r.handler.meta.access === 'public') continue;
    const res = await call(r.handler, { params: params(r), json: r.handler.meta.body ? (BODIES[key(r)] ?? {}) : undefined });
    assert.equal(res.status, 401, key(r));
  }
});

test('the roles above viewer get through where the table says', async () => {
  const t = viewer.tenant;
  const operator = await makeMember(tdb.db, t, 'operator');
  const admin = await makeMember(tdb.db, t, 'admin');
  const routes = new Map((await discoverRoutes()).map((r) => [key(r), r]));
  const add = routes.get('POST /api/v1/members')!.handler;
  const asOperator = await call(add, { token: (await makeToken(tdb.db, operator)).secret, json: BODIES['POST /api/v1/members'] });
  assert.equal(asOperator.status, 403);
  const asAdmin = await call(add, { token: (await makeToken(tdb.db, admin)).secret, json: BODIES['POST /api/v1/members'] });
  assert.equal(asAdmin.status, 201, JSON.stringify(asAdmin.body));
  assert.equal(asAdmin.body.userCreated, true);
  assert.equal(asAdmin.body.member.role, 'admin');
});

test('certificates: an operator issues and revokes, only an admin manages CAs (import, new intermediate, root key export, rotation)', async () => {
  const t = viewer.tenant;
  const operatorToken = (await makeToken(tdb.db, await makeMember(tdb.db, t, 'operator'))).secret;
  const routes = new Map((await discoverRoutes()).map((r) => [key(r), r]));
  const issued = await call(routes.get('POST /api/v1/certificates')!.handler, { token: operatorToken, json: BODIES['POST /api/v1/certificates'] });
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  for (const k of ['POST /api/v1/cas/[id]/export-key', 'POST /api/v1/cas/intermediate', 'POST /api/v1/cas/rewrap-keys', 'POST /api/v1/cas/[id]/retire', 'POST /api/v1/cas/[id]/rotate']) {
    const res = await call(routes.get(k)!.handler, { token: operatorToken, params: { id: ids[k.slice(5)] ?? '' }, json: routes.get(k)!.handler.meta.body ? (BODIES[k] ?? {}) : undefined });
    assert.equal(res.status, 403, k);
  }
});
