/**
 * The revision service against real PostgreSQL (and the real Temporal dev server for apply): create with
 * validation, malformed graphs (a list of 29 plus property-based fuzzing) answered with field-level issues
 * and never a crash while the live revision stays untouched, diff and plan between revisions, revert,
 * apply through publishRevisionWorkflow, translate; every write audited.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import fc from 'fast-check';
import type { RouteGraphInput } from '../contracts/route-graph.schema';
import { validateRouteGraph } from '../contracts/route-graph.validate';
import { TYPE_URL } from '../core/xds/snapshot';
import { appendAudit } from '../server/audit/audit.service';
import type { Db } from '../server/db/client';
import { findLatestSnapshot } from '../server/db/snapshot.repo';
import { AppError } from '../server/errors';
import { publishRevision } from '../server/services/publish.service';
import {
  applyRevision,
  createRevision,
  diffRevision,
  planRevision,
  revertToRevision,
  translateGraph,
  type RevisionCaller,
} from '../server/services/revision.service';
import type { ProxyShardTemporal } from '../server/temporal/client';
import { createPublishActivities } from '../workers/publish.activities';
import { createTestDatabase, type TestDatabase } from './support/db';
import { getTestTemporal, installQuietTemporalRuntime, uniqueTaskQueue, workflowBundle, type TestTemporal } from './support/temporal';

let tdb: TestDatabase;
let db: Db;
let caller: RevisionCaller;

function baseGraph(): RouteGraphInput {
  return {
    listeners: [{ name: 'web', address: '127.0.0.1', port: 18080, virtualHosts: ['site'] }],
    virtualHosts: [{ name: 'site', domains: ['example.com'], routes: ['root'] }],
    routes: [{ name: 'root', match: { prefix: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'app', weight: 90 }, { cluster: 'canary', weight: 10 }] } }],
    clusters: [
      { name: 'app', endpoints: [{ address: '127.0.0.1', port: 19001 }] },
      { name: 'canary', endpoints: [{ address: '127.0.0.1', port: 19002 }] },
    ],
    nodeGroups: [{ name: 'default', listeners: ['web'] }],
  };
}

type Mutation = [name: string, mutate: (g: RouteGraphInput & Record<string, unknown>) => unknown, expectedPath: string];
const route0 = (g: RouteGraphInput) => g.routes![0]! as Record<string, unknown> & NonNullable<RouteGraphInput['routes']>[number];

/** Each: a broken graph and the field path its first-class issue must name. */
const MALFORMED: Mutation[] = [
  ['not an object (null)', () => null, ''],
  ['not an object (array)', () => [], ''],
  ['not an object (string)', () => 'listeners: []', ''],
  ['listeners is not an array', (g) => ({ ...g, listeners: 'web' }), 'listeners'],
  ['unknown top-level field', (g) => ({ ...g, listenres: [] }), 'listenres'],
  ['unknown nested field', (g) => { (route0(g) as Record<string, unknown>).matchh = {}; return g; }, 'routes[0].matchh'],
  ['upper-case name', (g) => { g.listeners![0]!.name = 'Web'; return g; }, 'listeners[0].name'],
  ['port out of range', (g) => { g.listeners![0]!.port = 70_000; return g; }, 'listeners[0].port'],
  ['dangling virtual host', (g) => { g.listeners![0]!.virtualHosts = ['nope']; return g; }, 'listeners[0].virtualHosts[0]'],
  ['dangling route', (g) => { g.virtualHosts![0]!.routes = ['nope']; return g; }, 'virtualHosts[0].routes[0]'],
  ['dangling cluster', (g) => { route0(g).action = { kind: 'forward', clusters: [{ cluster: 'nope', weight: 1 }] }; return g; }, 'routes[0].action.clusters[0].cluster'],
  ['weights sum to 0', (g) => { route0(g).action = { kind: 'forward', clusters: [{ cluster: 'app', weight: 0 }] }; return g; }, 'routes[0].action.clusters'],
  ['negative weight', (g) => { route0(g).action = { kind: 'forward', clusters: [{ cluster: 'app', weight: -1 }] }; return g; }, 'routes[0].action.clusters[0].weight'],
  ['duplicate route name', (g) => { g.routes!.push(structuredClone(g.routes![0]!)); return g; }, 'routes[1].name'],
  ['port clash', (g) => { g.listeners!.push({ name: 'web2', address: '127.0.0.1', port: 18080, virtualHosts: ['site'] }); g.nodeGroups![0]!.listeners.push('web2'); return g; }, 'listeners[1].port'],
  ['invalid regex', (g) => { route0(g).match = { regex: '(unclosed' }; return g; }, 'routes[0].match.regex'],
  ['prefix and path together', (g) => { route0(g).match = { prefix: '/', path: '/x' }; return g; }, 'routes[0].match'],
  ['endpoint is a host name', (g) => { g.clusters![0]!.endpoints[0]!.address = 'app.internal'; return g; }, 'clusters[0].endpoints[0].address'],
  ['unknown listener in a node group', (g) => { g.nodeGroups![0]!.listeners = ['nope']; return g; }, 'nodeGroups[0].listeners[0]'],
  ['invalid header name', (g) => { route0(g).match = { prefix: '/', headers: [{ name: 'bad header', exact: 'x' }] }; return g; }, 'routes[0].match.headers[0].name'],
  ['back-off max below base', (g) => { route0(g).retry = { retryOn: ['5xx'], backoffBaseMs: 100, backoffMaxMs: 10 }; return g; }, 'routes[0].retry.backoffMaxMs'],
  ['unknown action kind', (g) => { route0(g).action = { kind: 'teleport' } as never; return g; }, 'routes[0].action.kind'],
  ['header value with CRLF', (g) => { route0(g).requestHeaders = { add: [{ name: 'x-a', value: 'a\r\nb' }] }; return g; }, 'routes[0].requestHeaders.add[0].value'],
  ['mirror to an unknown cluster', (g) => { route0(g).mirror = { cluster: 'nope', percent: 5 }; return g; }, 'routes[0].mirror.cluster'],
  ['same domain twice on one listener', (g) => { g.virtualHosts!.push({ name: 'other', domains: ['example.com'], routes: [] }); g.listeners![0]!.virtualHosts.push('other'); return g; }, 'listeners[0].virtualHosts[1]'],
  ['TLS listener naming a certificate the tenant does not have', (g) => { g.listeners![0]!.tls = { certificate: 'cert', requireClientCertificate: false }; return g; }, 'listeners[0].tls.certificate'],
  ['direct response with status 150', (g) => { route0(g).action = { kind: 'directResponse', status: 150 }; return g; }, 'routes[0].action.status'],
  ['unknown load-balancing policy', (g) => { (g.clusters![0] as Record<string, unknown>).lbPolicy = 'random'; return g; }, 'clusters[0].lbPolicy'],
  ['timeout on a redirect', (g) => { route0(g).action = { kind: 'redirect', path: '/x' }; route0(g).timeoutMs = 100; return g; }, 'routes[0].timeoutMs'],
];

let liveId: string;

async function liveState() {
  const tenant = await db.tenant.findUniqueOrThrow({ where: { id: caller.tenantId } });
  const live = await db.revision.findUniqueOrThrow({ where: { id: tenant.liveRevisionId! } });
  return {
    liveRevisionId: tenant.liveRevisionId,
    liveGraphHash: live.graphHash,
    liveState: live.state,
    snapshot: (await findLatestSnapshot(db, caller.tenantId, 'default'))?.version,
  };
}

/** Asserts `fn` is refused with a bad_request whose issues all have a path and a message. */
async function refused(fn: () => Promise<unknown>): Promise<{ path: string; message: string }[]> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof AppError, `not an AppError: ${String(err)}`);
    assert.equal(err.code, 'bad_request', err.message);
    assert.ok(err.issues && err.issues.length > 0, 'issues');
    for (const i of err.issues) {
      assert.equal(typeof i.path, 'string');
      assert.ok(typeof i.message === 'string' && i.message.length > 0);
    }
    return err.issues;
  }
  assert.fail('expected a bad_request');
}

describe('revision service', () => {
  before(async () => {
    tdb = await createTestDatabase();
    db = tdb.db;
    const t = await db.tenant.create({ data: { slug: 'revs', name: 'Revs' } });
    caller = { tenantId: t.id, actor: { type: 'user', id: 'u-1', name: 'alice' } };
  });
  after(async () => {
    await tdb?.drop();
  });

  it('creates a validated, proposed revision (parent = live), audited', async () => {
    const r = await createRevision(db, caller, { graph: baseGraph(), message: 'first' });
    assert.equal(r.number, 1);
    assert.equal(r.state, 'proposed');
    assert.equal(r.parentId, null);
    await publishRevision(db, { tenantId: caller.tenantId, revisionId: r.id });
    liveId = r.id;
    const second = await createRevision(db, caller, { graph: baseGraph(), state: 'draft' });
    assert.equal(second.number, 2);
    assert.equal(second.parentId, liveId);
    assert.equal(second.graphHash, r.graphHash, 'equal graphs, equal hash (defaults applied before hashing)');
    const audit = await db.auditEntry.findMany({ where: { tenantId: caller.tenantId, action: 'revision.create' }, orderBy: { seq: 'asc' } });
    assert.deepEqual(audit.map((a) => [a.targetId, a.actorName]), [[r.id, 'alice'], [second.id, 'alice']]);
  });

  it(`refuses ${MALFORMED.length} malformed graphs with field-level issues; the live revision stays untouched`, async () => {
    assert.ok(MALFORMED.length >= 20);
    const before = await liveState();
    const count = await db.revision.count({ where: { tenantId: caller.tenantId } });
    for (const [name, mutate, path] of MALFORMED) {
      const graph = mutate(structuredClone(baseGraph()) as RouteGraphInput & Record<string, unknown>);
      const issues = await refused(() => createRevision(db, caller, { graph }));
      assert.ok(
        issues.some((i) => i.path === path),
        `${name}: expected an issue at "${path}", got ${JSON.stringify(issues)}`,
      );
    }
    assert.equal(await db.revision.count({ where: { tenantId: caller.tenantId } }), count, 'nothing stored');
    assert.deepEqual(await liveState(), before);
  });

  it('never crashes on fuzzed input (property-based): issues with paths, or a valid revision; live untouched', async () => {
    const before = await liveState();
    // 1. Arbitrary JSON straight into the validator (pure, many runs).
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const r = validateRouteGraph(v);
        if (!r.ok) for (const i of r.issues) assert.ok(typeof i.path === 'string' && i.message.length > 0);
      }),
      { numRuns: 500 },
    );
    // 2. A valid graph with one value somewhere replaced by arbitrary JSON, through the service.
    const leafPaths = (v: unknown, prefix: (string | number)[] = []): (string | number)[][] => {
      if (Array.isArray(v)) return [prefix, ...v.flatMap((x, i) => leafPaths(x, [...prefix, i]))];
      if (v && typeof v === 'object') return [prefix, ...Object.entries(v).flatMap(([k, x]) => leafPaths(x, [...prefix, k]))];
      return [prefix];
    };
    const paths = leafPaths(baseGraph()).filter((p) => p.length > 0);
    let created = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 3 }), async (path, value) => {
        const g = structuredClone(baseGraph()) as Record<string | number, unknown>;
        let at: Record<string | number, unknown> = g;
        for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
        at[path.at(-1)!] = value;
        try {
          await createRevision(db, caller, { graph: g });
          created += 1;
        } catch (err) {
          assert.ok(err instanceof AppError && err.code === 'bad_request', `crash: ${String(err)}`);
          assert.ok(err.issues && err.issues.length > 0 && err.issues.every((i) => typeof i.path === 'string' && i.message !== ''));
        }
      }),
      { numRuns: 150 },
    );
    assert.deepEqual(await liveState(), before);
    assert.ok(created < 150, 'most mutations are refused');
  });

  let changedId: string;

  it('diffs and plans any two revisions (default: against the live one)', async () => {
    const g = baseGraph();
    g.routes![0]!.action = { kind: 'forward', clusters: [{ cluster: 'app', weight: 50 }, { cluster: 'canary', weight: 50 }] };
    g.clusters!.push({ name: 'spare', endpoints: [] });
    const r = await createRevision(db, caller, { graph: g, message: '50/50' });
    changedId = r.id;
    const d = await diffRevision(db, caller, r.id);
    assert.equal(d.against?.id, liveId);
    assert.deepEqual(
      d.diff.changes.map((c) => [c.change, c.kind, c.name, c.fields.map((f) => `${f.path}: ${String(f.before)} → ${String(f.after)}`)]),
      [
        ['changed', 'routes', 'root', ['action.clusters[0].weight: 90 → 50', 'action.clusters[1].weight: 10 → 50']],
        ['added', 'clusters', 'spare', []],
      ],
    );
    const p = await planRevision(db, caller, r.id);
    const def = p.plan.nodeGroups.find((x) => x.nodeGroup === 'default')!;
    assert.deepEqual(def.changes, [{ type: 'routes', name: 'web', change: 'changed' }], 'an unused cluster is not sent');
    assert.equal(def.versionBefore, (await findLatestSnapshot(db, caller.tenantId, 'default'))?.version);

    // Between two explicit revisions, in the other direction.
    const back = await diffRevision(db, caller, liveId, r.id);
    assert.deepEqual(back.diff.summary, { added: 0, removed: 1, changed: 1 });
    await assert.rejects(diffRevision(db, caller, r.id, '00000000-0000-0000-0000-000000000000'), (e: unknown) => e instanceof AppError && e.code === 'not_found');
  });

  it('reverts: a new revision equal to an old one, parent = live, audited', async () => {
    await publishRevision(db, { tenantId: caller.tenantId, revisionId: changedId });
    const reverted = await revertToRevision(db, caller, liveId);
    const original = await db.revision.findUniqueOrThrow({ where: { id: liveId } });
    assert.equal(reverted.graphHash, original.graphHash);
    assert.equal(reverted.parentId, changedId);
    assert.equal(reverted.state, 'proposed');
    assert.match(reverted.message, /revert to revision 1/);
    const d = await diffRevision(db, caller, reverted.id, liveId);
    assert.deepEqual(d.diff.changes, [], 'equal to the old revision');
    const entry = await db.auditEntry.findFirstOrThrow({ where: { tenantId: caller.tenantId, action: 'revision.revert' } });
    assert.equal(entry.targetId, reverted.id);
    liveId = changedId;
  });

  it('translates a graph to xDS resources without storing anything', async () => {
    const count = await db.revision.count();
    const t = await translateGraph(db, caller, baseGraph());
    assert.deepEqual(t.snapshots.map((s) => s.nodeGroup), ['default']);
    assert.equal(t.snapshots[0]!.resources.listeners[0]!['@type'], TYPE_URL.listeners);
    assert.equal(await db.revision.count(), count);
    await refused(async () => translateGraph(db, caller, { listeners: 7 }));
  });

  it('applies a revision through publishRevisionWorkflow (real Temporal), audited', async () => {
    installQuietTemporalRuntime();
    const temporal: TestTemporal = await getTestTemporal();
    const native = await NativeConnection.connect({ address: temporal.address });
    const connection = await Connection.connect({ address: temporal.address });
    const taskQueue = uniqueTaskQueue('revisions');
    const worker = await Worker.create({
      connection: native,
      namespace: temporal.namespace,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createPublishActivities({ db, publishRevision, appendAudit }),
    });
    const ps: ProxyShardTemporal = { client: new Client({ connection, namespace: temporal.namespace }), connection, taskQueue };
    try {
      await worker.runUntil(async () => {
        const first = await db.revision.findFirstOrThrow({ where: { tenantId: caller.tenantId, number: 1 } });
        const target = await revertToRevision(db, caller, first.id);
        const applied = await applyRevision(db, caller, target.id, { wait: true, ackTimeoutMs: 10_000 }, { temporal: ps });
        assert.equal(applied.workflowId, `publish:${caller.tenantId}:${target.id}`);
        const tenant = await db.tenant.findUniqueOrThrow({ where: { id: caller.tenantId } });
        assert.equal(tenant.liveRevisionId, target.id);
        const entry = await db.auditEntry.findFirstOrThrow({ where: { tenantId: caller.tenantId, action: 'revision.apply' } });
        assert.equal(entry.targetId, target.id);
      });
    } finally {
      await connection.close();
      await native.close();
      await temporal.stop();
    }
  });
});
