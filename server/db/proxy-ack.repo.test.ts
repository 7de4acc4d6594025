import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { XDS_TYPE_URLS, ALL_XDS_TYPE_URLS } from '../../contracts/workflows.schema';
import { createTestDatabase, type TestDatabase } from '../../test/support/db';
import type { Db } from './client';
import { getProxyAckStatus, getSnapshotAckTarget, getSnapshotTypeUrls, typeUrlsInResources } from './proxy-ack.repo';

const { listener: LDS, route: RDS, cluster: CDS, endpoint: EDS, secret: SDS } = XDS_TYPE_URLS;

describe('typeUrlsInResources', () => {
  test('listeners and clusters always; routes and endpoints only when the snapshot has some', () => {
    assert.deepEqual(typeUrlsInResources({ listeners: [{}], routes: [], clusters: { c1: {} }, endpoints: [{}] }), [LDS, CDS, EDS]);
    assert.deepEqual(typeUrlsInResources({ listeners: [{}], routes: [{}], clusters: [{}], endpoints: [] }), [LDS, RDS, CDS]);
    // An emptied node group (graph no longer has it) still gets, and ACKs, empty LDS/CDS.
    assert.deepEqual(typeUrlsInResources({ listeners: [], routes: [], clusters: [], endpoints: [] }), [LDS, CDS]);
  });
  test('understands type-URL keys, a `resources` wrapper and arrays tagged with @type', () => {
    assert.deepEqual(typeUrlsInResources({ [RDS]: [{}], [CDS]: [{}] }), [LDS, RDS, CDS]);
    assert.deepEqual(typeUrlsInResources({ version: 'x', resources: { listeners: [{}], routes: [{}] } }), [LDS, RDS, CDS]);
    assert.deepEqual(typeUrlsInResources([{ '@type': EDS }, { typeUrl: LDS }, { '@type': EDS }]), [LDS, CDS, EDS]);
  });
  test('an unknown layout requires every type', () => {
    assert.deepEqual(typeUrlsInResources({ something: 1 }), [...ALL_XDS_TYPE_URLS]);
    assert.deepEqual(typeUrlsInResources(null), [...ALL_XDS_TYPE_URLS]);
  });
});

describe('getProxyAckStatus', () => {
  let tdb: TestDatabase;
  let db: Db;
  before(async () => {
    tdb = await createTestDatabase();
    db = tdb.db;
  });
  after(() => tdb.drop());

  async function tenant(): Promise<string> {
    return (await db.tenant.create({ data: { slug: `t-${randomUUID().slice(0, 8)}`, name: 't' } })).id;
  }
  async function proxy(tenantId: string, nodeId: string, opts: { group?: string; connected?: boolean } = {}): Promise<string> {
    const p = await db.proxy.create({
      data: { tenantId, nodeId, nodeGroup: opts.group ?? 'edge', metadata: {}, connected: opts.connected ?? true },
    });
    return p.id;
  }
  async function state(proxyId: string, typeUrl: string, row: Record<string, string | null>): Promise<void> {
    await db.proxyResourceState.create({ data: { proxyId, typeUrl, ...row } });
  }

  test('classifies each connected proxy of the group as acked, nacked (by version or by nonce) or pending', async () => {
    const t = await tenant();
    const V = 'v2';
    const acked = await proxy(t, 'a-acked');
    await state(acked, LDS, { sentVersion: V, sentNonce: 'n1', ackedVersion: V });
    // An old NACK of another version does not matter once the new version is ACKed.
    await state(acked, CDS, { sentVersion: V, sentNonce: 'n2', ackedVersion: V, nackVersion: 'v0', nackNonce: 'n0', nackError: 'old' });

    const byNonce = await proxy(t, 'b-nack-nonce');
    await state(byNonce, LDS, { sentVersion: V, sentNonce: 'n3', ackedVersion: V });
    // Envoy reports its previous version_info (v1) when rejecting: the nonce identifies the rejected response.
    await state(byNonce, CDS, { sentVersion: V, sentNonce: 'n4', ackedVersion: 'v1', nackVersion: 'v1', nackNonce: 'n4', nackError: 'bad cluster c1' });

    const byVersion = await proxy(t, 'c-nack-version');
    await state(byVersion, LDS, { sentVersion: V, sentNonce: 'n5', ackedVersion: 'v1', nackVersion: V, nackNonce: 'n5', nackError: 'bad listener' });

    const stale = await proxy(t, 'd-stale-nack');
    await state(stale, LDS, { sentVersion: V, sentNonce: 'n7', ackedVersion: V });
    // Rejected v1 earlier (nonce n6); v2 was sent since (n8) and is neither ACKed nor NACKed yet.
    await state(stale, CDS, { sentVersion: V, sentNonce: 'n8', ackedVersion: 'v0', nackVersion: 'v0', nackNonce: 'n6', nackError: 'v1 was bad' });

    await proxy(t, 'e-nothing-yet');
    await proxy(t, 'f-disconnected', { connected: false });
    await proxy(t, 'g-other-group', { group: 'canary' });
    const otherTenant = await tenant();
    await proxy(otherTenant, 'h-other-tenant');

    const s = await getProxyAckStatus(db, { tenantId: t, nodeGroup: 'edge', version: V, typeUrls: [LDS, CDS] });
    assert.deepEqual(s.acked, [{ proxyId: acked, nodeId: 'a-acked' }]);
    assert.deepEqual(s.nacked, [
      { proxyId: byNonce, nodeId: 'b-nack-nonce', typeUrl: CDS, error: 'bad cluster c1', nonce: 'n4' },
      { proxyId: byVersion, nodeId: 'c-nack-version', typeUrl: LDS, error: 'bad listener', nonce: 'n5' },
    ]);
    assert.deepEqual(
      s.pending.map((p) => [p.nodeId, p.pendingTypeUrls]),
      [
        ['d-stale-nack', [CDS]],
        ['e-nothing-yet', [LDS, CDS]],
      ],
    );
  });

  test('only the requested types count', async () => {
    const t = await tenant();
    const p = await proxy(t, 'lds-only');
    await state(p, LDS, { sentVersion: 'v9', sentNonce: 'n', ackedVersion: 'v9' });
    const lds = await getProxyAckStatus(db, { tenantId: t, nodeGroup: 'edge', version: 'v9', typeUrls: [LDS] });
    assert.equal(lds.acked.length, 1);
    const both = await getProxyAckStatus(db, { tenantId: t, nodeGroup: 'edge', version: 'v9', typeUrls: [LDS, EDS] });
    assert.deepEqual(both.pending.map((x) => x.pendingTypeUrls), [[EDS]]);
  });

  test('per type, a proxy ACKs the snapshot version of that type: an unchanged type keeps the version it had', async () => {
    const t = await tenant();
    const rev = await db.revision.create({ data: { tenantId: t, number: 1, graph: {}, graphHash: 'h', createdById: 'test' } });
    // Snapshot v2 changed the routes only: its LDS version is the one v1 had.
    const typeVersions = { [LDS]: 'lds-1', [RDS]: 'rds-2', [CDS]: 'cds-1', [EDS]: 'eds-1', [SDS]: 'sds-1' };
    await db.snapshot.create({
      data: { tenantId: t, nodeGroup: 'edge', version: 'v2', typeVersions, revisionId: rev.id, resources: { listeners: [{}], routes: [{}] } },
    });
    const target = await getSnapshotAckTarget(db, { tenantId: t, nodeGroup: 'edge', version: 'v2' });
    assert.deepEqual(target, { typeUrls: [LDS, RDS, CDS], typeVersions });

    const synced = await proxy(t, 'a-synced');
    await state(synced, LDS, { sentVersion: 'lds-1', sentNonce: 'n1', ackedVersion: 'lds-1' });
    await state(synced, RDS, { sentVersion: 'rds-2', sentNonce: 'n2', ackedVersion: 'rds-2' });
    const behind = await proxy(t, 'b-behind');
    await state(behind, LDS, { sentVersion: 'lds-1', sentNonce: 'n3', ackedVersion: 'lds-1' });
    await state(behind, RDS, { sentVersion: 'rds-1', sentNonce: 'n4', ackedVersion: 'rds-1' });
    const rejected = await proxy(t, 'c-rejected');
    await state(rejected, LDS, { sentVersion: 'lds-1', sentNonce: 'n5', ackedVersion: 'lds-1' });
    await state(rejected, RDS, { sentVersion: 'rds-2', sentNonce: 'n6', ackedVersion: 'rds-1', nackVersion: 'rds-1', nackNonce: 'n6', nackError: 'bad route' });

    const s = await getProxyAckStatus(db, { tenantId: t, nodeGroup: 'edge', version: 'v2', typeUrls: [LDS, RDS], typeVersions: target!.typeVersions! });
    assert.deepEqual(s.acked.map((p) => p.nodeId), ['a-synced']);
    assert.deepEqual(s.pending.map((p) => [p.nodeId, p.pendingTypeUrls]), [['b-behind', [RDS]]]);
    assert.deepEqual(s.nacked.map((p) => [p.nodeId, p.typeUrl, p.error]), [['c-rejected', RDS, 'bad route']]);
  });

  test('a snapshot stored without type versions is ACKed at its snapshot version', async () => {
    const t = await tenant();
    const rev = await db.revision.create({ data: { tenantId: t, number: 1, graph: {}, graphHash: 'h', createdById: 'test' } });
    await db.snapshot.create({ data: { tenantId: t, nodeGroup: 'edge', version: 'v1', revisionId: rev.id, resources: { listeners: [{}] } } });
    assert.deepEqual(await getSnapshotAckTarget(db, { tenantId: t, nodeGroup: 'edge', version: 'v1' }), { typeUrls: [LDS, CDS], typeVersions: undefined });
  });

  test('getSnapshotTypeUrls reads the stored snapshot, null when there is none', async () => {
    const t = await tenant();
    const rev = await db.revision.create({
      data: { tenantId: t, number: 1, graph: {}, graphHash: 'h', createdById: 'test' },
    });
    await db.snapshot.create({
      data: { tenantId: t, nodeGroup: 'edge', version: 'v1', revisionId: rev.id, resources: { listeners: [{}], clusters: [{}], routes: [{}], endpoints: [] } },
    });
    assert.deepEqual(await getSnapshotTypeUrls(db, { tenantId: t, nodeGroup: 'edge', version: 'v1' }), [LDS, RDS, CDS]);
    assert.equal(await getSnapshotTypeUrls(db, { tenantId: t, nodeGroup: 'edge', version: 'v2' }), null);
    assert.equal(await getSnapshotTypeUrls(db, { tenantId: t, nodeGroup: 'canary', version: 'v1' }), null);
  });
});
