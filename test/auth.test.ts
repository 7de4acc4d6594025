/**
 * Sign-in, sessions, API tokens and tenant switching through the real route handlers and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as signInRoute from '../app/api/v1/auth/sign-in/route';
import * as signOutRoute from '../app/api/v1/auth/sign-out/route';
import * as meRoute from '../app/api/v1/me/route';
import * as meTenantRoute from '../app/api/v1/me/tenant/route';
import * as tokenRoute from '../app/api/v1/tokens/[id]/route';
import * as tokensRoute from '../app/api/v1/tokens/route';
import { setAppDb } from '../server/app-db';
import { call, cookieOf, makeMember, makeTenant, makeToken, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let alice: TestMember;

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  const acme = await makeTenant(tdb.db, 'acme');
  alice = await makeMember(tdb.db, acme, 'operator', { username: 'alice' });
});

after(async () => {
  setAppDb(undefined);
  await tdb.drop();
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

async function auditActions(tenantId: string): Promise<{ action: string; details: unknown; actorName: string }[]> {
  return tdb.db.auditEntry.findMany({ where: { tenantId }, orderBy: { seq: 'asc' }, select: { action: true, details: true, actorName: true } });
}

describe('password sign-in', () => {
  test('passwords are stored as argon2id hashes', async () => {
    const row = await tdb.db.user.findUniqueOrThrow({ where: { username: 'alice' } });
    assert.match(row.passwordHash, /^\$argon2id\$v=19\$/);
    assert.ok(!row.passwordHash.includes(alice.password));
  });

  test('a wrong password is refused with 401, sets no cookie and is audited', async () => {
    const beforeCount = (await auditActions(alice.tenant.id)).length;
    const res = await call(signInRoute.POST, { json: { username: 'alice', password: 'not-the-password' } });
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, 'unauthenticated');
    assert.equal(res.headers.get('set-cookie'), null);
    const entries = await auditActions(alice.tenant.id);
    assert.equal(entries.length, beforeCount + 1);
    assert.equal(entries.at(-1)?.action, 'auth.sign_in_failed');
    assert.deepEqual(entries.at(-1)?.details, { reason: 'wrong_password', username: 'alice' });
    assert.equal(await tdb.db.session.count(), 0);
  });

  test('an unknown user gets the same answer as a wrong password', async () => {
    const wrong = await call(signInRoute.POST, { json: { username: 'alice', password: 'nope-nope-nope' } });
    const unknown = await call(signInRoute.POST, { json: { username: 'mallory', password: 'nope-nope-nope' } });
    assert.equal(unknown.status, 401);
    assert.deepEqual(unknown.body, wrong.body);
  });

  test('the right password gives a session cookie that works for /me until sign-out', async () => {
    const res = await call(signInRoute.POST, { json: { username: 'alice', password: alice.password } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const setCookie = res.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^ps_session=[A-Za-z0-9_-]{43}; /);
    assert.match(setCookie, /; HttpOnly/);
    assert.match(setCookie, /; SameSite=Lax/);
    assert.match(setCookie, /; Path=\//);
    assert.match(setCookie, /; Max-Age=\d+/);
    assert.doesNotMatch(setCookie, /Secure/, 'COOKIE_SECURE defaults to false');
    const cookie = cookieOf(res);
    const token = cookie.slice('ps_session='.length);

    const sessions = await tdb.db.session.findMany();
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0]?.id, sha256(token), 'only the SHA-256 of the cookie is stored');
    assert.ok(sessions[0]!.expiresAt.getTime() > Date.now() + 11 * 3_600_000, 'expiry is SESSION_TTL_HOURS (12) ahead');

    const me = await call(meRoute.GET, { cookie });
    assert.equal(me.status, 200);
    assert.equal(me.body.user.username, 'alice');
    assert.equal(me.body.tenant.slug, 'acme');
    assert.equal(me.body.role, 'operator');
    assert.equal(me.body.via, 'session');
    assert.ok(me.body.permissions.includes('revisions.write'));
    assert.ok(!me.body.permissions.includes('members.manage'));
    assert.equal(JSON.stringify(me.body).includes('passwordHash'), false);
    assert.equal((await auditActions(alice.tenant.id)).at(-1)?.action, 'auth.sign_in');

    const out = await call(signOutRoute.POST, { cookie });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /^ps_session=; .*Max-Age=0/);
    assert.equal(await tdb.db.session.count(), 0, 'sign-out deletes the session');
    assert.equal((await auditActions(alice.tenant.id)).at(-1)?.action, 'auth.sign_out');

    const after = await call(meRoute.GET, { cookie });
    assert.equal(after.status, 401);
    assert.equal(after.body.error.code, 'unauthenticated');
  });

  test('an expired session is refused', async () => {
    const res = await call(signInRoute.POST, { json: { username: 'alice', password: alice.password } });
    const cookie = cookieOf(res);
    await tdb.db.session.updateMany({ data: { expiresAt: new Date(Date.now() - 1000) } });
    assert.equal((await call(meRoute.GET, { cookie })).status, 401);
  });

  test('a cross-site POST carrying the cookie is refused', async () => {
    const cookie = cookieOf(await call(signInRoute.POST, { json: { username: 'alice', password: alice.password } }));
    const res = await call(tokensRoute.POST, { cookie, json: { name: 'evil' }, headers: { origin: 'https://evil.example' } });
    assert.equal(res.status, 403);
    assert.equal(await tdb.db.apiToken.count({ where: { name: 'evil' } }), 0);
    const same = await call(tokensRoute.POST, { cookie, json: { name: 'same-origin' }, headers: { origin: 'http://127.0.0.1:3000' } });
    assert.equal(same.status, 201);
  });
});

describe('API tokens', () => {
  test('a token is shown once, stored hashed, works as a bearer and stops working when revoked', async () => {
    const cookie = cookieOf(await call(signInRoute.POST, { json: { username: 'alice', password: alice.password } }));
    const created = await call(tokensRoute.POST, { cookie, json: { name: 'ci', expiresInDays: 30 } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const secret: string = created.body.secret;
    assert.match(secret, /^ps_[0-9a-f]{8}_[0-9a-f]{64}$/);
    assert.equal(secret.slice(3, 11), created.body.token.prefix);

    const row = await tdb.db.apiToken.findUniqueOrThrow({ where: { id: created.body.token.id } });
    assert.equal(row.tokenHash, sha256(secret));
    assert.ok(!JSON.stringify(row).includes(secret.slice(12)), 'the secret is not stored');

    const listed = await call(tokensRoute.GET, { cookie });
    assert.equal(listed.status, 200);
    const shown = listed.body.tokens.find((t: { id: string }) => t.id === created.body.token.id);
    assert.equal(shown.status, 'active');
    assert.equal(JSON.stringify(listed.body).includes(secret), false, 'listings never show the secret');
    assert.equal(JSON.stringify(listed.body).includes('tokenHash'), false);

    const me = await call(meRoute.GET, { token: secret });
    assert.equal(me.status, 200);
    assert.equal(me.body.user.username, 'alice');
    assert.equal(me.body.via, 'token');

    const revoked = await call(tokenRoute.DELETE, { token: secret, params: { id: created.body.token.id } });
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.token.status, 'revoked');
    const denied = await call(meRoute.GET, { token: secret });
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get('www-authenticate') ?? '', /^Bearer/);

    const actions = (await auditActions(alice.tenant.id)).map((e) => e.action);
    assert.ok(actions.includes('token.create'));
    assert.equal(actions.at(-1), 'token.revoke');
  });

  test('an expired token, a malformed token and an unknown token are all 401', async () => {
    const { id, secret } = await makeToken(tdb.db, alice);
    assert.equal((await call(meRoute.GET, { token: secret })).status, 200);
    await tdb.db.apiToken.update({ where: { id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    assert.equal((await call(meRoute.GET, { token: secret })).status, 401);
    assert.equal((await call(meRoute.GET, { token: 'ps_nothex_123' })).status, 401);
    assert.equal((await call(meRoute.GET, { token: `ps_00000000_${'0'.repeat(64)}` })).status, 401);
  });

  test('a bad bearer token is not rescued by a valid cookie', async () => {
    const cookie = cookieOf(await call(signInRoute.POST, { json: { username: 'alice', password: alice.password } }));
    assert.equal((await call(meRoute.GET, { cookie, token: 'ps_bogus' })).status, 401);
  });

  test('a duplicate token name is a conflict', async () => {
    const { secret } = await makeToken(tdb.db, alice, 'dup');
    const res = await call(tokensRoute.POST, { token: secret, json: { name: 'dup' } });
    assert.equal(res.status, 409);
    assert.equal(res.body.error.code, 'conflict');
  });
});

describe('tenants', () => {
  test('a user in two tenants switches the session between them; other tenants are not found', async () => {
    const globex = await makeTenant(tdb.db, 'globex');
    await makeMember(tdb.db, globex, 'viewer', { user: alice.user });
    const other = await makeTenant(tdb.db, 'initech');

    const cookie = cookieOf(await call(signInRoute.POST, { json: { username: 'alice', password: alice.password } }));
    const me = await call(meRoute.GET, { cookie });
    assert.deepEqual(me.body.tenants.map((t: { slug: string }) => t.slug).sort(), ['acme', 'globex']);

    const switched = await call(meTenantRoute.POST, { cookie, json: { tenant: 'globex' } });
    assert.equal(switched.status, 200, JSON.stringify(switched.body));
    assert.equal(switched.body.tenant.slug, 'globex');
    assert.equal(switched.body.role, 'viewer');
    const now = await call(meRoute.GET, { cookie });
    assert.equal(now.body.tenant.slug, 'globex');
    assert.equal(now.body.role, 'viewer');
    assert.equal((await auditActions(globex.id)).at(-1)?.action, 'session.switch_tenant');

    const notMine = await call(meTenantRoute.POST, { cookie, json: { tenant: 'initech' } });
    assert.equal(notMine.status, 404);
    const byId = await call(meTenantRoute.POST, { cookie, json: { tenant: other.id } });
    assert.equal(byId.status, 404);
    const missing = await call(meTenantRoute.POST, { cookie, json: { tenant: 'no-such-tenant' } });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, notMine.body, 'a foreign tenant looks exactly like a missing one');

    const signInThere = await call(signInRoute.POST, { json: { username: 'alice', password: alice.password, tenant: 'globex' } });
    assert.equal(signInThere.status, 200);
    assert.equal(signInThere.body.tenant.slug, 'globex');
  });

  test('a token is bound to its tenant and cannot switch', async () => {
    const { secret } = await makeToken(tdb.db, alice);
    const res = await call(meTenantRoute.POST, { token: secret, json: { tenant: 'globex' } });
    assert.equal(res.status, 403);
  });
});

test('a token cannot mint a token that outlives it', async () => {
  const cookie = cookieOf(await call(signInRoute.POST, { json: { username: 'alice', password: alice.password } }));
  const parent = await call(tokensRoute.POST, { cookie, json: { name: 'short-lived', expiresInDays: 1 } });
  const child = await call(tokensRoute.POST, { token: parent.body.secret, json: { name: 'child-forever' } });
  assert.equal(child.status, 201);
  assert.equal(child.body.token.expiresAt, parent.body.token.expiresAt);
  const sooner = await call(tokensRoute.POST, { token: parent.body.secret, json: { name: 'child-sooner', expiresInDays: 1 } });
  assert.ok(new Date(sooner.body.token.expiresAt) <= new Date(parent.body.token.expiresAt));
});
