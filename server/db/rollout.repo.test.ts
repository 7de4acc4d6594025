/**
 * The rollout repository's batched writes against real PostgreSQL: events are inserted once per
 * (rollout, seq) whoever wrote them first, and a status update keeps an earlier failure unless it brings one.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { RolloutSpec, RolloutStatus } from '../../contracts/rollout.schema';
import { createTestDatabase, type TestDatabase } from '../../test/support/db';
import { insertRollout, insertRolloutEvents, listRolloutEvents, findRollout, updateRolloutStatuses, type NewRolloutEvent } from './rollout.repo';

let tdb: TestDatabase;
let tenantId: string;

before(async () => {
  tdb = await createTestDatabase();
  tenantId = (await tdb.db.tenant.create({ data: { slug: 'r', name: 'R' } })).id;
});
after(() => tdb.drop());

async function rollout(route: string) {
  return insertRollout(tdb.db, {
    tenantId,
    workflowId: `rollout:${route}:${randomUUID()}`,
    routeName: route,
    revisionId: randomUUID(),
    spec: { stableCluster: 's', canaryCluster: 'c', steps: [{ kind: 'setWeight', weight: 20 }] } as unknown as RolloutSpec,
    stepsHash: 'h',
    authors: [],
    startedById: 'test',
    startedByName: 'test',
    lastGoodRevisionId: null,
  });
}

const event = (rolloutId: string, seq: number, action: string, at?: Date): NewRolloutEvent => ({
  tenantId,
  rolloutId,
  seq,
  action,
  stepIndex: seq,
  phase: 'Progressing',
  actor: { type: 'system', id: 'rollout-controller', name: 'Rollout controller' },
  detail: { seq, nested: { weight: 10 * seq } },
  ...(at ? { at } : {}),
});

test('events: each (rollout, seq) once, the first writer wins, in input order, with their time and detail', async () => {
  const [a, b] = [await rollout('a'), await rollout('b')];
  const at = new Date('2026-12-07T10:00:00.123Z');
  const first = await insertRolloutEvents(tdb.db, [event(a.id, 1, 'rollout.started', at), event(b.id, 1, 'rollout.started')]);
  assert.deepEqual(first.map((e) => [e.rolloutId, e.seq]), [[a.id, 1], [b.id, 1]]);
  // A retried batch: one already stored, one repeated within the batch, one new.
  const second = await insertRolloutEvents(tdb.db, [event(a.id, 1, 'rollout.retried'), event(a.id, 2, 'rollout.step.started'), event(a.id, 2, 'rollout.dup')]);
  assert.deepEqual(second.map((e) => [e.seq, e.action]), [[2, 'rollout.step.started']]);
  const stored = await listRolloutEvents(tdb.db, tenantId, a.id);
  assert.deepEqual(stored.map((e) => [e.seq, e.action]), [[1, 'rollout.started'], [2, 'rollout.step.started']]);
  assert.equal(stored[0]!.at.toISOString(), at.toISOString());
  assert.deepEqual(stored[1]!.detail, { seq: 2, nested: { weight: 20 } });
  assert.deepEqual(await insertRolloutEvents(tdb.db, []), []);
});

test('statuses: one statement for several rollouts; a failure stays until replaced; finishedAt when it ends', async () => {
  const [a, b] = [await rollout('c'), await rollout('d')];
  const status = (phase: string, weight: number, failure: RolloutStatus['failure']) =>
    ({ phase, currentStepIndex: 1, pauseReason: phase === 'Paused' ? 'AwaitingApproval' : null, traffic: { weight, headerRoute: null, mirrorPercent: 0 }, failure }) as unknown as RolloutStatus;
  const failure = { reason: 'analysis', message: 'success rate 0.7 < 0.99', metrics: [] } as unknown as RolloutStatus['failure'];
  await updateRolloutStatuses(tdb.db, tenantId, [
    { rolloutId: a.id, status: status('Paused', 30, null) },
    { rolloutId: b.id, status: status('Failed', 0, failure) },
  ]);
  const [ra, rb] = [(await findRollout(tdb.db, tenantId, a.id))!, (await findRollout(tdb.db, tenantId, b.id))!];
  assert.deepEqual([ra.phase, ra.pauseReason, ra.canaryWeight, ra.currentStepIndex, ra.failure, ra.finishedAt], ['Paused', 'AwaitingApproval', 30, 1, null, null]);
  assert.equal((ra.status as RolloutStatus).traffic.weight, 30);
  assert.deepEqual([rb.phase, rb.failure, rb.finishedAt !== null], ['Failed', failure, true]);
  await updateRolloutStatuses(tdb.db, tenantId, [{ rolloutId: b.id, status: status('Failed', 0, null) }]);
  assert.deepEqual((await findRollout(tdb.db, tenantId, b.id))!.failure, failure, 'the failure stays');
  // Another tenant's id is not touched.
  const other = (await tdb.db.tenant.create({ data: { slug: 'o', name: 'O' } })).id;
  await updateRolloutStatuses(tdb.db, other, [{ rolloutId: a.id, status: status('Aborted', 0, null) }]);
  assert.equal((await findRollout(tdb.db, tenantId, a.id))!.phase, 'Paused');
});
