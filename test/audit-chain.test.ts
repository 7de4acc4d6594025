/**
 * The audit log against real PostgreSQL: appends chain and serialise per tenant, the database refuses
 * UPDATE/DELETE/TRUNCATE, and tampering behind the trigger's back (superuser, trigger disabled) is found
 * by the verifier, the API and the CLI — which exits 1 and prints the broken entry.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import * as verifyRoute from '../app/api/v1/audit/verify/route';
import * as auditRoute from '../app/api/v1/audit/route';
import { setAppDb } from '../server/app-db';
import { appendAudit, computeAuditHash, verifyAuditChain, type AppendAuditInput } from '../server/audit/audit.service';
import { inTransaction } from '../server/db/tx';
import { repoRoot } from '../server/env';
import { call, discoverRoutes, makeMember, makeTenant, makeToken, startApiServer } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let admin: pg.Client;
const home = mkdtempSync(join(tmpdir(), 'ps-cli-home-'));

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  admin = new pg.Client({ connectionString: tdb.adminUrl });
  await admin.connect();
});

after(async () => {
  await admin.end();
  setAppDb(undefined);
  await tdb.drop();
  rmSync(home, { recursive: true, force: true });
});

const actor = { type: 'user', id: 'u-1', name: 'alice' } as const;

function entry(tenantId: string, i: number): AppendAuditInput {
  return {
    tenantId,
    actor: i % 2 ? actor : { type: 'system', id: 'seed', name: 'seed' },
    action: 'test.step',
    target: { type: 'thing', id: `thing-${i}` },
    before: i > 1 ? { n: i - 1 } : undefined,
    after: { n: i, at: new Date(2026, 0, i) },
    details: { i, nested: { z: 1, a: [i, 'x'] } },
  };
}

/** Runs SQL with the append-only triggers disabled, as a superuser could. */
async function tamper(sql: string, params: unknown[]): Promise<void> {
  await admin.query('ALTER TABLE "AuditEntry" DISABLE TRIGGER USER');
  try {
    await admin.query(sql, params);
  } finally {
    await admin.query('ALTER TABLE "AuditEntry" ENABLE TRIGGER USER');
  }
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/cli.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, HOME: home, PROXYSHARD_URL: '', PROXYSHARD_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('five appends chain from the genesis hash and verify', async () => {
  const t = await makeTenant(tdb.db, 'chain-ok');
  const written = [];
  for (let i = 1; i <= 5; i++) written.push(await appendAudit(tdb.db, entry(t.id, i)));
  assert.deepEqual(written.map((e) => e.seq), [1, 2, 3, 4, 5]);
  assert.equal(written[0]?.prevHash, '0'.repeat(64));
  for (let i = 1; i < 5; i++) assert.equal(written[i]?.prevHash, written[i - 1]?.hash);
  assert.equal(written[0]?.beforeDigest, null);
  assert.match(written[1]?.beforeDigest ?? '', /^[0-9a-f]{64}$/);
  const stored = await tdb.db.auditEntry.findFirstOrThrow({ where: { tenantId: t.id, seq: 3 } });
  assert.equal(computeAuditHash(stored.prevHash, { ...stored, details: stored.details as never }), stored.hash, 'the documented formula reproduces the stored hash');
  assert.deepEqual(await verifyAuditChain(tdb.db, t.id), { ok: true, entries: 5, headHash: written[4]?.hash });
});

test('concurrent appends to two tenants give gap-free chains', async () => {
  const a = await makeTenant(tdb.db, 'busy-a');
  const b = await makeTenant(tdb.db, 'busy-b');
  await Promise.all(Array.from({ length: 24 }, (_, i) => appendAudit(tdb.db, entry(i % 2 ? a.id : b.id, i + 1))));
  for (const t of [a, b]) {
    const seqs = (await tdb.db.auditEntry.findMany({ where: { tenantId: t.id }, orderBy: { seq: 'asc' }, select: { seq: true } })).map((r) => r.seq);
    assert.deepEqual(seqs, Array.from({ length: 12 }, (_, i) => i + 1));
    assert.equal((await verifyAuditChain(tdb.db, t.id)).ok, true);
  }
});

test("an append inside the caller's transaction rolls back with it", async () => {
  const t = await makeTenant(tdb.db, 'rollback');
  await appendAudit(tdb.db, entry(t.id, 1));
  await assert.rejects(
    inTransaction(tdb.db, async (tx) => {
      await appendAudit(tx, entry(t.id, 2));
      throw new Error('the change failed');
    }),
    /the change failed/,
  );
  assert.equal(await tdb.db.auditEntry.count({ where: { tenantId: t.id } }), 1);
  const next = await appendAudit(tdb.db, entry(t.id, 3));
  assert.equal(next.seq, 2);
  assert.equal((await verifyAuditChain(tdb.db, t.id)).ok, true);
});

test('the database refuses UPDATE, DELETE and TRUNCATE of audit entries', async () => {
  const t = await makeTenant(tdb.db, 'immutable');
  await appendAudit(tdb.db, entry(t.id, 1));
  await assert.rejects(tdb.db.auditEntry.updateMany({ where: { tenantId: t.id }, data: { actorName: 'mallory' } }), /append-only/);
  await assert.rejects(tdb.db.auditEntry.deleteMany({ where: { tenantId: t.id } }), /append-only/);
  await assert.rejects(admin.query('UPDATE "AuditEntry" SET "actorName" = $1 WHERE "tenantId" = $2', ['mallory', t.id]), /append-only/);
  await assert.rejects(admin.query('TRUNCATE "AuditEntry"'), /append-only/);
  const row = await tdb.db.auditEntry.findFirstOrThrow({ where: { tenantId: t.id } });
  assert.equal(row.actorName, 'alice');
});

test('a field changed behind the trigger is reported at exactly its seq, by the API and by the CLI (exit 1)', async () => {
  const t = await makeTenant(tdb.db, 'tampered');
  const viewer = await makeMember(tdb.db, t, 'viewer');
  const { secret } = await makeToken(tdb.db, viewer); // audit entry 1 (token.create)
  for (let i = 2; i <= 6; i++) await appendAudit(tdb.db, entry(t.id, i));
  const server = await startApiServer(await discoverRoutes());
  try {
    const good = await runCli(['audit', 'verify', '--url', server.url, '--token', secret]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /audit chain OK: 6 entries/);

    await tamper('UPDATE "AuditEntry" SET "actorName" = $1 WHERE "tenantId" = $2 AND seq = 4', ['mallory', t.id]);
    assert.equal((await tdb.db.auditEntry.findFirstOrThrow({ where: { tenantId: t.id, seq: 4 } })).actorName, 'mallory', 'the tampering happened');

    const v = await verifyAuditChain(tdb.db, t.id);
    assert.equal(v.ok, false);
    assert.ok(!v.ok);
    assert.equal(v.firstBrokenSeq, 4);
    assert.match(v.reason, /field was changed/);
    assert.equal(v.entries, 3);

    const api = await call(verifyRoute.POST, { token: secret });
    assert.equal(api.status, 200);
    assert.equal(api.body.ok, false);
    assert.equal(api.body.firstBrokenSeq, 4);
    assert.equal(api.body.entry.actor.name, 'mallory');

    const cli = await runCli(['audit', 'verify', '--url', server.url, '--token', secret]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stdout, /audit chain BROKEN at seq 4: hash does not match/);
    assert.match(cli.stdout, /first broken entry:\n {2}seq {7}4\n/);
    assert.match(cli.stdout, /actor {5}system mallory \(seed\)/);
  } finally {
    await server.close();
  }
});

test('a re-hashed forgery breaks the next link; a deleted entry is a gap; an edited prevHash is caught', async () => {
  const forged = await makeTenant(tdb.db, 'forged');
  for (let i = 1; i <= 5; i++) await appendAudit(tdb.db, entry(forged.id, i));
  const row = await tdb.db.auditEntry.findFirstOrThrow({ where: { tenantId: forged.id, seq: 2 } });
  const fakeHash = computeAuditHash(row.prevHash, { ...row, actorName: 'mallory', details: row.details as never });
  await tamper('UPDATE "AuditEntry" SET "actorName" = $1, hash = $2 WHERE "tenantId" = $3 AND seq = 2', ['mallory', fakeHash, forged.id]);
  const v1 = await verifyAuditChain(tdb.db, forged.id);
  assert.ok(!v1.ok);
  assert.equal(v1.firstBrokenSeq, 3);
  assert.match(v1.reason, /prevHash does not match the hash of entry 2/);

  const gap = await makeTenant(tdb.db, 'gap');
  for (let i = 1; i <= 5; i++) await appendAudit(tdb.db, entry(gap.id, i));
  await tamper('DELETE FROM "AuditEntry" WHERE "tenantId" = $1 AND seq = 3', [gap.id]);
  const v2 = await verifyAuditChain(tdb.db, gap.id);
  assert.ok(!v2.ok);
  assert.equal(v2.firstBrokenSeq, 3);
  assert.match(v2.reason, /entry 3 is missing/);

  const relinked = await makeTenant(tdb.db, 'relinked');
  for (let i = 1; i <= 3; i++) await appendAudit(tdb.db, entry(relinked.id, i));
  await tamper('UPDATE "AuditEntry" SET "prevHash" = $1 WHERE "tenantId" = $2 AND seq = 1', ['f'.repeat(64), relinked.id]);
  const v3 = await verifyAuditChain(tdb.db, relinked.id);
  assert.ok(!v3.ok);
  assert.equal(v3.firstBrokenSeq, 1);
});

test('GET /audit filters by action, actor and target and pages by seq', async () => {
  const t = await makeTenant(tdb.db, 'paging');
  const viewer = await makeMember(tdb.db, t, 'viewer', { username: 'pager' });
  const { secret } = await makeToken(tdb.db, viewer); // seq 1
  for (let i = 2; i <= 8; i++) await appendAudit(tdb.db, entry(t.id, i));

  const first = await call(auditRoute.GET, { token: secret, query: { limit: '3' } });
  assert.equal(first.status, 200);
  assert.deepEqual(first.body.entries.map((e: { seq: number }) => e.seq), [8, 7, 6]);
  assert.equal(first.body.nextBefore, 6);
  const second = await call(auditRoute.GET, { token: secret, query: { limit: '3', before: String(first.body.nextBefore) } });
  assert.deepEqual(second.body.entries.map((e: { seq: number }) => e.seq), [5, 4, 3]);
  const last = await call(auditRoute.GET, { token: secret, query: { limit: '3', before: '3' } });
  assert.deepEqual(last.body.entries.map((e: { seq: number }) => e.seq), [2, 1]);
  assert.equal(last.body.nextBefore, null);

  const byAction = await call(auditRoute.GET, { token: secret, query: { action: 'token.create' } });
  assert.deepEqual(byAction.body.entries.map((e: { seq: number }) => e.seq), [1]);
  const byActor = await call(auditRoute.GET, { token: secret, query: { actor: 'alice' } });
  assert.deepEqual(byActor.body.entries.map((e: { seq: number }) => e.seq), [7, 5, 3]);
  const byTarget = await call(auditRoute.GET, { token: secret, query: { targetType: 'thing', targetId: 'thing-4' } });
  assert.deepEqual(byTarget.body.entries.map((e: { seq: number }) => e.seq), [4]);
  const e = byTarget.body.entries[0];
  assert.deepEqual(Object.keys(e).sort(), ['action', 'actor', 'afterDigest', 'at', 'beforeDigest', 'details', 'hash', 'prevHash', 'seq', 'target']);

  const bad = await call(auditRoute.GET, { token: secret, query: { limit: 'many', colour: 'red' } });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body.error.issues.map((i: { path: string }) => i.path).sort(), ['colour', 'limit']);
});
