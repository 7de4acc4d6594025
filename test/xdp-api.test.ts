/**
 * The XDP REST API and CLI against real PostgreSQL and the real Temporal dev server: agents and XDP policy
 * versions of a tenant, validation with field paths (management CIDRs refused), and publishing through
 * pushXdpPolicyWorkflow (a worker with the real XDP activities). Agents are simulated by updating their
 * rows the way the agent channel does (recordApplyResult / recordCounters); test/xdp-push-workflow.test.ts
 * covers the same push with a real agent and real packets.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as agentsRoute from '../app/api/v1/agents/route';
import * as publishRoute from '../app/api/v1/xdp-policies/[id]/publish/route';
import * as policiesRoute from '../app/api/v1/xdp-policies/route';
import { setAppDb } from '../server/app-db';
import { recordApplyResult, recordCounters, registerAgent } from '../server/db/agent.repo';
import type { Tenant } from '../server/db/tenant.repo';
import { findDesiredXdpVersion } from '../server/db/xdp-policy.repo';
import { registerXdpPrograms } from '../server/db/xdp-program.repo';
import { repoRoot } from '../server/env';
import { setAppTemporal } from '../server/temporal/app-temporal';
import { createXdpActivities } from '../workers/xdp.activities';
import { call, discoverRoutes, makeMember, makeTenant, makeToken, makeXdpPolicy, snapshotDatabase, startApiServer, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';
import { getTestTemporal, installQuietTemporalRuntime, uniqueTaskQueue, workflowBundle, type TestTemporal } from './support/temporal';

const GUARD = Buffer.from('placeholder guard object');
const GUARD_SHA = createHash('sha256').update(GUARD).digest('hex');

let tdb: TestDatabase;
let temporal: TestTemporal;
let nativeConnection: NativeConnection;
let connection: Connection;
let worker: Worker;
let workerRun: Promise<void>;
let tenant: Tenant;
let operator: TestMember;
let opToken: string;
let viewerToken: string;
let otherTenantPolicy: string;
const agents: Record<string, string> = {};
const home = mkdtempSync(join(tmpdir(), 'ps-xdp-cli-'));

const spec = (cidrs: string[], extra: Record<string, unknown> = {}) => ({ interfaces: ['eth0'], rules: [{ kind: 'deny', name: 'bad-net', cidrs }], ...extra });

before(async () => {
  installQuietTemporalRuntime();
  [tdb, temporal] = await Promise.all([createTestDatabase(), getTestTemporal()]);
  setAppDb(tdb.db);
  tenant = await makeTenant(tdb.db, 'xdp-api');
  operator = await makeMember(tdb.db, tenant, 'operator', { username: 'olga' });
  opToken = (await makeToken(tdb.db, operator, 'olga-cli')).secret;
  viewerToken = (await makeToken(tdb.db, await makeMember(tdb.db, tenant, 'viewer'), 'viewer-cli')).secret;
  otherTenantPolicy = (await makeXdpPolicy(tdb.db, await makeTenant(tdb.db, 'xdp-other'), 'edge')).id;
  // What the agent channel registers at start (only `guard` here: `ratelimit` stays unregistered).
  await registerXdpPrograms(tdb.db, [{ name: 'guard', sha256: GUARD_SHA, bytes: GUARD }]);
  const hello = { tenantId: tenant.id, interfaces: [], kernelVersion: '6.1', xdpModes: ['generic', 'native'], agentVersion: 'test', appliedVersion: '' };
  for (const node of ['node-a', 'node-b']) {
    agents[node] = (await registerAgent(tdb.db, { ...hello, nodeName: node, nodeGroup: 'edge', protectedCidrs: ['10.9.0.0/16'], sessionId: `s-${node}` })).id;
  }
  agents['node-lab'] = (await registerAgent(tdb.db, { ...hello, nodeName: 'node-lab', nodeGroup: 'lab', protectedCidrs: [], sessionId: 's-lab' })).id;

  nativeConnection = await NativeConnection.connect({ address: temporal.address });
  connection = await Connection.connect({ address: temporal.address });
  const taskQueue = uniqueTaskQueue('xdp-api');
  worker = await Worker.create({
    connection: nativeConnection,
    namespace: temporal.namespace,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createXdpActivities({ db: tdb.db, pollIntervalMs: 50 }),
  });
  workerRun = worker.run();
  setAppTemporal({ client: new Client({ connection, namespace: temporal.namespace }), connection, taskQueue });
});

after(async () => {
  setAppTemporal(undefined);
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await workerRun?.catch(() => undefined);
  await connection?.close();
  await nativeConnection?.close();
  setAppDb(undefined);
  await tdb?.drop();
  await temporal?.stop();
  rmSync(home, { recursive: true, force: true });
});

/**
 * Plays the agents of a group until stopped: whenever the group's desired version changes, every listed
 * agent reports it applied (or rejected, for versions in `reject`), as the agent channel would record it.
 */
function fakeAgents(nodeGroup: string, nodes: string[], reject: Map<string, string> = new Map()): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    // What is desired when the agents start playing was handled before.
    const done = new Set<string | null>([await findDesiredXdpVersion(tdb.db, tenant.id, nodeGroup)]);
    for (let i = 0; i < 2000 && !stopped; i++) {
      const desired = await findDesiredXdpVersion(tdb.db, tenant.id, nodeGroup);
      if (desired && !done.has(desired)) {
        done.add(desired);
        for (const node of nodes) {
          const error = reject.get(desired);
          await recordApplyResult(tdb.db, agents[node]!, { version: desired, ok: !error, error: error ?? '' });
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/cli.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, HOME: home, PROXYSHARD_URL: '', PROXYSHARD_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('XDP policies over REST', () => {
  test('creating a version stores it (not desired yet) and audits the caller', async () => {
    const res = await call(policiesRoute.POST, { token: opToken, json: { nodeGroup: 'lab', spec: spec(['198.18.50.0/24', '2001:db8:50::/48']) } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const p = res.body.policy;
    assert.equal(p.nodeGroup, 'lab');
    assert.equal(p.seq, 1);
    assert.match(p.version, /^[0-9a-f]{64}$/);
    assert.equal(p.desired, false);
    assert.equal(p.createdBy, 'olga');
    assert.deepEqual(p.bundle, { program: 'guard', programSha256: GUARD_SHA, attachMode: 'generic', interfaces: ['eth0'], denyCidrs: 2, rateLimits: 0, protectedCidrs: [] });
    const audit = await tdb.db.auditEntry.findMany({ where: { tenantId: tenant.id, action: 'xdp_policy.create', targetId: p.id } });
    assert.equal(audit.length, 1);
    assert.equal(audit[0]?.actorName, 'olga');

    const again = await call(policiesRoute.POST, { token: opToken, json: { nodeGroup: 'lab', spec: spec(['198.18.51.0/24']) } });
    assert.equal(again.body.policy.seq, 2);
    const list = await call(policiesRoute.GET, { token: viewerToken, query: { nodeGroup: 'lab' } });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.policies.map((x: { seq: number }) => x.seq), [2, 1], 'newest first');
  });

  test('invalid policies are refused with field paths and write nothing; management CIDRs are never denied', async () => {
    const before = await snapshotDatabase(tdb.db);
    const issuesOf = async (body: unknown) => {
      const res = await call(policiesRoute.POST, { token: opToken, json: body });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'bad_request');
      return res.body.error.issues as { path: string; message: string }[];
    };

    const shape = await issuesOf({ nodeGroup: 'Edge!', spec: { interfaces: [], rules: [{ kind: 'deny', name: 'x', cidr: ['1.2.3.0/24'] }] } });
    assert.deepEqual(shape.map((i) => i.path).sort(), ['nodeGroup', 'spec.interfaces', 'spec.rules[0].cidr', 'spec.rules[0].cidrs'].sort());
    assert.equal(shape.find((i) => i.path === 'spec.rules[0].cidr')?.message, 'unknown field');

    const cidrs = await issuesOf({ nodeGroup: 'edge', spec: spec(['198.18.0.0/15', '198.18.1.1/24', 'not-an-ip']) });
    assert.deepEqual(cidrs.map((i) => i.path), ['spec.rules[0].cidrs[1]', 'spec.rules[0].cidrs[2]']);
    assert.match(cidrs[0]!.message, /host bits are set \(did you mean 198\.18\.1\.0\/24\?\)/);

    // The policy's own protected list…
    const own = await issuesOf({ nodeGroup: 'lab', spec: spec(['198.18.200.0/25'], { protectedCidrs: ['198.18.200.0/24'] }) });
    assert.deepEqual(own.map((i) => i.path), ['spec.rules[0].cidrs[0]']);
    assert.match(own[0]!.message, /overlaps the protected management CIDR 198\.18\.200\.0\/24/);
    // …and what the group's agents are configured with (node-a/node-b protect 10.9.0.0/16).
    const agentsOwn = await issuesOf({ nodeGroup: 'edge', spec: spec(['10.0.0.0/8']) });
    assert.deepEqual(agentsOwn.map((i) => i.path), ['spec.rules[0].cidrs[0]']);
    assert.match(agentsOwn[0]!.message, /10\.9\.0\.0\/16 \(an agent-configured management CIDR\)/);

    const unbuilt = await issuesOf({ nodeGroup: 'lab', spec: spec(['198.18.9.0/24'], { program: 'ratelimit' }) });
    assert.deepEqual(unbuilt.map((i) => i.path), ['spec.program']);
    assert.match(unbuilt[0]!.message, /no build of XDP program "ratelimit" is registered/);

    assert.deepEqual(await snapshotDatabase(tdb.db), before, 'a refused policy writes nothing');
  });

  test('a viewer may list agents and policies but neither create nor publish', async () => {
    const created = await call(policiesRoute.POST, { token: viewerToken, json: { nodeGroup: 'lab', spec: spec(['198.18.52.0/24']) } });
    assert.equal(created.status, 403);
    const some = (await call(policiesRoute.GET, { token: viewerToken })).body.policies[0].id as string;
    const published = await call(publishRoute.POST, { token: viewerToken, params: { id: some }, json: {} });
    assert.equal(published.status, 403);
    assert.match(published.body.error.message, /viewer/);
    assert.equal((await call(agentsRoute.GET, { token: viewerToken })).status, 200);
  });

  test("another tenant's policy and garbage ids are not_found (before Temporal is asked)", async () => {
    for (const id of [otherTenantPolicy, '00000000-0000-4000-8000-000000000000', 'nope']) {
      const res = await call(publishRoute.POST, { token: opToken, params: { id }, json: { wait: true } });
      assert.equal(res.status, 404, id);
      assert.equal(res.body.error.message, 'XDP policy not found');
    }
  });

  test('publishing waits for every connected agent of the group and shows them in sync; a rejection is reported', async () => {
    const created = await call(policiesRoute.POST, { token: opToken, json: { nodeGroup: 'edge', spec: spec(['198.18.60.0/24']) } });
    const policy = created.body.policy;
    const agentsPlay = fakeAgents('edge', ['node-a', 'node-b']);
    let res;
    try {
      res = await call(publishRoute.POST, { token: opToken, params: { id: policy.id }, json: { wait: true, ackTimeoutMs: 20_000 } });
    } finally {
      await agentsPlay.stop();
    }
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.push.status, 'completed');
    assert.equal(res.body.push.workflowId, `xdp-push:${tenant.id}:edge:${policy.id}`);
    assert.deepEqual(res.body.push.result.agentsAcked.map((a: { nodeName: string }) => a.nodeName), ['node-a', 'node-b']);
    assert.equal(res.body.push.result.version, policy.version);

    await recordCounters(tdb.db, agents['node-a']!, [{ slot: 16, name: 'bad-net', interface: 'eth0', matchPackets: 7, matchBytes: 420, dropPackets: 7, dropBytes: 420 }]);
    const view = await call(agentsRoute.GET, { token: viewerToken, query: { nodeGroup: 'edge' } });
    assert.deepEqual(
      view.body.agents.map((a: { nodeName: string; appliedVersion: string; desiredVersion: string; inSync: boolean; connected: boolean }) => [a.nodeName, a.connected, a.appliedVersion, a.desiredVersion, a.inSync]),
      [
        ['node-a', true, policy.version, policy.version, true],
        ['node-b', true, policy.version, policy.version, true],
      ],
    );
    assert.equal(view.body.agents[0].counters[0].dropPackets, 7);
    const listed = await call(policiesRoute.GET, { token: viewerToken, query: { nodeGroup: 'edge' } });
    assert.deepEqual(listed.body.policies.map((p: { id: string; desired: boolean }) => [p.id, p.desired]), [[policy.id, true]]);
    const pushAudit = await tdb.db.auditEntry.findMany({ where: { tenantId: tenant.id, action: 'xdp_policy.push', targetId: policy.id } });
    assert.deepEqual(pushAudit.map((a) => a.actorName), ['olga'], 'the push is audited with the caller as actor');

    // A version an agent rejects: the workflow fails with the agent's error; the agent keeps the old version.
    const bad = (await call(policiesRoute.POST, { token: opToken, json: { nodeGroup: 'edge', spec: spec(['198.18.61.0/24']) } })).body.policy;
    const verifier = 'bpftool prog load: R1 invalid mem access (verifier log follows)';
    const rejecting = fakeAgents('edge', ['node-b'], new Map([[bad.version, verifier]]));
    try {
      res = await call(publishRoute.POST, { token: opToken, params: { id: bad.id }, json: { wait: true, ackTimeoutMs: 20_000 } });
    } finally {
      await rejecting.stop();
    }
    assert.equal(res.status, 200);
    assert.equal(res.body.push.status, 'rejected');
    assert.equal(res.body.push.error.type, 'XdpAgentRejected');
    assert.match(res.body.push.error.message, /agent node-b .* rejected/);
    assert.ok(res.body.push.error.message.includes(verifier));
    const after = await call(agentsRoute.GET, { token: viewerToken, query: { nodeGroup: 'edge' } });
    const b = after.body.agents.find((a: { nodeName: string }) => a.nodeName === 'node-b');
    assert.equal(b.appliedVersion, policy.version);
    assert.equal(b.failedVersion, bad.version);
    assert.equal(b.lastError, verifier);
    assert.equal(b.inSync, false);
  });

  test('without waiting, publish answers 202 with the workflow id at once', async () => {
    const p = (await call(policiesRoute.POST, { token: opToken, json: { nodeGroup: 'nobody-here', spec: spec(['198.18.70.0/24']) } })).body.policy;
    const res = await call(publishRoute.POST, { token: opToken, params: { id: p.id }, json: {} });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.push.status, 'running');
    const handle = new Client({ connection, namespace: temporal.namespace }).workflow.getHandle(res.body.push.workflowId);
    const result = await handle.result();
    assert.equal(result.outcome, 'noAgents', 'a group without connected agents completes at once');
  });
});

describe('XDP CLI', () => {
  let server: { url: string; close(): Promise<void> };
  before(async () => {
    server = await startApiServer(await discoverRoutes());
    const login = await cli(['login', '--url', server.url, '--token', opToken]);
    assert.equal(login.code, 0, login.stderr);
  });
  after(async () => server?.close());

  test('xdp create (YAML), xdp policies, xdp publish, agents', async () => {
    const file = join(home, 'rules.yaml');
    writeFileSync(file, ['interfaces: [eth0]', 'rules:', '  - kind: deny', '    name: scanners', '    cidrs: ["198.18.80.0/24", "2001:db8:80::/48"]', '  - kind: rateLimit', '    name: dns', '    protocol: udp', '    port: 53', '    ratePps: 100', '    burst: 20', ''].join('\n'));
    const created = await cli(['xdp', 'create', '-f', file, '--node-group', 'edge']);
    assert.equal(created.code, 0, created.stderr);
    const id = /created XDP policy ([0-9a-f-]{36}) \(node group edge, #(\d+)/.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);

    const listed = await cli(['xdp', 'policies', '--node-group', 'edge']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^ID\s+GROUP\s+SEQ\s+VERSION\s+PROGRAM\s+RULES/);
    assert.match(listed.stdout, new RegExp(`${id}\\s+edge\\s+\\d+\\s+[0-9a-f]{12}\\s+guard/generic\\s+2 \\(2 CIDRs, 1 limits\\)`));

    const play = fakeAgents('edge', ['node-a', 'node-b']);
    let published;
    try {
      published = await cli(['xdp', 'publish', id!, '--ack-timeout-ms', '20000']);
    } finally {
      await play.stop();
    }
    assert.equal(published.code, 0, published.stderr);
    assert.match(published.stdout, /→ node group edge: applied by 2 agents \(node-a, node-b\)/);
    assert.match((await cli(['xdp', 'policies', '--node-group', 'edge'])).stdout, new RegExp(`${id}\\s+edge\\s+\\*\\d+`), 'marked as desired');

    const shown = await cli(['agents', '--node-group', 'edge']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^NODE\s+GROUP\s+STATE\s+LAST SEEN\s+APPLIED\s+DESIRED\s+IN SYNC/);
    assert.match(shown.stdout, /node-a\s+edge\s+connected\s+\S+\s+([0-9a-f]{12})\s+\1\s+yes/);
    assert.match(shown.stdout, /node-a eth0 bad-net: matched 7, dropped 7/);
    const json = JSON.parse((await cli(['agents', '--json'])).stdout);
    assert.deepEqual(json.agents.map((a: { nodeName: string }) => a.nodeName), ['node-a', 'node-b', 'node-lab']);
  });

  test('validation issues are printed with their paths (exit 1); usage errors exit 2', async () => {
    const file = join(home, 'bad.json');
    writeFileSync(file, JSON.stringify(spec(['10.9.8.0/24'])));
    const refused = await cli(['xdp', 'create', '-f', file, '--node-group', 'edge']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /400 bad_request/);
    assert.match(refused.stderr, /\n {2}spec\.rules\[0\]\.cidrs\[0\]: 10\.9\.8\.0\/24 overlaps the protected management CIDR 10\.9\.0\.0\/16/);

    assert.equal((await cli(['xdp', 'create', '--node-group', 'edge'])).code, 2);
    assert.equal((await cli(['xdp', 'publish'])).code, 2);
    const missing = await cli(['xdp', 'create', '-f', join(home, 'nope.yaml'), '--node-group', 'edge']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read/);
    const notFound = await cli(['xdp', 'publish', otherTenantPolicy]);
    assert.equal(notFound.code, 1);
    assert.match(notFound.stderr, /404 not_found: XDP policy not found/);
  });
});
