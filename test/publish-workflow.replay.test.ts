/**
 * Replays every recorded history in test/histories/ against the current workflow code, so a change that
 * would break running workflows (non-determinism) fails here. Record new histories with
 * PS_RECORD_HISTORIES=1 npm test -- test/publish-workflow.test.ts (see test/support/histories.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR } from './support/histories';
import { installQuietTemporalRuntime, workflowBundle } from './support/temporal';

const CHANGED_WORKFLOW = fileURLToPath(new URL('./fixtures/publish-revision-changed.workflow.ts', import.meta.url));

function loadHistories(): { workflowId: string; history: unknown }[] {
  return readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ workflowId: f, history: JSON.parse(readFileSync(join(HISTORIES_DIR, f), 'utf8')) as unknown }));
}

before(() => installQuietTemporalRuntime());

test('the recorded publish histories are present', () => {
  const names = loadHistories().map((h) => h.workflowId);
  assert.ok(names.includes('publish-revision.ack.json'), `test/histories has ${names.join(', ') || 'nothing'}`);
});

test('every recorded history replays against the current workflow code', async () => {
  const histories = loadHistories();
  const replayed: string[] = [];
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
    replayed.push(result.workflowId);
    if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
  }
  assert.deepEqual(failures, []);
  assert.deepEqual(replayed.sort(), histories.map((h) => h.workflowId).sort());
});

test('a non-deterministic change of the workflow fails the replay', async () => {
  const ack = loadHistories().find((h) => h.workflowId === 'publish-revision.ack.json');
  assert.ok(ack);
  const bundle = await workflowBundle(CHANGED_WORKFLOW);
  await assert.rejects(Worker.runReplayHistory({ workflowBundle: bundle }, ack.history, ack.workflowId), (err: Error) => {
    assert.equal(err.name, 'DeterminismViolationError', `${err.name}: ${err.message}`);
    return true;
  });
});
