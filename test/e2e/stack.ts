/**
 * The whole stack for browser tests: scripts/start.ts on free ports (PostgreSQL, Temporal, xds, ext_authz,
 * worker, web in `next dev`, demo upstreams, demo Envoy) with a fresh data folder, stopped by `stop()`.
 * (test/e2e/console.test.ts starts it the same way inline.)
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/lib/ports';
import { repoRoot } from '../../server/env';

export interface Stack {
  web: string;
  envoy: string;
  env: Record<string, string>;
  /** The admin password printed by the first start. */
  password: string;
  output(): string;
  /** Stops everything, writes the log to test-results/e2e/<logName>, removes the data folder. */
  stop(): Promise<void>;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function freePorts(): Promise<Record<string, string>> {
  const names = ['PG_PORT', 'WEB_PORT', 'XDS_PORT', 'XDS_HTTP_PORT', 'WORKER_HTTP_PORT', 'EXTAUTHZ_PORT', 'EXTAUTHZ_HTTP_PORT', 'ENVOY_LISTENER_PORT', 'ENVOY_ADMIN_PORT', 'TEMPORAL_PORT', 'TEMPORAL_UI_PORT'];
  const out: Record<string, string> = {};
  for (const n of names) out[n] = String(await freePort());
  // The Temporal dev server also takes TEMPORAL_PORT+10 (its HTTP API): pick a port whose +10 is free too.
  for (let tries = 0; !(await isFree(Number(out.TEMPORAL_PORT) + 10)) && tries < 50; tries++) out.TEMPORAL_PORT = String(await freePort());
  out.DEMO_UPSTREAM_PORTS = `${await freePort()},${await freePort()}`;
  return out;
}

export async function startStack(logName: string): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ps-e2e-'));
  const env = await freePorts();
  let output = '';
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/start.ts')], {
    cwd: repoRoot,
    env: { ...process.env, ...env, PROXYSHARD_DATA_DIR: dataDir, NEXT_DIST_DIR: '.next/test', DATABASE_URL: '', TEMPORAL_ADDRESS: '', NODE_ENV: 'development', NEXT_TELEMETRY_DISABLED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const stop = async () => {
    mkdirSync(join(repoRoot, 'test-results/e2e'), { recursive: true });
    writeFileSync(join(repoRoot, 'test-results/e2e', logName), output);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
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
      child.once('exit', (code) => {
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
  return {
    web: `http://127.0.0.1:${env.WEB_PORT}`,
    envoy: `http://127.0.0.1:${env.ENVOY_LISTENER_PORT}`,
    env,
    password,
    output: () => output,
    stop,
  };
}
