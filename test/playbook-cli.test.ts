/**
 * `npm run cli -- playbooks …` against a real HTTP server in front of the route handlers (no Temporal needed
 * for these verbs): create a playbook from a YAML file, list it, dry-run it against the live graph, and the
 * errors a user sees (missing parameter named by field, a viewer refused).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../scripts/cli';
import { setAppDb } from '../server/app-db';
import { discoverRoutes, makeMember, makeRevision, makeTenant, makeToken, oneRouteGraph, startApiServer } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let server: { url: string; close(): Promise<void> };
let operatorToken: string;
let viewerToken: string;
let dir: string;

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  const t = await makeTenant(tdb.db, 'cli-playbooks');
  operatorToken = (await makeToken(tdb.db, await makeMember(tdb.db, t, 'operator'))).secret;
  viewerToken = (await makeToken(tdb.db, await makeMember(tdb.db, t, 'viewer'))).secret;
  await makeRevision(tdb.db, t, oneRouteGraph('web', [{ cluster: 'web', weight: 100 }, { cluster: 'web-b', weight: 0 }]), { live: true });
  server = await startApiServer(await discoverRoutes());
  dir = mkdtempSync(join(tmpdir(), 'ps-cli-pb-'));
});

after(async () => {
  await server?.close();
  setAppDb(undefined);
  await tdb?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function cli(token: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...args, '--url', server.url, '--token', token], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('playbooks create / list / dry-run, and the errors a user sees', async () => {
  const file = join(dir, 'failover.yaml');
  writeFileSync(
    file,
    ['steps:', '  - kind: shiftWeight', '    between: { level: clusters, route: "${route}", from: web, to: web-b }', '    increments: 2', '  - kind: notify', '    subject: done', ''].join('\n'),
  );
  const created = await cli(operatorToken, 'playbooks', 'create', 'failover', '-f', file);
  assert.equal(created.code, 0, created.err);
  assert.match(created.out, /playbook failover v1 stored \((.+)\)/);
  const id = /\(([^)]+)\)/.exec(created.out)![1]!;

  const list = await cli(viewerToken, 'playbooks', 'list');
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, new RegExp(`${id}\\s+failover v1\\s+params: route`));

  const dry = await cli(viewerToken, 'playbooks', 'dry-run', id, '--target', 'route:web', '--param', 'route=web');
  assert.equal(dry.code, 0, dry.err);
  const lines = dry.out.split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^s0\.1\s+shiftWeight\s+revision [0-9a-f]{12}$/);
  assert.match(lines[1]!, /^s0\.2\s+shiftWeight\s+revision [0-9a-f]{12}$/);
  assert.match(lines[2]!, /^s1\s+notify$/);

  const missing = await cli(viewerToken, 'playbooks', 'dry-run', id, '--target', 'route:web');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /params\.route/);
  const wrong = await cli(viewerToken, 'playbooks', 'dry-run', id, '--target', 'route:web', '--param', 'route=nope');
  assert.equal(wrong.code, 1);
  assert.match(wrong.err, /spec\.steps\[0\]\.between\.route/);
  const refused = await cli(viewerToken, 'playbooks', 'create', 'other', '-f', file);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /viewer/);
  assert.equal(await tdb.db.playbook.count(), 1, 'nothing stored for the refused request');
});
