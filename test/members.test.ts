/**
 * Membership management by admins: create-or-add, role changes, removal (which ends the member's
 * sessions and tokens in the tenant), the last-admin guard, and the audit trail of each.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as signInRoute from '../app/api/v1/auth/sign-in/route';
import * as meRoute from '../app/api/v1/me/route';
import * as memberRoute from '../app/api/v1/members/[id]/route';
import * as membersRoute from '../app/api/v1/members/route';
import { setAppDb } from '../server/app-db';
import { verifyAuditChain } from '../server/audit/audit.service';
import { call, cookieOf, makeMember, makeTenant, makeToken, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let admin: TestMember;
let adminToken: string;

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  const t = await makeTenant(tdb.db, 'team');
  admin = await makeMember(tdb.db, t, 'admin', { username: 'root' });
  adminToken = (await makeToken(tdb.db, admin)).secret;
});

after(async () => {
  setAppDb(undefined);
  await tdb.drop();
});

const actions = async () => (await tdb.db.auditEntry.findMany({ where: { tenantId: admin.tenant.id }, orderBy: { seq: 'asc' } })).map((e) => e.action);

test('adding a new user creates them with the password; they can sign in with the role', async () => {
  const res = await call(membersRoute.POST, { token: adminToken, json: { username: 'olga', role: 'operator', password: 'olga-password-123', displayName: 'Olga' } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.userCreated, true);
  assert.equal(res.body.member.user.username, 'olga');
  assert.equal(JSON.stringify(res.body).includes('password'), false);
  assert.deepEqual((await actions()).slice(-2), ['user.create', 'member.add']);
  const signIn = await call(signInRoute.POST, { json: { username: 'olga', password: 'olga-password-123' } });
  assert.equal(signIn.status, 200);
  assert.equal(signIn.body.role, 'operator');
});

test('a new user needs a password; an existing user must not be given one', async () => {
  const noPassword = await call(membersRoute.POST, { token: adminToken, json: { username: 'nobody-yet', role: 'viewer' } });
  assert.equal(noPassword.status, 400);
  assert.deepEqual(noPassword.body.error.issues, [{ path: 'password', message: 'required to create a new user' }]);

  const other = await makeTenant(tdb.db, 'elsewhere');
  const pat = await makeMember(tdb.db, other, 'viewer', { username: 'pat' });
  const takeover = await call(membersRoute.POST, { token: adminToken, json: { username: 'pat', role: 'viewer', password: 'attacker-chosen-pw' } });
  assert.equal(takeover.status, 409, "an admin cannot reset another tenant's user's password");
  const signIn = await call(signInRoute.POST, { json: { username: 'pat', password: pat.password } });
  assert.equal(signIn.status, 200, 'the password is unchanged');

  const added = await call(membersRoute.POST, { token: adminToken, json: { username: 'pat', role: 'approver' } });
  assert.equal(added.status, 201);
  assert.equal(added.body.userCreated, false);
  const again = await call(membersRoute.POST, { token: adminToken, json: { username: 'pat', role: 'viewer' } });
  assert.equal(again.status, 409);
});

test('role changes are audited with before/after; the last admin cannot be demoted or removed', async () => {
  const list = await call(membersRoute.GET, { token: adminToken });
  const olga = list.body.members.find((m: { user: { username: string } }) => m.user.username === 'olga');
  const promoted = await call(memberRoute.PATCH, { token: adminToken, params: { id: olga.id }, json: { role: 'approver' } });
  assert.equal(promoted.status, 200);
  assert.equal(promoted.body.member.role, 'approver');
  const entry = await tdb.db.auditEntry.findFirstOrThrow({ where: { tenantId: admin.tenant.id, action: 'member.update' } });
  assert.match(entry.beforeDigest ?? '', /^[0-9a-f]{64}$/);
  assert.match(entry.afterDigest ?? '', /^[0-9a-f]{64}$/);
  assert.notEqual(entry.beforeDigest, entry.afterDigest);
  assert.deepEqual(entry.details, { userId: olga.user.id, username: 'olga', fromRole: 'operator', toRole: 'approver' });

  const demoteSelf = await call(memberRoute.PATCH, { token: adminToken, params: { id: admin.member.id }, json: { role: 'viewer' } });
  assert.equal(demoteSelf.status, 409);
  assert.match(demoteSelf.body.error.message, /last admin/);
  const removeSelf = await call(memberRoute.DELETE, { token: adminToken, params: { id: admin.member.id } });
  assert.equal(removeSelf.status, 409);
});

test("removing a member ends their sessions and revokes their tokens in the tenant", async () => {
  const list = await call(membersRoute.GET, { token: adminToken });
  const olga = list.body.members.find((m: { user: { username: string } }) => m.user.username === 'olga');
  const cookie = cookieOf(await call(signInRoute.POST, { json: { username: 'olga', password: 'olga-password-123' } }));
  const olgaMember: TestMember = { ...admin, user: { ...admin.user, id: olga.user.id, username: 'olga' }, role: 'approver', principal: { ...admin.principal, user: { ...admin.user, id: olga.user.id, username: 'olga' }, role: 'approver' } };
  const { secret } = await makeToken(tdb.db, olgaMember);
  assert.equal((await call(meRoute.GET, { cookie })).status, 200);
  assert.equal((await call(meRoute.GET, { token: secret })).status, 200);

  const removed = await call(memberRoute.DELETE, { token: adminToken, params: { id: olga.id } });
  assert.equal(removed.status, 204);
  assert.equal((await call(meRoute.GET, { cookie })).status, 401);
  assert.equal((await call(meRoute.GET, { token: secret })).status, 401);
  const entry = await tdb.db.auditEntry.findFirstOrThrow({ where: { tenantId: admin.tenant.id, action: 'member.remove' } });
  assert.deepEqual(entry.details, { userId: olga.user.id, username: 'olga', role: 'approver', sessionsEnded: 2, tokensRevoked: 1 }, 'both of olga’s sign-ins ended');
  assert.equal((await call(memberRoute.DELETE, { token: adminToken, params: { id: olga.id } })).status, 404);
  assert.equal((await verifyAuditChain(tdb.db, admin.tenant.id)).ok, true);
});
