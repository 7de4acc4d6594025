/**
 * `npm test` also type-checks and lints the whole repository: `tsc --noEmit -p .` and `eslint .` must exit 0.
 * Their output is printed on failure.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../server/env';

const require = createRequire(import.meta.url);

/** The CLI script a package declares in its package.json `bin` (works whatever its `exports` allow). */
function binOf(pkg: string, name: string): string {
  const manifest = require.resolve(`${pkg}/package.json`);
  const { bin } = require(manifest) as { bin: string | Record<string, string> };
  const rel = typeof bin === 'string' ? bin : bin[name];
  assert.ok(rel, `${pkg} has no bin ${name}`);
  return join(dirname(manifest), rel);
}

function run(script: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (output += b.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

test('tsc --noEmit -p . reports no type errors', { timeout: 300_000 }, async () => {
  const { code, output } = await run(binOf('typescript', 'tsc'), ['--noEmit', '-p', '.']);
  assert.equal(code, 0, `tsc exited with ${code}:\n${output}`);
});

test('eslint . reports no problems', { timeout: 300_000 }, async () => {
  const { code, output } = await run(binOf('eslint', 'eslint'), ['.']);
  assert.equal(code, 0, `eslint exited with ${code}:\n${output}`);
});
