/**
 * The CLI as a user runs it (a child process, HOME in a temp dir) against the REST handlers served over
 * HTTP on 127.0.0.1.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setAppDb } from '../server/app-db';
import { repoRoot } from '../server/env';
import { discoverRoutes, makeMember, makeRevision, makeTenant, makeToken, oneRouteGraph, startApiServer, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let server: { url: string; close(): Promise<void> };
let op: TestMember;
let token: string;
const home = mkdtempSync(join(tmpdir(), 'ps-cli-'));

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  const t = await makeTenant(tdb.db, 'cli');
  op = await makeMember(tdb.db, t, 'operator', { username: 'otto' });
  token = (await makeToken(tdb.db, op, 'laptop')).secret;
  await makeRevision(tdb.db, t, oneRouteGraph('demo-root', [{ cluster: 'up-a', weight: 50 }, { cluster: 'up-b', weight: 50 }]), { live: true });
  server = await startApiServer(await discoverRoutes());
});

after(async () => {
  await server.close();
  setAppDb(undefined);
  await tdb.drop();
  rmSync(home, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/cli.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, HOME: home, PROXYSHARD_URL: '', PROXYSHARD_TOKEN: '', ...env },
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

test('without a login the CLI says what to do (exit 2)', async () => {
  const r = await cli(['whoami']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /run `login --url URL --token TOKEN` first/);
  const unknown = await cli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command: frobnicate/);
  const badFlag = await cli(['whoami', '--colour']);
  assert.equal(badFlag.code, 2);
});

test('login checks the token and stores url + token with mode 0600; later commands use it', async () => {
  const bad = await cli(['login', '--url', server.url, '--token', 'ps_nope']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /401 unauthenticated/);

  const r = await cli(['login', '--url', server.url, '--token', token]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /logged in to .* as otto \(operator in cli\)/);
  const path = join(home, '.config', 'proxyshard', 'cli.json');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { url: server.url, token });

  const me = await cli(['whoami']);
  assert.equal(me.code, 0, me.stderr);
  assert.match(me.stdout, /^otto \(Test operator\) — operator in cli \(CLI\), via token/);
});

test('PROXYSHARD_URL / PROXYSHARD_TOKEN and flags override the stored login', async () => {
  const other = await makeMember(tdb.db, op.tenant, 'viewer', { username: 'vic' });
  const vicToken = (await makeToken(tdb.db, other)).secret;
  const viaEnv = await cli(['whoami'], { PROXYSHARD_URL: server.url, PROXYSHARD_TOKEN: vicToken });
  assert.match(viaEnv.stdout, /^vic /);
  const viaFlag = await cli(['whoami', '--token', token], { PROXYSHARD_TOKEN: vicToken });
  assert.match(viaFlag.stdout, /^otto /);
});

test('routes prints the live routes with their weighted destinations', async () => {
  const r = await cli(['routes']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^live revision #1\n/);
  assert.match(r.stdout, /demo-root\s+main:10000\s+default\s+prefix \/\s+up-a=50,up-b=50/);
  const json = await cli(['routes', '--json']);
  assert.equal(JSON.parse(json.stdout).routes[0].name, 'demo-root');
});

test('tokens create prints the secret once; audit list shows it; audit verify passes', async () => {
  const created = await cli(['tokens', 'create', 'deploy-bot', '--expires-in-days', '7']);
  assert.equal(created.code, 0, created.stderr);
  const secret = created.stdout.split('\n')[0] ?? '';
  assert.match(secret, /^ps_[0-9a-f]{8}_[0-9a-f]{64}$/);
  const works = await cli(['whoami', '--token', secret]);
  assert.equal(works.code, 0);

  const dup = await cli(['tokens', 'create', 'deploy-bot']);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /409 conflict/);
  const invalid = await cli(['tokens', 'create', '!!!']);
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /400 bad_request.*\n {2}name: /);

  const list = await cli(['audit', 'list', '--action', 'token.create', '--limit', '1']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /SEQ\s+AT\s+ACTOR\s+ACTION\s+TARGET/);
  assert.match(list.stdout, /token:otto\s+token\.create\s+api_token:/);
  assert.match(list.stdout, /\(more: --before \d+\)/);

  const verify = await cli(['audit', 'verify']);
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(verify.stdout, /audit chain OK: \d+ entries/);
});

test('an unreachable server is a clear error (exit 1)', async () => {
  const r = await cli(['whoami', '--url', 'http://127.0.0.1:1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:1/);
});

test('webhooks create|list|delete and notifications (admin); an operator is refused', async () => {
  const admin = await makeMember(tdb.db, op.tenant, 'admin', { username: 'ada' });
  const adminToken = (await makeToken(tdb.db, admin)).secret;
  const refused = await cli(['webhooks', 'create', 'pager', 'http://127.0.0.1:1/hook']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /403 forbidden/);
  const created = await cli(['webhooks', 'create', 'pager', 'http://127.0.0.1:1/hook', '--kind', 'certificate.*,rollout.failed', '--token', adminToken]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^whsec_\S+\n\(webhook "pager", id [0-9a-f-]{36}: signing secret/);
  const list = await cli(['webhooks', 'list', '--token', adminToken]);
  assert.match(list.stdout, /pager\s+http:\/\/127\.0\.0\.1:1\/hook\s+certificate\.\*,rollout\.failed/);
  const id = /id ([0-9a-f-]{36})/.exec(created.stdout)![1]!;
  const del = await cli(['webhooks', 'delete', id, '--token', adminToken]);
  assert.equal(del.code, 0, del.stderr);
  assert.doesNotMatch((await cli(['webhooks', 'list', '--token', adminToken])).stdout, /pager/);
  const deliveries = await cli(['notifications', '--limit', '5']);
  assert.equal(deliveries.code, 0, deliveries.stderr);
  assert.match(deliveries.stdout, /AT\s+KIND\s+SEVERITY\s+STATUS/);
});

test('certs issue|list --expiring-within|show|revoke and cas list|crl: the revoked serial is in the CRL', async () => {
  const conn = ['--url', server.url, '--token', token];
  const bad = await cli(['certs', 'issue', 'cli-web', ...conn]);
  assert.equal(bad.code, 2, 'no --cn');
  const issued = await cli(['certs', 'issue', 'cli-web', '--cn', 'cli.example.test', '--dns', 'cli.example.test,www.cli.example.test', '--ip', '127.0.0.1', '--validity-hours', '3', '--json', ...conn]);
  assert.equal(issued.code, 0, issued.stderr);
  const cert = JSON.parse(issued.stdout).certificate as { id: string; serial: string; caId: string };
  await cli(['certs', 'issue', 'cli-long', '--cn', 'long', '--usage', 'client', ...conn]);
  const soon = await cli(['certs', 'list', '--expiring-within', '24', ...conn]);
  assert.equal(soon.code, 0, soon.stderr);
  assert.match(soon.stdout, /cli-web\s+active\s+server\s+[0-9a-f]+\s+\S+\s+2h/);
  assert.doesNotMatch(soon.stdout, /cli-long/);
  const show = await cli(['certs', 'show', cert.id, ...conn]);
  assert.match(show.stdout, /SANs: DNS:cli\.example\.test, DNS:www\.cli\.example\.test, IP:127\.0\.0\.1/);
  assert.match(show.stdout, /-----BEGIN CERTIFICATE-----/);
  assert.doesNotMatch(show.stdout, /PRIVATE KEY/);
  const cas = await cli(['cas', 'list', ...conn]);
  assert.match(cas.stdout, /root\s+builtin\s+active\s+online/);
  assert.match(cas.stdout, /intermediate\s+builtin\s+active\s+online/);
  const revoked = await cli(['certs', 'revoke', cert.id, '--reason', 'keyCompromise', ...conn]);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, new RegExp(`revoked cli-web serial ${cert.serial}`));
  const crl = await cli(['cas', 'crl', cert.caId, ...conn]);
  assert.equal(crl.code, 0, crl.stderr);
  assert.match(crl.stdout, /^-----BEGIN X509 CRL-----/);
  const { X509Crl } = await import('@peculiar/x509');
  assert.ok(new X509Crl(crl.stdout).entries.some((e) => e.serialNumber.toLowerCase() === cert.serial));
  const refused = await cli(['cas', 'rewrap-keys', ...conn]);
  assert.equal(refused.code, 1, 'an operator may not manage CAs');
  assert.match(refused.stderr, /cas\.manage/);
  const rotateRefused = await cli(['cas', 'rotate', cert.caId, '--grace-seconds', '60', ...conn]);
  assert.equal(rotateRefused.code, 1, 'an operator may not rotate a CA');
  assert.match(rotateRefused.stderr, /cas\.manage/);
  const badGrace = await cli(['cas', 'rotate', cert.caId, '--grace-seconds', 'soon', ...conn]);
  assert.equal(badGrace.code, 2);
  assert.match(badGrace.stderr, /grace-seconds/);
});
