/**
 * publishRevisionWorkflow end to end against the real Temporal dev server and real PostgreSQL: a worker with
 * the real activities (publish is a small implementation against the tables; audit is the real service),
 * proxies simulated by writing ProxyResourceState rows the way an xds replica does.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import {
  PUBLISH_STATUS_QUERY,
  PublishAuditAction,
  PublishFailureType,
  XDS_TYPE_URLS,
  publishRevisionWorkflowId,
  type Actor,
  type PublishRevisionActivityResult,
  type PublishStatus,
} from '../contracts/workflows.schema';
import { appendAudit } from '../server/audit/audit.service';
import type { Db } from '../server/db/client';
import { getPublishStatus, startPublishRevision, type ProxyShardTemporal } from '../server/temporal/client';
import { AppError } from '../server/errors';
import { createPublishActivities, type PublishRevisionFn } from '../workers/publish.activities';
import { publishStatusQuery } from '../workflows/publish-revision.workflow';
import { createTestDatabase, type TestDatabase } from './support/db';
import { maybeRecordHistory } from './support/histories';
import { getTestTemporal, installQuietTemporalRuntime, uniqueTaskQueue, workflowBundle, type TestTemporal } from './support/temporal';

const ACTOR: Actor = { type: 'user', id: 'u-1', name: 'alice' };
const LDS = XDS_TYPE_URLS.listener;
const CDS = XDS_TYPE_URLS.cluster;
const RESOURCES = { listeners: [{ name: 'l1' }], clusters: [{ name: 'c1' }], routes: [], endpoints: [] };

let temporal: TestTemporal;
let tdb: TestDatabase;
let db: Db;
let nativeConnection: NativeConnection;
let connection: Connection;
let client: Client;

before(async () => {
  installQuietTemporalRuntime();
  [temporal, tdb] = await Promise.all([getTestTemporal(), createTestDatabase()]);
  db = tdb.db;
  nativeConnection = await NativeConnection.connect({ address: temporal.address });
  connection = await Connection.connect({ address: temporal.address });
  client = new Client({ connection, namespace: temporal.namespace });
  await workflowBundle();
});

after(async () => {
  await connection?.close();
  await nativeConnection?.close();
  await tdb?.drop();
  await temporal?.stop();
});

// ---- fixtures ------------------------------------------------------------------------------------------

async function seedTenant(): Promise<string> {
  const t = await db.tenant.create({ data: { slug: `t-${randomUUID().slice(0, 8)}`, name: 'test' } });
  return t.id;
}

/** A proposed revision with already compiled snapshots (what compile + store would have produced). */
async function seedRevision(tenantId: string, groups: { nodeGroup: string; version: string }[]): Promise<string> {
  const last = await db.revision.findFirst({ where: { tenantId }, orderBy: { number: 'desc' } });
  const rev = await db.revision.create({
    data: {
      tenantId,
      number: (last?.number ?? 0) + 1,
      state: 'proposed',
      graph: {},
      graphHash: randomUUID(),
      createdById: `user:${ACTOR.id}`,
    },
  });
  for (const g of groups) {
    await db.snapshot.create({ data: { tenantId, nodeGroup: g.nodeGroup, version: g.version, revisionId: rev.id, resources: RESOURCES } });
  }
  return rev.id;
}

async function seedProxy(tenantId: string, nodeGroup: string, nodeId: string, connected = true): Promise<string> {
  const p = await db.proxy.create({
    data: { tenantId, nodeId, nodeGroup, metadata: {}, connected, connectedAt: connected ? new Date() : null },
  });
  return p.id;
}

/** What xds records when a proxy ACKs `version` of `typeUrl`. */
async function ack(proxyId: string, typeUrl: string, version: string): Promise<void> {
  const nonce = randomUUID();
  await db.proxyResourceState.upsert({
    where: { proxyId_typeUrl: { proxyId, typeUrl } },
    create: { proxyId, typeUrl, sentVersion: version, sentNonce: nonce, sentAt: new Date(), ackedVersion: version, ackedAt: new Date() },
    update: { sentVersion: version, sentNonce: nonce, sentAt: new Date(), ackedVersion: version, ackedAt: new Date() },
  });
}

/** What xds records when a proxy NACKs: Envoy reports its previous version_info and the rejected nonce. */
async function nack(proxyId: string, typeUrl: string, version: string, previous: string, error: string): Promise<void> {
  const nonce = `nonce-${randomUUID().slice(0, 8)}`;
  const row = {
    sentVersion: version,
    sentNonce: nonce,
    sentAt: new Date(),
    ackedVersion: previous,
    nackVersion: previous,
    nackNonce: nonce,
    nackError: error,
    nackedAt: new Date(),
  };
  await db.proxyResourceState.upsert({
    where: { proxyId_typeUrl: { proxyId, typeUrl } },
    create: { proxyId, typeUrl, ...row },
    update: row,
  });
}

/** Minimal publish service against the tables: marks the revision live and returns its stored snapshots. */
function tablePublish(calls: { n: number }, failFirst?: unknown): PublishRevisionFn {
  return async (d, { tenantId, revisionId }): Promise<PublishRevisionActivityResult> => {
    calls.n += 1;
    if (failFirst !== undefined && calls.n === 1) throw failFirst;
    const revision = await d.revision.findFirst({ where: { id: revisionId, tenantId } });
    if (!revision) throw new AppError('not_found', `revision ${revisionId} not found`);
    const tenant = await d.tenant.findUniqueOrThrow({ where: { id: tenantId } });
    const changed = tenant.liveRevisionId !== revisionId;
    if (changed) {
      await d.$transaction([
        d.revision.update({ where: { id: revisionId }, data: { state: 'live' } }),
        d.tenant.update({ where: { id: tenantId }, data: { liveRevisionId: revisionId } }),
      ]);
    }
    const snapshots = await d.snapshot.findMany({ where: { tenantId, revisionId }, orderBy: { nodeGroup: 'asc' } });
    return { snapshots: snapshots.map((s) => ({ nodeGroup: s.nodeGroup, version: s.version })), changed };
  };
}

async function withWorker<T>(
  opts: { name: string; publish: PublishRevisionFn },
  fn: (temporal: ProxyShardTemporal) => Promise<T>,
): Promise<T> {
  const taskQueue = uniqueTaskQueue(opts.name);
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: temporal.namespace,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createPublishActivities({ db, publishRevision: opts.publish, appendAudit, pollIntervalMs: 100 }),
  });
  return worker.runUntil(fn({ client, connection, taskQueue }));
}

async function waitForPhase(t: ProxyShardTemporal, workflowId: string, phase: PublishStatus['phase']): Promise<PublishStatus> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await t.client.workflow.getHandle(workflowId).query(publishStatusQuery);
    if (status.phase === phase) return status;
    if (Date.now() > deadline) throw new Error(`workflow ${workflowId} stayed in phase ${status.phase}, expected ${phase}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pick(json: unknown, keys: string[]): Record<string, unknown> {
  const o = (json ?? {}) as Record<string, unknown>;
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => assert.fail('workflow completed, expected it to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${String(err)}`);
  assert.ok(err.cause instanceof ApplicationFailure, `expected ApplicationFailure cause, got ${String(err.cause)}`);
  return err.cause;
}

// ---- tests ---------------------------------------------------------------------------------------------

describe('publishRevisionWorkflow', () => {
  test('waits until every connected proxy ACKed every type, then completes with the counts', async () => {
    const tenantId = await seedTenant();
    const version = `v-${randomUUID().slice(0, 8)}`;
    const revisionId = await seedRevision(tenantId, [{ nodeGroup: 'edge', version }]);
    const p1 = await seedProxy(tenantId, 'edge', 'envoy-1');
    const p2 = await seedProxy(tenantId, 'edge', 'envoy-2');
    await seedProxy(tenantId, 'edge', 'envoy-gone', false); // disconnected: not waited for
    await seedProxy(tenantId, 'other', 'envoy-other'); // another node group: not waited for
    const calls = { n: 0 };

    await withWorker({ name: 'ack', publish: tablePublish(calls) }, async (t) => {
      const handle = await startPublishRevision(t, { tenantId, revisionId, actor: ACTOR, ackTimeoutMs: 30_000 });
      assert.equal(handle.workflowId, `publish:${tenantId}:${revisionId}`);

      // Starting the same publish again attaches to the running workflow.
      const again = await startPublishRevision(t, { tenantId, revisionId, actor: ACTOR, ackTimeoutMs: 30_000 });
      assert.equal((await again.describe()).runId, (await handle.describe()).runId);

      const waiting = await waitForPhase(t, handle.workflowId, 'awaitingAck');
      assert.deepEqual(waiting.versions, [{ nodeGroup: 'edge', version }]);

      // One proxy ACKs everything, the other only the listeners: still waiting.
      await ack(p1, LDS, version);
      await ack(p1, CDS, version);
      await ack(p2, LDS, version);
      await new Promise((r) => setTimeout(r, 700));
      assert.equal((await handle.describe()).status.name, 'RUNNING');

      await ack(p2, CDS, version);
      const result = await handle.result();
      assert.deepEqual(result, {
        tenantId,
        revisionId,
        changed: true,
        versions: [{ nodeGroup: 'edge', version }],
        acked: [{ nodeGroup: 'edge', version, proxiesAcked: 2, pending: 0, nacked: [] }],
      });
      // The status query by its contract name, as the web server asks for it.
      assert.equal(publishStatusQuery.name, PUBLISH_STATUS_QUERY);
      const status = await getPublishStatus(t, { tenantId, revisionId });
      assert.equal(status.phase, 'completed');
      assert.deepEqual(status.acked, result.acked);
      await maybeRecordHistory(handle, 'publish-revision.ack');
    });

    assert.equal(calls.n, 1, 'publish ran once although the workflow was started twice');
    const tenant = await db.tenant.findUniqueOrThrow({ where: { id: tenantId } });
    assert.equal(tenant.liveRevisionId, revisionId);
    const audit = await db.auditEntry.findMany({ where: { tenantId, action: PublishAuditAction.acked } });
    assert.equal(audit.length, 1);
    assert.equal(audit[0]?.actorId, ACTOR.id);
    assert.equal(audit[0]?.targetId, revisionId);
    assert.deepEqual(
      pick(audit[0]?.details, ['nodeGroup', 'version', 'proxiesAcked', 'workflowId']),
      { nodeGroup: 'edge', version, proxiesAcked: 2, workflowId: publishRevisionWorkflowId({ tenantId, revisionId }) },
    );
  });

  test('a NACK fails the workflow with a non-retryable failure naming the proxy and carrying Envoy’s error', async () => {
    const tenantId = await seedTenant();
    const previous = `v-old-${randomUUID().slice(0, 8)}`;
    const version = `v-${randomUUID().slice(0, 8)}`;
    const revisionId = await seedRevision(tenantId, [{ nodeGroup: 'edge', version }]);
    const good = await seedProxy(tenantId, 'edge', 'envoy-good');
    const bad = await seedProxy(tenantId, 'edge', 'envoy-bad');
    const envoyError = "Error adding/updating listener(s) l1: cannot bind '0.0.0.0:80': Permission denied";

    await withWorker({ name: 'nack', publish: tablePublish({ n: 0 }) }, async (t) => {
      const handle = await startPublishRevision(t, { tenantId, revisionId, actor: ACTOR, ackTimeoutMs: 30_000 });
      await waitForPhase(t, handle.workflowId, 'awaitingAck');
      await ack(good, LDS, version);
      await ack(good, CDS, version);
      await ack(bad, CDS, version);
      await nack(bad, LDS, version, previous, envoyError);

      const failure = await failureOf(handle.result());
      assert.equal(failure.type, PublishFailureType.nack);
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /envoy-bad/);
      assert.ok(failure.message.includes(envoyError), failure.message);
      const detail = failure.details?.[0] as { proxyId: string; nodeId: string; typeUrl: string; error: string; version: string };
      assert.equal(detail.proxyId, bad);
      assert.equal(detail.nodeId, 'envoy-bad');
      assert.equal(detail.typeUrl, LDS);
      assert.equal(detail.error, envoyError);
      assert.equal(detail.version, version);

      const status = await handle.query(publishStatusQuery);
      assert.equal(status.phase, 'nacked');
      assert.ok(status.error?.includes(envoyError));
      await maybeRecordHistory(handle, 'publish-revision.nack');
    });
    const audit = await db.auditEntry.findMany({ where: { tenantId, action: PublishAuditAction.nacked } });
    assert.equal(audit.length, 1);
    assert.equal(audit[0]?.actorId, ACTOR.id);
    const details = audit[0]?.details as { nacked: { nodeId: string; error: string }[] };
    assert.deepEqual(details.nacked.map((n) => [n.nodeId, n.error]), [['envoy-bad', envoyError]]);
  });

  test('proxies that do not ACK in time fail the workflow with ProxyAckTimeout listing them', async () => {
    const tenantId = await seedTenant();
    const version = `v-${randomUUID().slice(0, 8)}`;
    const revisionId = await seedRevision(tenantId, [{ nodeGroup: 'edge', version }]);
    const fast = await seedProxy(tenantId, 'edge', 'envoy-fast');
    await seedProxy(tenantId, 'edge', 'envoy-slow');
    await ack(fast, LDS, version);
    await ack(fast, CDS, version);

    await withWorker({ name: 'timeout', publish: tablePublish({ n: 0 }) }, async (t) => {
      const started = Date.now();
      const handle = await startPublishRevision(t, { tenantId, revisionId, actor: ACTOR, ackTimeoutMs: 1_500 });
      const failure = await failureOf(handle.result());
      const elapsed = Date.now() - started;
      assert.equal(failure.type, PublishFailureType.ackTimeout);
      assert.match(failure.message, /envoy-slow/);
      assert.doesNotMatch(failure.message, /envoy-fast/);
      const summary = failure.details?.[0] as { acked: { nodeId: string }[]; pending: { nodeId: string; pendingTypeUrls: string[] }[] };
      assert.deepEqual(summary.acked.map((p) => p.nodeId), ['envoy-fast']);
      assert.deepEqual(summary.pending.map((p) => [p.nodeId, p.pendingTypeUrls]), [['envoy-slow', [LDS, CDS]]]);
      assert.ok(elapsed >= 1_500, `failed after ${elapsed} ms, before the 1500 ms timeout`);
      assert.equal((await handle.query(publishStatusQuery)).phase, 'timedOut');
      await maybeRecordHistory(handle, 'publish-revision.timeout');
    });
    const audit = await db.auditEntry.findMany({ where: { tenantId, action: PublishAuditAction.ackTimeout } });
    assert.deepEqual(
      audit.map((a) => pick(a.details, ['proxiesAcked', 'pendingCount'])),
      [{ proxiesAcked: 1, pendingCount: 1 }],
    );
  });

  test('waits only for the requested node groups, and completes at once when a group has no connected proxy', async () => {
    const tenantId = await seedTenant();
    const vEdge = `v-${randomUUID().slice(0, 8)}`;
    const vCanary = `v-${randomUUID().slice(0, 8)}`;
    const revisionId = await seedRevision(tenantId, [
      { nodeGroup: 'canary', version: vCanary },
      { nodeGroup: 'edge', version: vEdge },
    ]);
    await seedProxy(tenantId, 'edge', 'envoy-edge'); // never ACKs, but edge is not awaited

    await withWorker({ name: 'groups', publish: tablePublish({ n: 0 }) }, async (t) => {
      const handle = await startPublishRevision(t, { tenantId, revisionId, actor: ACTOR, nodeGroups: ['canary'], ackTimeoutMs: 30_000 });
      const result = await handle.result();
      assert.deepEqual(result.versions, [
        { nodeGroup: 'canary', version: vCanary },
        { nodeGroup: 'edge', version: vEdge },
      ]);
      assert.deepEqual(result.acked, [{ nodeGroup: 'canary', version: vCanary, proxiesAcked: 0, pending: 0, nacked: [] }]);
    });
  });

  test('a domain error from publish fails at once; a transient one is retried', async () => {
    const tenantId = await seedTenant();
    const version = `v-${randomUUID().slice(0, 8)}`;
    const revisionId = await seedRevision(tenantId, [{ nodeGroup: 'edge', version }]);
    const missing = randomUUID();
    const domainCalls = { n: 0 };
    await withWorker({ name: 'domain', publish: tablePublish(domainCalls) }, async (t) => {
      const handle = await startPublishRevision(t, { tenantId, revisionId: missing, actor: ACTOR });
      const failure = await failureOf(handle.result());
      // The workflow rethrows the ActivityFailure; its cause is the activity's ApplicationFailure.
      const cause = failure.cause instanceof ApplicationFailure ? failure.cause : failure;
      assert.equal(cause.type, PublishFailureType.publishRejected);
      assert.match(cause.message, /not found/);
    });
    assert.equal(domainCalls.n, 1, 'a domain error is not retried');

    const transientCalls = { n: 0 };
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    await withWorker({ name: 'transient', publish: tablePublish(transientCalls, reset) }, async (t) => {
      const handle = await startPublishRevision(t, { tenantId, revisionId, actor: ACTOR });
      const result = await handle.result();
      assert.equal(result.changed, true);
      assert.deepEqual(result.acked, [{ nodeGroup: 'edge', version, proxiesAcked: 0, pending: 0, nacked: [] }]);
    });
    assert.equal(transientCalls.n, 2, 'a transient error is retried');
  });
});
