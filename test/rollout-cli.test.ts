/**
 * `npm run cli -- rollouts …` against a real HTTP server in front of the route handlers (no Temporal: the
 * rollout row is stored directly). Status prints what the API says; --watch stops when the rollout ends;
 * a viewer's approve is refused with the server's reason and exit code 1.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runCli } from '../scripts/cli';
import { setAppDb } from '../server/app-db';
import { insertRollout } from '../server/db/rollout.repo';
import { discoverRoutes, makeMember, makeRevision, makeTenant, makeToken, oneRouteGraph, startApiServer } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let server: { url: string; close(): Promise<void> };
let viewerToken: string;
let rolloutId: string;

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  const t = await makeTenant(tdb.db, 'cli-rollouts');
  const viewer = await makeMember(tdb.db, t, 'viewer');
  viewerToken = (await makeToken(tdb.db, viewer)).secret;
  const revisionId = await makeRevision(tdb.db, t, oneRouteGraph('web'), { live: true });
  rolloutId = (
    await insertRollout(tdb.db, {
      tenantId: t.id,
      workflowId: `rollout:${t.id}:web:${revisionId}`,
      routeName: 'web',
      revisionId,
      spec: { route: 'web', stableCluster: 'web', canaryCluster: 'web-v2', steps: [{ kind: 'setWeight', weight: 10, bakeMs: 0 }], ackTimeoutMs: 60_000 },
      stepsHash: 'abc',
      authors: [],
      startedById: 'user:x',
      startedByName: 'alice',
      lastGoodRevisionId: revisionId,
    })
  ).id;
  await tdb.db.rollout.update({ where: { id: rolloutId }, data: { phase: 'Failed', canaryWeight: 0, failure: { reason: 'analysis', message: 'canary successRate 70.00% is below the minimum 95.00%', stepIndex: 1 } } });
  server = await startApiServer(await discoverRoutes());
});

after(async () => {
  await server?.close();
  setAppDb(undefined);
  await tdb?.drop();
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...args, '--url', server.url, '--token', viewerToken], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('rollouts list / status / status --watch / approve as a viewer', async () => {
  const list = await cli('rollouts', 'list');
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, new RegExp(`${rolloutId}\\s+web\\s+Failed`));
  const status = await cli('rollouts', 'status', rolloutId);
  assert.equal(status.code, 0, status.err);
  assert.match(status.out, /route web: Failed, step 1\/1, canary 0% — analysis: canary successRate 70\.00% is below the minimum 95\.00%/);
  const watch = await cli('rollouts', 'status', rolloutId, '--watch', '--interval-ms', '100');
  assert.equal(watch.code, 1, 'a finished, failed rollout ends the watch with exit 1');
  const approve = await cli('rollouts', 'approve', rolloutId);
  assert.equal(approve.code, 1);
  assert.match(approve.err, /403 forbidden: your role \(viewer\) does not allow approvals\.decide/);
  assert.equal((await cli('rollouts', 'frobnicate', rolloutId)).code, 2);
});
