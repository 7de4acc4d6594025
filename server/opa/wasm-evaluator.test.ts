import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { OPA_WASM_JS_BUILTINS, hostBuiltinNames } from './wasm-evaluator';

test('the JavaScript built-ins listed for opa-wasm are exactly those of the installed package', () => {
  // The package's `exports` hide src/builtins; it sits next to the main module.
  const require = createRequire(import.meta.url);
  const main = require.resolve('@open-policy-agent/opa-wasm');
  const table = require(path.join(path.dirname(main), 'builtins', 'index.js')) as Record<string, unknown>;
  assert.deepEqual([...OPA_WASM_JS_BUILTINS].sort(), Object.keys(table).sort());
  assert.ok(hostBuiltinNames().has('io.jwt.decode'), 'our own built-ins are host built-ins too');
});
