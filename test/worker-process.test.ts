/**
 * The worker process as npm start runs it (`node --import tsx workers/worker/main.ts`), against the real
 * Temporal dev server and PostgreSQL, with the real publish and audit services: health and metrics
 * endpoints, a publish of the demo route graph through it, graceful stop on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../scripts/lib/ports';
import { demoRouteGraph } from '../core/demo-graph';
import { canonicalJson } from '../core/canonical-json';
import { repoRoot } from '../server/env';
import { startPublishRevision } from '../server/temporal/client';
import { PublishAuditAction } from '../contracts/workflows.schema';
import { certExpiryScheduleId } from '../contracts/cert-expiry.schema';
import { createTestDatabase, type TestDatabase } from './support/db';
import { getTestTemporal, uniqueTaskQueue, type TestTemporal } from './support/temporal';

let temporal: TestTemporal;
let tdb: TestDatabase;
let connection: Connection | undefined;
let child: ChildProcess | undefined;
let output = '';

before(async () => {
  [temporal, tdb] = await Promise.all([getTestTemporal(), createTestDatabase()]);
});

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await connection?.close();
  await tdb?.drop();
  await temporal?.stop();
});

async function get(port: number, path: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined; // not listening (yet / any more)
  }
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (child?.exitCode !== null && child?.exitCode !== undefined) throw new Error(`worker exited (${child.exitCode}) while waiting for ${what}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; worker output:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('the worker process serves health and metrics, runs a publish, and stops cleanly on SIGTERM', { timeout: 180_000 }, async () => {
  const [httpPort, temporalMetricsPort] = [await freePort(), await freePort()];
  const taskQueue = uniqueTaskQueue('process');
  child = spawn(process.execPath, ['--import', 'tsx', 'workers/worker/main.ts'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: tdb.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      TEMPORAL_TASK_QUEUE: taskQueue,
      WORKER_HTTP_PORT: String(httpPort),
      WORKER_TEMPORAL_METRICS_PORT: String(temporalMetricsPort),
      CERT_EXPIRY_CHECK_INTERVAL: '7m',
    },
  });
  child.stdout?.on('data', (b: Buffer) => (output += b.toString('utf8')));
  child.stderr?.on('data', (b: Buffer) => (output += b.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));

  // /healthz answers 503 while the worker bundles workflows, 200 once it runs.
  const healthy = await waitFor('/healthz 200', 120_000, async () => {
    const r = await get(httpPort, '/healthz');
    return r?.status === 200 ? r : undefined;
  });
  assert.deepEqual(JSON.parse(healthy.body), { state: 'RUNNING' });
  assert.equal((await get(httpPort, '/nope'))?.status, 404);

  // A real revision (the demo route graph), published through the worker by the real services.
  const db = tdb.db;
  const tenant = await db.tenant.create({ data: { slug: `w-${randomUUID().slice(0, 8)}`, name: 'worker test' } });
  const graph = demoRouteGraph({ listenerPort: 10_000, upstreamPorts: [18081, 18082] });
  const revision = await db.revision.create({
    data: {
      tenantId: tenant.id,
      number: 1,
      state: 'proposed',
      message: 'worker test',
      graph,
      graphHash: createHash('sha256').update(canonicalJson(graph)).digest('hex'),
      createdById: 'system:test',
    },
  });
  connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: temporal.namespace });
  const actor = { type: 'system' as const, id: 'worker-test', name: 'worker test' };
  const handle = await startPublishRevision({ client, connection, taskQueue }, { tenantId: tenant.id, revisionId: revision.id, actor, ackTimeoutMs: 10_000 });
  const result = await handle.result();
  assert.equal(result.changed, true);
  // At start-up the worker created the certificate expiry check's schedule, on its queue, at the configured interval.
  const expirySchedule = client.schedule.getHandle(certExpiryScheduleId(taskQueue));
  const described = await expirySchedule.describe();
  assert.deepEqual(described.spec.intervals?.map((i) => i.every), [7 * 60_000]);
  assert.equal(described.action.type === 'startWorkflow' ? [described.action.workflowType, described.action.taskQueue].join(' ') : '', `certExpiryCheckWorkflow ${taskQueue}`);
  await expirySchedule.delete();
  assert.ok(result.versions.length >= 1, 'the demo graph publishes at least one node group');
  // No proxy is connected in this test: every group is done at once, with nobody to wait for.
  assert.deepEqual(
    result.acked.map((a) => [a.nodeGroup, a.proxiesAcked, a.pending]),
    result.versions.map((v) => [v.nodeGroup, 0, 0]),
  );
  assert.equal((await db.tenant.findUniqueOrThrow({ where: { id: tenant.id } })).liveRevisionId, revision.id);
  const audit = await db.auditEntry.findMany({ where: { tenantId: tenant.id, action: PublishAuditAction.acked, actorId: actor.id } });
  assert.equal(audit.length, result.versions.length);

  const metrics = await get(httpPort, '/metrics');
  assert.equal(metrics?.status, 200);
  assert.match(metrics?.body ?? '', /^process_cpu_user_seconds_total \d/m);
  assert.match(metrics?.body ?? '', /^proxyshard_worker_activity_executions_total\{activity_type="publishRevision",outcome="completed"\} 1$/m);
  assert.match(
    metrics?.body ?? '',
    new RegExp(`^proxyshard_worker_activity_executions_total\\{activity_type="awaitProxyAck",outcome="completed"\\} ${result.versions.length}$`, 'm'),
  );
  const sdkMetrics = await get(temporalMetricsPort, '/metrics');
  assert.equal(sdkMetrics?.status, 200);
  assert.match(sdkMetrics?.body ?? '', /temporal_/);

  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r('no exit after 30 s'), 30_000)))]);
  clearTimeout(timer);
  assert.equal(code, 0, `worker exit: ${String(code)}\n${output}`);
  assert.match(output, /worker stopped/);
  assert.equal(await get(httpPort, '/healthz'), undefined, 'the HTTP server is closed');
});
