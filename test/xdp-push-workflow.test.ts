/**
 * pushXdpPolicyWorkflow end to end: the real Temporal dev server, a worker with the real XDP activities,
 * real PostgreSQL, the real agent channel (gRPC on a unix socket) and a real agent process inside a node
 * network namespace, checked with real packets on a veth pair (198.18.0.0/15). A second node group has an
 * agent row that is connected but never answers (as if its agent hung), for the timeout and
 * superseded cases.
 * PS_RECORD_HISTORIES=1 records the histories replayed by test/publish-workflow.replay.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { pushXdpPolicyWorkflowId, XDP_PUSH_STATUS_QUERY, type XdpPushStatus } from '../contracts/workflows.schema';
import { XdpFailureType, type XdpPolicySpecInput } from '../contracts/xdp.schema';
import { listAgentStatuses, markAgentDisconnected, registerAgent } from '../server/db/agent.repo';
import { createTenant } from '../server/db/tenant.repo';
import { createXdpPolicyAs } from '../server/services/xdp.service';
import { getXdpPushStatus, startPushXdpPolicy, type ProxyShardTemporal } from '../server/temporal/client';
import { startAgentChannelServer } from '../workers/agents/agent-channel.server';
import { createProgramStore } from '../workers/agents/program-store';
import { createXdpActivities } from '../workers/xdp.activities';
import { xdpPushStatusQuery } from '../workflows/xdp-push.workflow';
import { createTestDatabase, type TestDatabase } from './support/db';
import { maybeRecordHistory } from './support/histories';
import { getTestTemporal, installQuietTemporalRuntime, uniqueTaskQueue, workflowBundle, type TestTemporal } from './support/temporal';
import {
  attachedProgram,
  buildPktTool,
  cleanupLab,
  countFrom,
  createPair,
  ensureBpffs,
  sendPackets,
  sleep,
  startAgent,
  startReceiver,
  waitFor,
  type AgentProcess,
  type Pair,
} from './tools/xdp-lab';

const PREFIX = 'psxwf';
const GROUP = 'edge';
const GHOST_GROUP = 'ghost';
const PORT = 9000;
const ACTOR = { type: 'user' as const, id: 'u-xdp', name: 'xavier' };

describe('pushXdpPolicyWorkflow with a real agent', () => {
  let tdb: TestDatabase;
  let temporal: TestTemporal;
  let nativeConnection: NativeConnection;
  let connection: Connection;
  let worker: Worker;
  let workerRun: Promise<void>;
  let t: ProxyShardTemporal;
  let tenantId: string;
  let tool: string;
  let pair: Pair;
  let work: string;
  let channel: Awaited<ReturnType<typeof startAgentChannelServer>> | undefined;
  let agent: AgentProcess | undefined;
  let ghost: { id: string; sessionId: string };
  const programs = createProgramStore();

  const spec = (rules: XdpPolicySpecInput['rules'] = [], iface = pair.nodeIf): XdpPolicySpecInput => ({ interfaces: [iface], rules });
  const create = (nodeGroup: string, s: XdpPolicySpecInput) => createXdpPolicyAs(tdb.db, tenantId, ACTOR, { nodeGroup, spec: s }, programs);

  /** Packets per source that reached the node (UDP receiver in the node namespace). */
  const traffic = async (sources: string[]) => {
    const rx = await startReceiver(tool, [pair.nodeNs], PORT);
    let got;
    try {
      await Promise.all(sources.map((src) => sendPackets(tool, pair, { src, dst: pair.nodeV4, dport: PORT, count: 100, pps: 2000 })));
      await sleep(150);
    } finally {
      got = await rx.stop();
    }
    return sources.map((src) => countFrom(got, pair.nodeNs, src));
  };

  const failureOf = async (p: Promise<unknown>): Promise<ApplicationFailure> => {
    const err = await p.then(
      () => assert.fail('the workflow completed; expected it to fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${String(err)}`);
    assert.ok(err.cause instanceof ApplicationFailure, `expected an ApplicationFailure cause, got ${String(err.cause)}`);
    return err.cause;
  };

  before(async () => {
    installQuietTemporalRuntime();
    ensureBpffs();
    cleanupLab(PREFIX);
    tool = buildPktTool();
    work = mkdtempSync(join(tmpdir(), `${PREFIX}-`));
    [tdb, temporal] = await Promise.all([createTestDatabase(), getTestTemporal()]);
    tenantId = (await createTenant(tdb.db, { slug: 'xdp-wf', name: 'XDP workflow' })).id;
    pair = createPair(PREFIX, 0);
    const socket = join(work, 'agent-channel.sock');
    channel = await startAgentChannelServer({
      db: tdb.db,
      log: pino({ level: 'silent' }),
      databaseUrl: tdb.url,
      address: `unix:${socket}`,
      programs,
      reportIntervalMs: 300,
      resyncIntervalMs: 1000,
    });
    agent = startAgent({
      nodeNs: pair.nodeNs,
      controlPlane: `unix:${socket}`,
      tenant: 'xdp-wf',
      nodeName: 'node-0',
      nodeGroup: GROUP,
      pinRoot: `/sys/fs/bpf/${PREFIX}/node-0`,
      stateDir: join(work, 'agent-state'),
      protect: ['198.18.200.0/24'],
      reportIntervalMs: 300,
    });
    // A connected agent row of another group whose agent never answers.
    ghost = { id: '', sessionId: 'ghost-session' };
    ghost.id = (
      await registerAgent(tdb.db, {
        tenantId,
        nodeName: 'ghost-0',
        nodeGroup: GHOST_GROUP,
        interfaces: [],
        kernelVersion: '6',
        xdpModes: ['generic'],
        agentVersion: 'none',
        protectedCidrs: [],
        appliedVersion: '',
        sessionId: ghost.sessionId,
      })
    ).id;

    nativeConnection = await NativeConnection.connect({ address: temporal.address });
    connection = await Connection.connect({ address: temporal.address });
    const taskQueue = uniqueTaskQueue('xdp-push');
    worker = await Worker.create({
      connection: nativeConnection,
      namespace: temporal.namespace,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createXdpActivities({ db: tdb.db, pollIntervalMs: 50 }),
    });
    workerRun = worker.run();
    t = { client: new Client({ connection, namespace: temporal.namespace }), connection, taskQueue };
    await waitFor('agent registered', async () => (await listAgentStatuses(tdb.db, tenantId, { nodeGroup: GROUP })).find((a) => a.connected), 60_000, 200);
  });

  after(async () => {
    await agent?.kill('SIGKILL');
    await channel?.stop();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun?.catch(() => undefined);
    await connection?.close();
    await nativeConnection?.close();
    cleanupLab(PREFIX);
    await tdb?.drop();
    await temporal?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('pushes a deny rule, waits until the agent enforces it, and packets prove it', async () => {
    const policy = await create(GROUP, spec([{ kind: 'deny', name: 'deny-scanners', cidrs: ['198.19.40.0/24'] }]));
    const handle = await startPushXdpPolicy(t, { tenantId, nodeGroup: GROUP, policyId: policy.id, actor: ACTOR, ackTimeoutMs: 30_000 });
    assert.equal(handle.workflowId, pushXdpPolicyWorkflowId({ tenantId, nodeGroup: GROUP, policyId: policy.id }));
    const again = await startPushXdpPolicy(t, { tenantId, nodeGroup: GROUP, policyId: policy.id, actor: ACTOR, ackTimeoutMs: 30_000 });
    assert.equal(again.firstExecutionRunId, handle.firstExecutionRunId, 'starting the same push while it runs attaches to it');

    const result = await handle.result();
    assert.deepEqual(
      { ...result, agentsAcked: result.agentsAcked.map((a) => a.nodeName) },
      { tenantId, nodeGroup: GROUP, policyId: policy.id, version: policy.version, changed: true, outcome: 'acked', agentsAcked: ['node-0'] },
    );
    const status = await getXdpPushStatus(t, { tenantId, nodeGroup: GROUP, policyId: policy.id });
    assert.equal(xdpPushStatusQuery.name, XDP_PUSH_STATUS_QUERY);
    assert.deepEqual(status, { phase: 'completed', tenantId, nodeGroup: GROUP, policyId: policy.id, version: policy.version, agentsAcked: 1, agentsPending: 0 });
    const row = (await listAgentStatuses(tdb.db, tenantId, { nodeGroup: GROUP }))[0]!;
    assert.equal(row.appliedVersion, policy.version);
    assert.ok(attachedProgram(pair.nodeNs, pair.nodeIf).id > 0);

    const [denied, other] = await traffic(['198.19.40.9', '198.19.41.9']);
    assert.equal(denied, 0, 'the denied source is dropped');
    assert.equal(other, 100, 'another source passes');
    await maybeRecordHistory(handle, 'xdp-push.ack');
  });

  it('a bundle the agent rejects fails the workflow with the agent’s error; the previous rules keep running', async () => {
    const before = attachedProgram(pair.nodeNs, pair.nodeIf);
    const bad = await create(GROUP, spec([{ kind: 'deny', name: 'elsewhere', cidrs: ['198.19.42.0/24'] }], 'nosuch0'));
    const handle = await startPushXdpPolicy(t, { tenantId, nodeGroup: GROUP, policyId: bad.id, actor: ACTOR, ackTimeoutMs: 30_000 });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, XdpFailureType.agentRejected);
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /agent node-0 in node group edge rejected XDP bundle/);
    assert.match(failure.message, /unknown interface\(s\) on this node: nosuch0/);
    const detail = failure.details?.[0] as { failed: { nodeName: string; error: string }[] };
    assert.deepEqual(detail.failed.map((f) => f.nodeName), ['node-0']);
    assert.equal((await handle.query(xdpPushStatusQuery)).phase, 'rejected');

    assert.equal(attachedProgram(pair.nodeNs, pair.nodeIf).id, before.id, 'the previous program stays attached');
    const [denied, other] = await traffic(['198.19.40.9', '198.19.41.9']);
    assert.equal(denied, 0, 'the previous deny rule is still enforced');
    assert.equal(other, 100);
    await maybeRecordHistory(handle, 'xdp-push.rejected');
  });

  it('agents that do not apply in time fail it with XdpAckTimeout naming them', async () => {
    const policy = await create(GHOST_GROUP, spec([], 'eth0'));
    const started = Date.now();
    const handle = await startPushXdpPolicy(t, { tenantId, nodeGroup: GHOST_GROUP, policyId: policy.id, actor: ACTOR, ackTimeoutMs: 1_500 });
    const failure = await failureOf(handle.result());
    assert.ok(Date.now() - started >= 1_500, 'not before the ACK timeout');
    assert.equal(failure.type, XdpFailureType.ackTimeout);
    assert.match(failure.message, /node group ghost: 1 agents did not apply XDP version [0-9a-f]{64} within 1500 ms \(ghost-0\)/);
    const status = await handle.query(xdpPushStatusQuery);
    assert.equal(status.phase, 'timedOut');
    assert.equal(status.agentsPending, 1);
    await maybeRecordHistory(handle, 'xdp-push.timeout');
  });

  it('a newer push to the same group supersedes one still waiting; re-publishing a closed push runs it again', async () => {
    const first = await create(GHOST_GROUP, spec([{ kind: 'deny', name: 'one', cidrs: ['198.19.43.0/24'] }], 'eth0'));
    const second = await create(GHOST_GROUP, spec([{ kind: 'deny', name: 'two', cidrs: ['198.19.44.0/24'] }], 'eth0'));
    const h1 = await startPushXdpPolicy(t, { tenantId, nodeGroup: GHOST_GROUP, policyId: first.id, actor: ACTOR, ackTimeoutMs: 60_000 });
    await waitFor('first push waiting for ACKs', async () => (await h1.query<XdpPushStatus>(XDP_PUSH_STATUS_QUERY)).phase === 'awaitingAck', 20_000, 100);
    const h2 = await startPushXdpPolicy(t, { tenantId, nodeGroup: GHOST_GROUP, policyId: second.id, actor: ACTOR, ackTimeoutMs: 1_000 });
    const r1 = await h1.result();
    assert.equal(r1.outcome, 'superseded');
    assert.equal(r1.version, first.version);
    assert.equal((await h1.query(xdpPushStatusQuery)).phase, 'superseded');
    assert.equal((await failureOf(h2.result())).type, XdpFailureType.ackTimeout);
    await maybeRecordHistory(h1, 'xdp-push.superseded');

    // The ghost goes away: pushing the first version again (a rollback) runs a new workflow and completes.
    await markAgentDisconnected(tdb.db, ghost.id, ghost.sessionId);
    const h3 = await startPushXdpPolicy(t, { tenantId, nodeGroup: GHOST_GROUP, policyId: first.id, actor: ACTOR, ackTimeoutMs: 5_000 });
    assert.notEqual(h3.firstExecutionRunId, h1.firstExecutionRunId);
    const r3 = await h3.result();
    assert.equal(r3.outcome, 'noAgents');
    assert.equal(r3.changed, true, 'the first version is desired again');
  });
});
