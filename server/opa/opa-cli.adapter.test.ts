import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLimiter } from './opa-cli.adapter';

test('the process limiter runs at most N tasks at once, in arrival order, also when tasks fail', async () => {
  const limit = createLimiter(2);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const gates: (() => void)[] = [];
  const task = (i: number) =>
    limit(async () => {
      started.push(i);
      running += 1;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      running -= 1;
      if (i === 1) throw new Error('task 1 failed');
      return i;
    });
  const all = [0, 1, 2, 3, 4].map((i) => task(i).catch((e: Error) => e.message));
  // Release one gate at a time until every task has run.
  for (let released = 0; released < 5; released++) {
    for (let spin = 0; spin < 50 && gates.length === 0; spin++) await new Promise((r) => setImmediate(r));
    gates.shift()!();
  }
  assert.deepEqual(await Promise.all(all), [0, 'task 1 failed', 2, 3, 4]);
  assert.equal(peak, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
});
