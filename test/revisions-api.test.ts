/**
 * The revision, translate and proxy endpoints of the REST API (handlers called in-process) and the CLI on
 * top of them (a real HTTP server in front of the handlers): create/validate/diff/plan/apply/revert,
 * translate, proxy-status with a NACK and its error, config-dump of what was sent, and GitOps `apply -f`
 * from YAML (idempotent). Writes need operator or above. Apply runs the real publishRevisionWorkflow.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import * as proxiesRoute from '../app/api/v1/proxies/route';
import * as configDumpRoute from '../app/api/v1/proxies/[id]/config-dump/route';
import * as revisionsRoute from '../app/api/v1/revisions/route';
import * as diffRoute from '../app/api/v1/revisions/[id]/diff/route';
import * as planRoute from '../app/api/v1/revisions/[id]/plan/route';
import * as validateRoute from '../app/api/v1/revisions/validate/route';
import * as translateRoute from '../app/api/v1/translate/route';
import type { RouteGraphInput } from '../contracts/route-graph.schema';
import { TYPE_URL } from '../core/xds/snapshot';
import { runCli } from '../scripts/cli';
import { setAppDb } from '../server/app-db';
import { appendAudit } from '../server/audit/audit.service';
import { recordProxyConnected, recordResourceAck, recordResourceNack, recordResourceSent } from '../server/db/proxy.repo';
import { findLatestSnapshot } from '../server/db/snapshot.repo';
import { publishRevision } from '../server/services/publish.service';
import { setAppTemporal } from '../server/temporal/app-temporal';
import { createPublishActivities } from '../workers/publish.activities';
import { call, discoverRoutes, makeMember, makeTenant, makeToken, startApiServer, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';
import { getTestTemporal, installQuietTemporalRuntime, uniqueTaskQueue, workflowBundle, type TestTemporal } from './support/temporal';

let tdb: TestDatabase;
let operator: TestMember;
let viewer: TestMember;
let operatorToken: string;
let viewerToken: string;
let api: { url: string; close(): Promise<void> };
let dir: string;
let temporal: TestTemporal;
let native: NativeConnection;
let connection: Connection;
let worker: Worker;
let workerRun: Promise<void>;

function graph(weights: [number, number] = [90, 10]): RouteGraphInput {
  return {
    listeners: [{ name: 'web', address: '127.0.0.1', port: 18080, virtualHosts: ['site'] }],
    virtualHosts: [{ name: 'site', domains: ['*'], routes: ['root'] }],
    routes: [{ name: 'root', match: { prefix: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'app', weight: weights[0] }, { cluster: 'canary', weight: weights[1] }] } }],
    clusters: [
      { name: 'app', endpoints: [{ address: '127.0.0.1', port: 19001 }] },
      { name: 'canary', endpoints: [{ address: '127.0.0.1', port: 19002 }] },
    ],
    nodeGroups: [{ name: 'default', listeners: ['web'] }],
  };
}

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...args, '--url', api.url, '--token', operatorToken], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('revisions REST API and CLI', () => {
  before(async () => {
    installQuietTemporalRuntime();
    tdb = await createTestDatabase();
    setAppDb(tdb.db);
    const t = await makeTenant(tdb.db, 'gitops');
    operator = await makeMember(tdb.db, t, 'operator');
    viewer = await makeMember(tdb.db, t, 'viewer');
    operatorToken = (await makeToken(tdb.db, operator)).secret;
    viewerToken = (await makeToken(tdb.db, viewer)).secret;
    api = await startApiServer(await discoverRoutes());
    dir = await mkdtemp(path.join(tmpdir(), 'ps-gitops-'));

    temporal = await getTestTemporal();
    native = await NativeConnection.connect({ address: temporal.address });
    connection = await Connection.connect({ address: temporal.address });
    const taskQueue = uniqueTaskQueue('revisions-api');
    worker = await Worker.create({
      connection: native,
      namespace: temporal.namespace,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createPublishActivities({ db: tdb.db, publishRevision, appendAudit }),
    });
    workerRun = worker.run();
    setAppTemporal({ client: new Client({ connection, namespace: temporal.namespace }), connection, taskQueue });
  });

  after(async () => {
    setAppTemporal(undefined);
    setAppDb(undefined);
    worker?.shutdown();
    await workerRun;
    await connection?.close();
    await native?.close();
    await temporal?.stop();
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    await tdb?.drop();
  });

  let firstId: string;

  it('POST /api/v1/revisions: operator creates (201), viewer is refused (403), bad graphs get field paths (400)', async () => {
    const denied = await call(revisionsRoute.POST, { token: viewerToken, json: { graph: graph() } });
    assert.equal(denied.status, 403);
    const created = await call(revisionsRoute.POST, { token: operatorToken, json: { graph: graph(), message: 'first' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.revision.number, 1);
    firstId = created.body.revision.id;
    const bad = graph();
    bad.routes![0]!.action = { kind: 'forward', clusters: [{ cluster: 'nope', weight: 1 }] };
    const refused = await call(revisionsRoute.POST, { token: operatorToken, json: { graph: bad } });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.error.issues, [{ path: 'routes[0].action.clusters[0].cluster', message: 'unknown cluster "nope"' }]);
    const unknownField = await call(revisionsRoute.POST, { token: operatorToken, json: { graph: graph(), colour: 'red' } });
    assert.equal(unknownField.status, 400);
  });

  it('validate and translate answer without storing anything', async () => {
    const before = await tdb.db.revision.count();
    const bad = { ...graph(), listeners: [{ name: 'web', port: 0, virtualHosts: ['site'] }] };
    const v = await call(validateRoute.POST, { token: operatorToken, json: { graph: bad } });
    assert.equal(v.status, 200);
    assert.equal(v.body.valid, false);
    assert.ok(v.body.issues.some((i: { path: string }) => i.path === 'listeners[0].port'));
    const ok = await call(validateRoute.POST, { token: operatorToken, json: { graph: graph() } });
    assert.deepEqual(ok.body, { valid: true, issues: [] });
    const t = await call(translateRoute.POST, { token: operatorToken, json: { graph: graph() } });
    assert.equal(t.status, 200);
    assert.equal(t.body.snapshots[0].nodeGroup, 'default');
    assert.equal(t.body.snapshots[0].resources.clusters.length, 2);
    assert.equal(await tdb.db.revision.count(), before);
  });

  it('CLI: apply -f a YAML graph publishes it (real workflow); the same file again is a no-op', async () => {
    const file = path.join(dir, 'graph.yaml');
    await writeFile(file, stringify(graph([80, 20])));
    const first = await cli('apply', '-f', file);
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /revision #2 against an empty graph\n\+ listeners web/, 'nothing was live yet');
    assert.match(first.out, /revision #2 applied/);
    const tenant = await tdb.db.tenant.findUniqueOrThrow({ where: { id: operator.tenant.id } });
    const live = await tdb.db.revision.findUniqueOrThrow({ where: { id: tenant.liveRevisionId! } });
    assert.equal(live.number, 2);
    const again = await cli('apply', '-f', file);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /unchanged: .* equals live revision #2/);
    assert.equal(await tdb.db.revision.count({ where: { tenantId: operator.tenant.id } }), 2);

    const badFile = path.join(dir, 'bad.json');
    await writeFile(badFile, JSON.stringify({ ...graph(), nodeGroups: [{ name: 'default', listeners: ['nope'] }] }));
    const invalid = await cli('revisions', 'validate', '-f', badFile);
    assert.equal(invalid.code, 1);
    assert.match(invalid.out, /nodeGroups\[0\]\.listeners\[0\]: unknown listener "nope"/);
  });

  it('diff and plan (API and CLI), revert, and translate of a stored revision', async () => {
    const d = await call(diffRoute.GET, { token: viewerToken, params: { id: firstId } });
    assert.equal(d.status, 200);
    assert.equal(d.body.against.number, 2, 'against the live revision');
    assert.deepEqual(d.body.diff.changes[0].fields[0], { path: 'action.clusters[0].weight', before: 80, after: 90 });
    const p = await call(planRoute.GET, { token: viewerToken, params: { id: firstId } });
    assert.deepEqual(p.body.plan.nodeGroups[0].changes, [{ type: 'routes', name: 'web', change: 'changed' }]);

    const plan = await cli('revisions', 'plan', firstId);
    assert.equal(plan.code, 0, plan.err);
    assert.match(plan.out, /node group default: \w{12} → \w{12}\n {2}~ routes web/);
    const revert = await cli('revisions', 'revert', firstId);
    assert.equal(revert.code, 0, revert.err);
    assert.match(revert.out, /revision #3 created: revert to revision 1/);
    const rev3 = await tdb.db.revision.findFirstOrThrow({ where: { tenantId: operator.tenant.id, number: 3 } });
    const diff = await cli('revisions', 'diff', rev3.id, '--against', firstId);
    assert.match(diff.out, /no changes/);
    const applied = await cli('revisions', 'apply', rev3.id);
    assert.equal(applied.code, 0, applied.err);
    const translated = await cli('translate', rev3.id, '--json');
    assert.equal(JSON.parse(translated.out).revision.number, 3);
  });

  it('proxy-status shows SYNCED per type and NACKED with the error; config-dump shows what was sent', async () => {
    const db = tdb.db;
    const tenantId = operator.tenant.id;
    const latest = (await findLatestSnapshot(db, tenantId, 'default'))!;
    // Two proxies as an xds replica records them: one in sync, one that NACKed the listeners. Versions are
    // per type: each type is sent (and ACKed) at the latest snapshot's version of that type.
    for (const nodeId of ['edge-ok', 'edge-bad']) {
      const conn = await recordProxyConnected(db, { tenantId, nodeId, nodeCluster: 'c', nodeGroup: 'default', metadata: {}, userAgent: 'envoy/1.40.0', replica: 'r1' });
      for (const [kind, typeUrl] of Object.entries(TYPE_URL) as [keyof typeof TYPE_URL, string][]) {
        const version = latest.typeVersions[kind];
        await recordResourceSent(db, conn.proxyId, typeUrl, { version, nonce: `${nodeId}-${typeUrl}` });
        if (nodeId === 'edge-bad' && typeUrl === TYPE_URL.listeners) {
          await recordResourceNack(db, conn.proxyId, typeUrl, { version, nonce: `${nodeId}-${typeUrl}`, error: 'cannot bind 127.0.0.1:18080' });
        } else {
          await recordResourceAck(db, conn.proxyId, typeUrl, version);
        }
      }
    }
    const res = await call(proxiesRoute.GET, { token: viewerToken });
    assert.equal(res.status, 200);
    const byNode = Object.fromEntries(res.body.proxies.map((p: { nodeId: string; types: { type: string; status: string; error: string | null }[] }) => [p.nodeId, p.types]));
    // SDS is listed because the proxy was sent secrets (every TYPE_URL above).
    assert.deepEqual(byNode['edge-ok'].map((t: { type: string; status: string }) => `${t.type}:${t.status}`), ['SDS:SYNCED', 'CDS:SYNCED', 'EDS:SYNCED', 'LDS:SYNCED', 'RDS:SYNCED']);
    const lds = byNode['edge-bad'].find((t: { type: string }) => t.type === 'LDS');
    assert.deepEqual([lds.status, lds.error], ['NACKED', 'cannot bind 127.0.0.1:18080']);

    const status = await cli('proxy-status');
    assert.equal(status.code, 1, 'a NACK makes proxy-status fail');
    assert.match(status.out, /edge-bad +default +no|edge-bad +default +yes/);
    assert.match(status.out, /edge-bad LDS NACKED: cannot bind 127\.0\.0\.1:18080/);

    const dump = await call(configDumpRoute.GET, { token: viewerToken, params: { id: 'edge-ok' } });
    assert.equal(dump.status, 200);
    const cds = dump.body.types.find((t: { type: string }) => t.type === 'CDS');
    assert.equal(cds.version, latest.typeVersions.clusters);
    assert.deepEqual(cds.resources.map((r: { name: string }) => r.name), ['app', 'canary']);
    const cliDump = await cli('config-dump', 'edge-ok', '--type', 'rds');
    assert.equal(JSON.parse(cliDump.out).types[0].resources[0].name, 'web');
    const missing = await call(configDumpRoute.GET, { token: viewerToken, params: { id: 'nobody' } });
    assert.equal(missing.status, 404);
  });
});
