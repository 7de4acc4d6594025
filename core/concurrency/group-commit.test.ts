import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createGroupCommit, type ItemOutcome } from './group-commit';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('items arriving during a flush are merged into the next flush, per key; each learns its own result', async () => {
  const batches: string[][] = [];
  const gate = deferred();
  const gc = createGroupCommit<string, string>({
    flush: async (key, items) => {
      batches.push([key, ...items]);
      const n = items.join('');
      if (batches.length === 1) await gate.promise;
      return items.map((i): ItemOutcome<string> => (i === 'bad' ? { ok: false, error: new Error(`bad in ${n}`) } : { ok: true, value: `${i} in ${n}` }));
    },
  });
  const first = gc.submit('t1', 'a');
  await new Promise((r) => setImmediate(r));
  const later = [gc.submit('t1', 'b'), gc.submit('t1', 'bad'), gc.submit('t1', 'c')];
  const other = gc.submit('t2', 'x');
  assert.equal(gc.pending('t1'), 4);
  assert.equal(await other, 'x in x', 'another key is not held back by t1');
  gate.resolve();
  assert.equal(await first, 'a in a');
  const settled = await Promise.allSettled(later);
  assert.deepEqual(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)), ['b in bbadc', 'bad in bbadc', 'c in bbadc']);
  assert.deepEqual(batches.filter((b) => b[0] === 't1'), [['t1', 'a'], ['t1', 'b', 'bad', 'c']]);
  assert.equal(gc.pending('t1'), 0);
});

test('a throwing flush fails its whole batch and the next batch still runs; maxBatch splits', async () => {
  let calls = 0;
  const sizes: number[] = [];
  const gc = createGroupCommit<number, number>({
    maxBatch: 2,
    flush: async (_key, items) => {
      calls += 1;
      sizes.push(items.length);
      if (calls === 1) throw new Error('database down');
      return items.map((i) => ({ ok: true as const, value: i * 10 }));
    },
  });
  const all = await Promise.allSettled([1, 2, 3].map((i) => gc.submit('k', i)));
  assert.deepEqual(all.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)), ['database down', 'database down', 30]);
  assert.deepEqual(sizes, [2, 1]);
});
