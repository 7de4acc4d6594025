/**
 * The whole stack for browser tests (test/e2e/*.test.ts): scripts/start.ts on
 * free ports (PostgreSQL, Temporal, xds, ext_authz, worker, web in `next dev`, demo upstreams, Envoy), a
 * fresh data directory, every ext_authz decision in the decision log. Plus the small HTTP helpers the tests
 * share. Everything listens on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../server/env';
import { stackPorts } from '../support/stack-ports';
import { openBrowser, type BrowserSession } from './browser';

export interface E2eStack {
  /** The ports and settings the stack was started with. */
  env: Record<string, string>;
  web: string;
  envoy: string;
  /** The admin password printed on the first start. */
  password: string;
  /** Stops the stack (SIGINT, as Ctrl-C), writes its output to test-results/e2e/<log>, removes the data directory. */
  stop(): Promise<void>;
}

/** Starts the stack and waits for "ProxyShard is up." (at most 300 s). `nextDistDir` keeps `next dev` builds apart. */
export async function startE2eStack(opts: { log: string; nextDistDir: string }): Promise<E2eStack> {
  const env = await stackPorts();
  const dataDir = mkdtempSync(join(tmpdir(), 'ps-e2e-'));
  let output = '';
  const stack: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/start.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ...env,
      PROXYSHARD_DATA_DIR: dataDir,
      NEXT_DIST_DIR: opts.nextDistDir,
      DATABASE_URL: '',
      TEMPORAL_ADDRESS: '',
      NODE_ENV: 'development',
      NEXT_TELEMETRY_DISABLED: '1',
      EXTAUTHZ_DECISION_LOG_SAMPLE_RATE: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  stack.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  stack.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const stop = async () => {
    mkdirSync(join(repoRoot, 'test-results/e2e'), { recursive: true });
    writeFileSync(join(repoRoot, 'test-results/e2e', opts.log), output);
    if (stack.exitCode === null && stack.signalCode === null) {
      const exited = new Promise((r) => stack.once('exit', r));
      stack.kill('SIGINT');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stack not up after 300 s:\n${output.slice(-4000)}`)), 300_000);
      const check = setInterval(() => {
        if (output.includes('ProxyShard is up.')) {
          clearTimeout(timer);
          clearInterval(check);
          resolve();
        }
      }, 200);
      stack.once('exit', (code) => {
        clearTimeout(timer);
        clearInterval(check);
        reject(new Error(`start exited with ${code}:\n${output.slice(-4000)}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const password = /admin password \(shown once, store it now\): (\S+)/.exec(output)?.[1] ?? '';
  assert.ok(password, 'the first start prints the admin password');
  return { env, web: `http://127.0.0.1:${env.WEB_PORT}`, envoy: `http://127.0.0.1:${env.ENVOY_LISTENER_PORT}`, password, stop };
}

/**
 * What a browser test file runs against: the stack (output in test-results/e2e/<log>; every file shares the
 * `next dev` build folder .next/test, one at a time) and one browser session with the timeouts `next dev`
 * needs (it compiles each page on its first visit). Stop both with stopE2e.
 */
export async function startE2e(log: string): Promise<{ stack: E2eStack; session: BrowserSession }> {
  const stack = await startE2eStack({ log, nextDistDir: '.next/test' });
  let session: BrowserSession;
  try {
    session = await openBrowser();
  } catch (err) {
    await stack.stop();
    throw err;
  }
  session.page.setDefaultTimeout(60_000);
  session.page.setDefaultNavigationTimeout(240_000);
  return { stack, session };
}

export async function stopE2e(e: { stack?: E2eStack; session?: BrowserSession }): Promise<void> {
  await e.session?.close();
  await e.stack?.stop();
}

/** GET with node:http (fetch cannot set Host, which picks the virtual host). */
export function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET', headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Polls until `fn` returns a truthy value (or fails with the last value). */
export async function eventually<T>(fn: () => Promise<T>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
