/**
 * publishRevision against real PostgreSQL: snapshots stored once per content, live pointer moved, NOTIFY
 * delivered at commit, rejected input leaving the live revision untouched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { RouteGraphInput } from '../contracts/route-graph.schema';
import { demoRouteGraph } from '../core/demo-graph';
import { contentHash } from '../core/xds/snapshot';
import type { Db } from '../server/db/client';
import { findLatestSnapshot, SNAPSHOT_CHANNEL, type SnapshotNotification } from '../server/db/snapshot.repo';
import { AppError } from '../server/errors';
import { publishRevision } from '../server/services/publish.service';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let db: Db;
let tenantId: string;
let otherTenantId: string;
let listener: pg.Client;
const notifications: SnapshotNotification[] = [];
let revisionNumber = 0;

async function createRevision(graph: unknown, tenant = tenantId): Promise<string> {
  revisionNumber += 1;
  const row = await db.revision.create({
    data: {
      tenantId: tenant,
      number: revisionNumber,
      state: 'proposed',
      graph: graph as object,
      graphHash: contentHash(graph),
      createdById: 'test',
    },
  });
  return row.id;
}

async function states(): Promise<Record<string, string>> {
  const rows = await db.revision.findMany({ where: { tenantId }, orderBy: { number: 'asc' } });
  return Object.fromEntries(rows.map((r) => [r.id, r.state]));
}

/** NOTIFYs arrive asynchronously after commit; wait a little for them (bounded). */
async function settleNotifications(expected: number): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (notifications.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
}

const graphA = demoRouteGraph({ listenerPort: 10000, upstreamPorts: [18081, 18082] });
const graphB = demoRouteGraph({ listenerPort: 10000, upstreamPorts: [18082] });

describe('publishRevision', () => {
  before(async () => {
    tdb = await createTestDatabase();
    db = tdb.db;
    tenantId = (await db.tenant.create({ data: { slug: 'pub', name: 'Pub' } })).id;
    otherTenantId = (await db.tenant.create({ data: { slug: 'other', name: 'Other' } })).id;
    listener = new pg.Client({ connectionString: tdb.url });
    await listener.connect();
    listener.on('notification', (m) => notifications.push(JSON.parse(m.payload ?? '{}') as SnapshotNotification));
    await listener.query(`LISTEN ${SNAPSHOT_CHANNEL}`);
  });

  after(async () => {
    await listener?.end();
    await tdb?.drop();
  });

  let revA: string;
  let versionA: string;

  it('stores a snapshot per node group, makes the revision live and notifies at commit', async () => {
    revA = await createRevision(graphA);
    const result = await publishRevision(db, { tenantId, revisionId: revA });
    assert.equal(result.changed, true);
    assert.equal(result.snapshots.length, 1);
    const [snap] = result.snapshots;
    assert.equal(snap!.nodeGroup, 'default');
    assert.match(snap!.version, /^[0-9a-f]{64}$/);
    versionA = snap!.version;

    const stored = await findLatestSnapshot(db, tenantId, 'default');
    assert.equal(stored?.version, versionA);
    assert.equal(stored?.revisionId, revA);
    assert.deepEqual(stored?.resources.clusters.map((c) => c.name), ['demo-upstreams']);
    assert.equal((await db.tenant.findUniqueOrThrow({ where: { id: tenantId } })).liveRevisionId, revA);
    assert.equal((await states())[revA], 'live');

    await settleNotifications(1);
    assert.deepEqual(notifications, [{ tenantId, nodeGroup: 'default', version: versionA }]);
  });

  it('is idempotent: publishing the same content again writes and notifies nothing', async () => {
    notifications.length = 0;
    const again = await publishRevision(db, { tenantId, revisionId: revA });
    assert.deepEqual(again, { snapshots: [{ nodeGroup: 'default', version: versionA }], changed: false });
    assert.equal(await db.snapshot.count({ where: { tenantId } }), 1);
    await settleNotifications(0);
    assert.deepEqual(notifications, []);
  });

  it('supersedes the previous live revision; going back to old content reuses its row', async () => {
    notifications.length = 0;
    const revB = await createRevision(graphB);
    const b = await publishRevision(db, { tenantId, revisionId: revB });
    assert.equal(b.changed, true);
    assert.notEqual(b.snapshots[0]!.version, versionA);
    assert.deepEqual(await states(), { [revA]: 'superseded', [revB]: 'live' });

    const revA2 = await createRevision(graphA);
    const a2 = await publishRevision(db, { tenantId, revisionId: revA2 });
    assert.deepEqual(a2, { snapshots: [{ nodeGroup: 'default', version: versionA }], changed: true });
    assert.equal(await db.snapshot.count({ where: { tenantId } }), 2, 'content A is stored once');
    const latest = await findLatestSnapshot(db, tenantId, 'default');
    assert.equal(latest?.version, versionA);
    assert.equal(latest?.revisionId, revA2);
    assert.equal((await states())[revB], 'superseded');

    await settleNotifications(2);
    assert.deepEqual(notifications.map((n) => n.version), [b.snapshots[0]!.version, versionA]);
  });

  it('rejects an invalid graph with field paths and leaves the live revision untouched', async () => {
    notifications.length = 0;
    const before = await db.tenant.findUniqueOrThrow({ where: { id: tenantId } });
    const bad: RouteGraphInput = structuredClone(graphA);
    bad.routes![0]!.action = { kind: 'forward', clusters: [{ cluster: 'ghost', weight: 1 }] };
    const revBad = await createRevision(bad);
    await assert.rejects(publishRevision(db, { tenantId, revisionId: revBad }), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.code, 'bad_request');
      assert.deepEqual(err.issues, [{ path: 'routes[0].action.clusters[0].cluster', message: 'unknown cluster "ghost"' }]);
      return true;
    });
    const afterTenant = await db.tenant.findUniqueOrThrow({ where: { id: tenantId } });
    assert.equal(afterTenant.liveRevisionId, before.liveRevisionId);
    assert.equal((await states())[revBad], 'proposed');
    assert.equal(await db.snapshot.count({ where: { tenantId } }), 2);
    await settleNotifications(0);
    assert.deepEqual(notifications, []);
  });

  it('refuses TLS naming a certificate the tenant does not have as a bad request naming the field', async () => {
    const tls: RouteGraphInput = structuredClone(graphA);
    tls.listeners![0]!.tls = { certificate: 'demo-cert' };
    const rev = await createRevision(tls);
    await assert.rejects(publishRevision(db, { tenantId, revisionId: rev }), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.issues?.[0]?.path, 'listeners[0].tls.certificate');
      assert.match(err.issues?.[0]?.message ?? '', /unknown certificate "demo-cert"/);
      return true;
    });
  });

  it('does not publish another tenant’s revision', async () => {
    const foreign = await createRevision(graphA, otherTenantId);
    await assert.rejects(publishRevision(db, { tenantId, revisionId: foreign }), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.code, 'not_found');
      return true;
    });
    await assert.rejects(publishRevision(db, { tenantId: '00000000-0000-0000-0000-000000000000', revisionId: foreign }), /tenant not found/);
  });

  it('gives a node group that left the graph an empty snapshot', async () => {
    const two: RouteGraphInput = structuredClone(graphA);
    two.nodeGroups!.push({ name: 'edge', listeners: ['demo'] });
    await publishRevision(db, { tenantId, revisionId: await createRevision(two) });
    assert.equal((await findLatestSnapshot(db, tenantId, 'edge'))?.resources.listeners.length, 1);

    const result = await publishRevision(db, { tenantId, revisionId: await createRevision(graphA) });
    assert.deepEqual(result.snapshots.map((s) => s.nodeGroup), ['default', 'edge']);
    const edge = await findLatestSnapshot(db, tenantId, 'edge');
    assert.deepEqual(edge?.resources, { listeners: [], routes: [], clusters: [], endpoints: [], secrets: [] });

    // Once empty, it stays out of later publishes.
    const later = await publishRevision(db, { tenantId, revisionId: await createRevision(graphB) });
    assert.deepEqual(later.snapshots.map((s) => s.nodeGroup), ['default']);
  });

  it('runs concurrent publishes of one tenant one after the other', async () => {
    const [x, y] = await Promise.all([createRevision(graphA), createRevision(graphB)]);
    const results = await Promise.all([publishRevision(db, { tenantId, revisionId: x }), publishRevision(db, { tenantId, revisionId: y })]);
    assert.equal(results.length, 2);
    const live = (await db.tenant.findUniqueOrThrow({ where: { id: tenantId } })).liveRevisionId;
    assert.ok(live === x || live === y);
    assert.equal(await db.revision.count({ where: { tenantId, state: 'live' } }), 1);
  });
});
