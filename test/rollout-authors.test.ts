/**
 * Separation of duties on a rollout's approval step covers the person who wrote the change, not only the one
 * who started the rollout: a revision records its creator as the user id (session) or the API token id
 * (token); both must map to the user who is then refused as an approver. Real Temporal, real Envoy.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as startRoute from '../app/api/v1/rollouts/route';
import * as approveRoute from '../app/api/v1/rollouts/[id]/approve/route';
import { setAppDb } from '../server/app-db';
import { call, makeToken, type TestMember } from './support/api';
import { startRolloutHarness, type RolloutHarness } from './support/rollout-harness';
import { eventually } from './support/xds-harness';

let h: RolloutHarness;
let carol: TestMember; // approver who writes changes (by API token and by session)
const tokens: Record<string, string> = {};

before(async () => {
  h = await startRolloutHarness({ routes: 1 });
  await h.startInProcessWorker();
  setAppDb(h.xds.db);
  const m = await h.addMembers({ alice: 'operator', bob: 'approver', carol: 'approver' });
  carol = m.carol.member;
  for (const [n, x] of Object.entries(m)) tokens[n] = x.token;
});

after(async () => {
  setAppDb(undefined);
  await h?.stop();
});

/** alice starts a rollout of `revisionId` with an approval step, then waits until it asks for approval. */
async function startAwaitingApproval(revisionId: string, stable: string, canary: string): Promise<string> {
  const res = await call(startRoute.POST, {
    token: tokens.alice,
    json: { revisionId, spec: { route: 'r0', stableCluster: stable, canaryCluster: canary, ackTimeoutMs: 20_000, steps: [{ kind: 'approval', timeoutMs: 120_000 }, { kind: 'setWeight', weight: 100 }] } },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const id = res.body.rollout.id as string;
  await eventually('awaiting approval', async () => ((await h.xds.db.rollout.findUniqueOrThrow({ where: { id } })).pauseReason === 'AwaitingApproval' ? true : undefined));
  return id;
}

async function approveAs(who: string, id: string) {
  return call(approveRoute.POST, { token: tokens[who], params: { id }, json: {} });
}

async function promoted(id: string): Promise<void> {
  const phase = await eventually(
    'rollout finished',
    async () => {
      const r = await h.xds.db.rollout.findUniqueOrThrow({ where: { id } });
      return ['Promoted', 'Failed', 'Aborted'].includes(r.phase) ? r.phase : undefined;
    },
    120_000,
    200,
  );
  assert.equal(phase, 'Promoted');
}

test('the author of the change cannot approve its rollout, whether the change was written by API token or by session', { timeout: 240_000 }, async () => {
  // 1. Written through carol's API token: the revision records the token id.
  const carolToken = await makeToken(h.xds.db, carol, 'carol-ci');
  const byToken = await startAwaitingApproval(await h.changeRevision(carolToken.id), 's0', 'c0');
  const refused = await approveAs('carol', byToken);
  assert.equal(refused.status, 403);
  assert.match(refused.body.error.message, /author of the change cannot approve/);
  assert.equal((await approveAs('bob', byToken)).status, 200);
  await promoted(byToken);
  assert.equal(await h.servedRoute('r0'), 'c0=100');

  // 2. Written in carol's browser session: the revision records her user id.
  const bySession = await startAwaitingApproval(await h.changeRevision(carol.user.id), 'c0', 's0');
  const refusedAgain = await approveAs('carol', bySession);
  assert.equal(refusedAgain.status, 403);
  assert.match(refusedAgain.body.error.message, /author of the change cannot approve/);
  assert.equal((await approveAs('bob', bySession)).status, 200);
  await promoted(bySession);
  assert.equal(await h.servedRoute('r0'), 's0=100');

  const audit = await h.xds.db.auditEntry.findMany({ where: { targetId: { in: [byToken, bySession] }, action: 'rollout.approve.refused' } });
  assert.deepEqual(audit.map((a) => a.actorName), ['carol', 'carol']);
});
