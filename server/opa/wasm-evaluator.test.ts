import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { createOpaCli } from './opa-cli.adapter';
import { CUSTOM_BUILTINS, OPA_WASM_JS_BUILTINS, createWasmEvaluator, hostBuiltinNames, sha256Hex } from './wasm-evaluator';

test('the JavaScript built-ins listed for opa-wasm are exactly those of the installed package', () => {
  // The package's `exports` hide src/builtins; it sits next to the main module.
  const require = createRequire(import.meta.url);
  const main = require.resolve('@open-policy-agent/opa-wasm');
  const table = require(path.join(path.dirname(main), 'builtins', 'index.js')) as Record<string, unknown>;
  assert.deepEqual([...OPA_WASM_JS_BUILTINS].sort(), Object.keys(table).sort());
  assert.ok(hostBuiltinNames().has('io.jwt.decode'), 'our own built-ins are host built-ins too');
});

test("evaluateLoaded's fast path gives opa-wasm's own results: objects, sets, undefined, unicode, large inputs, no input", async () => {
  const source = `package t

allow if input.user == "älice ✓"

echo := input

names contains n if some n in input.names

size := count(input.names)
`;
  const b = await createOpaCli().build([{ file: 't.rego', source }], ['t/allow', 't/echo', 't/names', 't/size']);
  assert.ok(b.ok, JSON.stringify(b));
  const ev = createWasmEvaluator();
  const fast = await ev.load({ wasm: b.wasm, wasmSha256: sha256Hex(b.wasm), data: { d: 1 } });
  const reference = await loadPolicy(b.wasm as Uint8Array<ArrayBuffer>, undefined, CUSTOM_BUILTINS);
  reference.setData({ d: 1 });
  const big = Array.from({ length: 40_000 }, (_, i) => `name-${i}-ü`);
  const inputs: unknown[] = [{ user: 'älice ✓' }, { user: 'bob' }, { names: ['b', 'a', 'b'] }, { names: big }, undefined, 0, { user: 'älice ✓', x: '\u{1F600}'.repeat(1000) }];
  for (const input of inputs) {
    for (const entrypoint of ['t/allow', 't/echo', 't/names', 't/size']) {
      const rs = reference.evaluate(input, entrypoint) as { result?: unknown }[];
      const expected = rs.length === 0 ? undefined : rs[0]!.result;
      assert.deepEqual(ev.evaluateLoaded(fast, entrypoint, input), expected, `${entrypoint} ${JSON.stringify(input)?.slice(0, 80)}`);
    }
  }
  assert.throws(() => ev.evaluateLoaded(fast, 't/nope', {}), /entrypoint t\/nope is not valid/);
});
