/**
 * Bad input is refused before anything is written, with a 4xx that names the problem: malformed JSON,
 * unknown fields, wrong types, missing fields, a body over MAX_BODY_BYTES (with or without
 * Content-Length), a wrong or missing content type. Runs against every endpoint that reads a body.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as membersRoute from '../app/api/v1/members/route';
import * as memberRoute from '../app/api/v1/members/[id]/route';
import * as signInRoute from '../app/api/v1/auth/sign-in/route';
import * as tokensRoute from '../app/api/v1/tokens/route';
import { setAppDb } from '../server/app-db';
import { getEnv } from '../server/env';
import { call, discoverRoutes, makeMember, makeTenant, makeToken, snapshotDatabase, type DiscoveredRoute, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let admin: TestMember;
let token: string;
let memberId: string;
let bodyRoutes: DiscoveredRoute[];
let snapshot: Record<string, string>;

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  const t = await makeTenant(tdb.db, 'input');
  admin = await makeMember(tdb.db, t, 'admin', { username: 'ada' });
  memberId = (await makeMember(tdb.db, t, 'viewer')).member.id;
  token = (await makeToken(tdb.db, admin, 'ada-cli')).secret;
  bodyRoutes = (await discoverRoutes()).filter((r) => r.handler.meta.body);
  // Touch the token once so its lastUsedAt is fresh and later calls leave every row exactly as it is.
  await call(tokensRoute.GET, { token });
  snapshot = await snapshotDatabase(tdb.db);
});

after(async () => {
  setAppDb(undefined);
  await tdb.drop();
});

async function assertNothingWritten(what: string) {
  assert.deepEqual(await snapshotDatabase(tdb.db), snapshot, `${what} wrote something`);
}

const opts = (r: DiscoveredRoute): { token: string; params: Record<string, string> } => ({ token, params: r.pattern.includes('[id]') ? { id: memberId } : {} });
const name = (r: DiscoveredRoute) => `${r.method} ${r.pattern}`;

test('the endpoints that read a body', () => {
  assert.deepEqual(bodyRoutes.map(name).sort(), [
    'PATCH /api/v1/members/[id]',
    'POST /api/v1/auth/sign-in',
    'POST /api/v1/cas/[id]/export-key',
    'POST /api/v1/cas/[id]/rotate',
    'POST /api/v1/cas/import',
    'POST /api/v1/cas/intermediate',
    'POST /api/v1/certificates',
    'POST /api/v1/certificates/[id]/revoke',
    'POST /api/v1/certificates/[id]/rotate',
    'POST /api/v1/certificates/[id]/schedule',
    'POST /api/v1/certificates/import',
    'POST /api/v1/me/tenant',
    'POST /api/v1/members',
    'POST /api/v1/playbooks',
    'POST /api/v1/playbooks/[id]/dry-run',
    'POST /api/v1/playbooks/[id]/runs',
    'POST /api/v1/playbooks/[id]/triggers',
    'POST /api/v1/playbooks/runs/[id]/abort',
    'POST /api/v1/playbooks/runs/[id]/approve',
    'POST /api/v1/playbooks/runs/[id]/reject',
    'POST /api/v1/playbooks/runs/[id]/resume',
    'POST /api/v1/policies',
    'POST /api/v1/policies/[id]/activate',
    'POST /api/v1/policies/[id]/evaluate',
    'POST /api/v1/policies/[id]/versions',
    'POST /api/v1/policies/check',
    'POST /api/v1/policies/format',
    'POST /api/v1/policies/test',
    'POST /api/v1/revisions',
    'POST /api/v1/revisions/[id]/apply',
    'POST /api/v1/revisions/[id]/approve',
    'POST /api/v1/revisions/[id]/revert',
    'POST /api/v1/revisions/validate',
    'POST /api/v1/rollouts',
    'POST /api/v1/rollouts/[id]/abort',
    'POST /api/v1/rollouts/[id]/approve',
    'POST /api/v1/rollouts/[id]/pause',
    'POST /api/v1/rollouts/[id]/promote',
    'POST /api/v1/rollouts/[id]/reject',
    'POST /api/v1/rollouts/[id]/resume',
    'POST /api/v1/rollouts/[id]/retry',
    'POST /api/v1/tokens',
    'POST /api/v1/translate',
    'POST /api/v1/webhooks',
    'POST /api/v1/xdp-policies',
    'POST /api/v1/xdp-policies/[id]/publish',
  ]);
});

test('malformed JSON → 400 naming the syntax problem', async () => {
  for (const r of bodyRoutes) {
    const res = await call(r.handler, { ...opts(r), rawBody: '{"name": "x",}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 400, name(r));
    assert.equal(res.body.error.code, 'bad_request');
    assert.match(res.body.error.message, /^malformed JSON: .*position 13/, name(r));
  }
  await assertNothingWritten('malformed JSON');
});

test('an empty body, or a JSON value that is not an object → 400', async () => {
  for (const r of bodyRoutes) {
    const empty = await call(r.handler, { ...opts(r), rawBody: '', headers: { 'content-type': 'application/json' } });
    assert.equal(empty.status, 400, name(r));
    assert.match(empty.body.error.message, /empty/);
    const array = await call(r.handler, { ...opts(r), json: [1, 2] });
    assert.equal(array.status, 400, name(r));
    assert.deepEqual(array.body.error.issues, [{ path: '', message: 'Invalid input: expected object, received array' }]);
  }
  await assertNothingWritten('empty bodies');
});

test('an unknown field is refused by name', async () => {
  for (const r of bodyRoutes) {
    const res = await call(r.handler, { ...opts(r), json: { colour: 'red', 'weird key': 1 } });
    assert.equal(res.status, 400, name(r));
    const paths = res.body.error.issues.filter((i: { message: string }) => i.message === 'unknown field').map((i: { path: string }) => i.path);
    assert.deepEqual(paths.sort(), ['["weird key"]', 'colour'], name(r));
    assert.match(res.body.error.message, /colour: unknown field/);
  }
  await assertNothingWritten('unknown fields');
});

test('wrong types and missing fields are named field by field', async () => {
  const token1 = await call(tokensRoute.POST, { token, json: { name: 42, expiresInDays: 'soon' } });
  assert.equal(token1.status, 400);
  assert.deepEqual(token1.body.error.issues, [
    { path: 'name', message: 'Invalid input: expected string, received number' },
    { path: 'expiresInDays', message: 'Invalid input: expected number, received string' },
  ]);

  const member = await call(membersRoute.POST, { token, json: { username: 'Bob Smith', role: 'king', password: 'short' } });
  assert.equal(member.status, 400);
  assert.deepEqual(member.body.error.issues.map((i: { path: string }) => i.path), ['username', 'role', 'password']);
  assert.match(member.body.error.issues[1].message, /"viewer"\|"operator"\|"approver"\|"admin"/);

  const missing = await call(signInRoute.POST, { json: { username: 'ada' } });
  assert.equal(missing.status, 400);
  assert.deepEqual(missing.body.error.issues, [{ path: 'password', message: 'required (string)' }]);

  const patch = await call(memberRoute.PATCH, { token, params: { id: memberId }, json: { role: null } });
  assert.equal(patch.status, 400);
  assert.equal(patch.body.error.issues[0].path, 'role');
  await assertNothingWritten('wrong types');
});

test('a body over MAX_BODY_BYTES → 413 before parsing, with or without Content-Length', async () => {
  const max = getEnv().MAX_BODY_BYTES;
  const big = JSON.stringify({ name: 'x'.repeat(max) });
  for (const r of bodyRoutes) {
    const res = await call(r.handler, { ...opts(r), rawBody: big, headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 413, name(r));
    assert.equal(res.body.error.code, 'payload_too_large');
    assert.match(res.body.error.message, new RegExp(`larger than ${max} bytes`));
  }
  // Streamed without Content-Length: the reader stops counting at the limit. Not JSON at all, to show
  // that the size is judged before the syntax.
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent > max * 4) return controller.close();
      sent += 64 * 1024;
      controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
    },
  });
  const req = new Request('http://127.0.0.1:3000/api/v1/tokens', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: stream,
    duplex: 'half',
  } as RequestInit & { duplex: 'half' });
  assert.equal(req.headers.get('content-length'), null);
  const res = await tokensRoute.POST(req);
  assert.equal(res.status, 413);
  assert.ok(sent < max * 2, `stopped reading early (read ${sent} bytes)`);
  // Exactly at the limit is fine (and then fails on content, not size).
  const edge = JSON.stringify({ name: 'x'.repeat(max - 20) });
  const atLimit = await call(tokensRoute.POST, { token, rawBody: edge + ' '.repeat(max - edge.length), headers: { 'content-type': 'application/json' } });
  assert.equal(atLimit.status, 400);
  await assertNothingWritten('oversized bodies');
});

test('a wrong, missing or non-UTF-8 content type → 415', async () => {
  for (const r of bodyRoutes) {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', undefined]) {
      const res = await call(r.handler, { ...opts(r), rawBody: '{}', headers: type ? { 'content-type': type } : ({} as Record<string, string>) });
      assert.equal(res.status, 415, `${name(r)} with ${type}`);
      assert.equal(res.body.error.code, 'unsupported_media_type');
      assert.match(res.body.error.message, /application\/json/);
    }
  }
  const ok = await call(tokensRoute.POST, { token, rawBody: JSON.stringify({ name: 'x', bad: 1 }), headers: { 'content-type': 'Application/JSON; charset=UTF-8' } });
  assert.equal(ok.status, 400, 'the media type is case-insensitive; then the unknown field is refused');
  await assertNothingWritten('wrong content types');
});

test('invalid UTF-8 → 400', async () => {
  const res = await call(tokensRoute.POST, { token, rawBody: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 400);
  assert.match(res.body.error.message, /UTF-8/);
  await assertNothingWritten('invalid UTF-8');
});

test('an unexpected failure shows a generic message with an event id', async () => {
  const { describeError } = await import('../server/errors');
  const logged: unknown[] = [];
  const fake = { error: (obj: unknown) => logged.push(obj) } as unknown as import('pino').Logger;
  const { status, body } = describeError(new Error('connection string postgres://secret@db'), fake);
  assert.equal(status, 500);
  assert.equal(body.error.code, 'internal');
  assert.doesNotMatch(body.error.message, /secret/);
  assert.match(body.error.eventId ?? '', /^[0-9a-f-]{36}$/);
  assert.equal((logged[0] as { eventId: string }).eventId, body.error.eventId, 'the log carries the same event id');
});
