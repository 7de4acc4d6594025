/**
 * The newcomer's path, end to end: `npm start` on a fresh data directory brings up PostgreSQL, Temporal,
 * xds, worker, web, demo upstreams and a real Envoy; the demo route answers through Envoy; the seeded
 * admin signs in and sees the demo route; the Temporal namespace exists. Ctrl-C stops everything; a second
 * start keeps all data (same password, same revision, no new admin).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { repoRoot } from '../server/env';
import { stackPorts } from './support/stack-ports';

const dataDir = mkdtempSync(join(tmpdir(), 'ps-start-'));
// The tests' Next.js build folder, so a developer's `next dev` in this checkout does not block the test's.
const nextDistDir = '.next/test';
let running: ChildProcess | undefined;

after(async () => {
  if (running && running.exitCode === null) {
    running.kill('SIGINT');
    await new Promise((r) => running?.once('exit', r));
  }
  rmSync(dataDir, { recursive: true, force: true });
});

function start(env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/start.ts')], {
    cwd: repoRoot,
    env: { ...process.env, ...env, PROXYSHARD_DATA_DIR: dataDir, NEXT_DIST_DIR: nextDistDir, DATABASE_URL: '', TEMPORAL_ADDRESS: '', NODE_ENV: 'development' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running = child;
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack not up after 300 s:\n${out.slice(-4000)}`)), 300_000);
    const check = setInterval(() => {
      if (out.includes('ProxyShard is up.')) {
        clearTimeout(timer);
        clearInterval(check);
        resolve({ child, output: () => out });
      }
    }, 200);
    child.once('exit', (code) => {
      clearTimeout(timer);
      clearInterval(check);
      reject(new Error(`start exited with ${code} before the stack was up:\n${out.slice(-4000)}`));
    });
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  child.kill('SIGINT');
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

async function signIn(web: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${web}/api/v1/auth/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(res.status, 200, `sign-in: ${res.status} ${await res.clone().text()}`);
  const cookie = res.headers.get('set-cookie');
  assert.ok(cookie, 'sign-in sets a session cookie');
  return cookie.split(';')[0]!;
}

async function routeNames(web: string, cookie: string): Promise<string[]> {
  const res = await fetch(`${web}/api/v1/routes`, { headers: { cookie } });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { routes: { name: string }[] };
  return body.routes.map((r) => r.name);
}

test('npm start brings up the stack; a restart keeps the data', { timeout: 900_000 }, async () => {
  const env = await stackPorts();
  const web = `http://127.0.0.1:${env.WEB_PORT}`;

  const first = await start(env);
  const password = /admin password \(shown once, store it now\): (\S+)/.exec(first.output())?.[1];
  assert.ok(password, 'the first start prints the admin password');

  const body = await (await fetch(`http://127.0.0.1:${env.ENVOY_LISTENER_PORT}/`)).text();
  assert.match(body, /hello from demo upstream/);

  const signInPage = await fetch(`${web}/sign-in`);
  assert.equal(signInPage.status, 200);
  assert.match(await signInPage.text(), /sign in/i);

  // Every process answers health and Prometheus metrics.
  for (const base of [web, `http://127.0.0.1:${env.XDS_HTTP_PORT}`, `http://127.0.0.1:${env.WORKER_HTTP_PORT}`, `http://127.0.0.1:${env.EXTAUTHZ_HTTP_PORT}`]) {
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200, `${base}/healthz: ${await health.clone().text()}`);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^# HELP process_cpu_user_seconds_total/m, `${base}/metrics is Prometheus text`);
  }
  const envoyStats = await (await fetch(`http://127.0.0.1:${env.ENVOY_ADMIN_PORT}/stats/prometheus`)).text();
  assert.match(envoyStats, /envoy_cluster_upstream_rq_total\{envoy_cluster_name="demo-upstreams"\}/);

  const cookie = await signIn(web, 'admin', password);
  assert.deepEqual(await routeNames(web, cookie), ['demo-root']);

  const connection = await Connection.connect({ address: `127.0.0.1:${env.TEMPORAL_PORT}` });
  const ns = await connection.workflowService.listNamespaces({});
  assert.ok(ns.namespaces.some((n) => n.namespaceInfo?.name === 'proxyshard'), 'Temporal lists the proxyshard namespace');
  const uiNamespaces = await (await fetch(`http://127.0.0.1:${env.TEMPORAL_UI_PORT}/api/v1/namespaces`)).text();
  assert.match(uiNamespaces, /"name":\s*"proxyshard"/, 'the Temporal UI lists the namespace');
  // A workflow on a queue nobody polls stays open: after the restart it must still be there (SQLite file).
  const client = new Client({ connection, namespace: 'proxyshard' });
  await client.workflow.start('persistenceProbe', { taskQueue: 'ps-start-test-probe', workflowId: 'start-test-probe', args: [] });
  await connection.close();

  assert.equal(await stop(first.child), 0, 'Ctrl-C stops cleanly');

  const second = await start(env);
  assert.doesNotMatch(second.output(), /admin password/, 'no new admin on restart');
  const cookie2 = await signIn(web, 'admin', password);
  assert.deepEqual(await routeNames(web, cookie2), ['demo-root']);
  const connection2 = await Connection.connect({ address: `127.0.0.1:${env.TEMPORAL_PORT}` });
  const probe = await new Client({ connection: connection2, namespace: 'proxyshard' }).workflow.getHandle('start-test-probe').describe();
  assert.equal(probe.status.name, 'RUNNING', 'Temporal kept the workflow across the restart');
  await connection2.close();
  const again = await (await fetch(`http://127.0.0.1:${env.ENVOY_LISTENER_PORT}/`)).text();
  assert.match(again, /hello from demo upstream/);
  assert.equal(await stop(second.child), 0);
});

test('a port already in use stops start-up with a message naming it', { timeout: 120_000 }, async () => {
  const env = await stackPorts();
  const blocker = createServer().listen(Number(env.WEB_PORT), '127.0.0.1');
  await once(blocker, 'listening');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/start.ts')], {
      cwd: repoRoot,
      env: { ...process.env, ...env, PROXYSHARD_DATA_DIR: dataDir, NEXT_DIST_DIR: nextDistDir, DATABASE_URL: '', TEMPORAL_ADDRESS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(out, new RegExp(`port ${env.WEB_PORT} \\(WEB_PORT, web console\\) is already in use`));
  } finally {
    blocker.close();
  }
});
