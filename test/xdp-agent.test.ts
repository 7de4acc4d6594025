/**
 * End to end: a real agent process (agents/src/main.ts, inside a node network namespace) on a real gRPC
 * agent channel (workers/agents/agent-channel.server.ts, unix socket) with real PostgreSQL; policies are
 * created with xdp.service, pushed and awaited with the XDP activities; packets are real (xdp-pkt on a
 * veth pair, addresses in 198.18.0.0/15 and 2001:db8::/32).
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { buildXdpProgram } from '../agents/build';
import type { AwaitAgentAckResult, XdpPolicySpecInput } from '../contracts/xdp.schema';
import { compileXdpPolicy } from '../core/xdp/compile';
import { findAgentStatus, listAgentStatuses } from '../server/db/agent.repo';
import { createTenant } from '../server/db/tenant.repo';
import { insertXdpPolicyVersion } from '../server/db/xdp-policy.repo';
import { isAppError } from '../server/errors';
import { createXdpPolicyAs } from '../server/services/xdp.service';
import { createProgramStore } from '../workers/agents/program-store';
import { startAgentChannelServer } from '../workers/agents/agent-channel.server';
import { createXdpActivities } from '../workers/xdp.activities';
import { createTestDatabase, type TestDatabase } from './support/db';
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
  type SendOptions,
} from './tools/xdp-lab';

const PREFIX = 'psxagt';
const GROUP = 'edge';
const PORT = 9000;
const MGMT = '198.18.200.0/24';
const actor = { type: 'system' as const, id: 'xdp-test', name: 'xdp-test' };

describe('XDP agent + control plane, real packets', () => {
  let tdb: TestDatabase;
  let tenantId: string;
  let tool: string;
  let pair: Pair;
  let work: string;
  let socket: string;
  let server: Awaited<ReturnType<typeof startAgentChannelServer>> | undefined;
  let agent: AgentProcess | undefined;
  const programs = createProgramStore();
  const mockEnv = new MockActivityEnvironment();
  const env = { run: <A, R>(fn: (a: A) => Promise<R>, a: A): Promise<R> => mockEnv.run(fn, a) as Promise<R> };
  let activities: ReturnType<typeof createXdpActivities>;

  const agentOpts = () => ({
    nodeNs: pair.nodeNs,
    controlPlane: `unix:${socket}`,
    tenant: 'xdp-lab',
    nodeName: 'node-0',
    nodeGroup: GROUP,
    pinRoot: `/sys/fs/bpf/${PREFIX}/node-0`,
    stateDir: join(work, 'agent-state'),
    protect: [MGMT],
    reportIntervalMs: 300,
  });

  const startServer = async () => {
    server = await startAgentChannelServer({
      db: tdb.db,
      log: pino({ level: 'silent' }),
      databaseUrl: tdb.url,
      address: `unix:${socket}`,
      programs,
      reportIntervalMs: 300,
      resyncIntervalMs: 1000,
    });
  };

  const baseSpec = (rules: XdpPolicySpecInput['rules'] = [], extra: Partial<XdpPolicySpecInput> = {}): XdpPolicySpecInput => ({
    interfaces: [pair.nodeIf],
    rules,
    ...extra,
  });

  /** create → pushXdpBundle → awaitAgentAck; returns the version and timings. */
  const push = async (spec: XdpPolicySpecInput) => {
    const policy = await createXdpPolicyAs(tdb.db, tenantId, actor, { nodeGroup: GROUP, spec }, programs);
    const t0 = Date.now();
    const pushed = await env.run(activities.pushXdpBundle, { tenantId, nodeGroup: GROUP, policyId: policy.id, actor });
    const ack = (await env.run(activities.awaitAgentAck, { tenantId, nodeGroup: GROUP, version: pushed.version, timeoutMs: 20_000 })) as AwaitAgentAckResult;
    return { policy, version: pushed.version, pushedAt: t0, ackMs: Date.now() - t0, ack };
  };

  /** Sends from each source and returns how many arrived per source. */
  const traffic = async (sends: SendOptions[]) => {
    const rx = await startReceiver(tool, [pair.nodeNs], PORT);
    let got;
    try {
      await Promise.all(sends.map((s) => sendPackets(tool, pair, { dport: PORT, ...s })));
      await sleep(150);
    } finally {
      got = await rx.stop();
    }
    return sends.map((s) => countFrom(got, pair.nodeNs, s.src));
  };

  const agentRow = () => waitFor('agent row', async () => (await listAgentStatuses(tdb.db, tenantId))[0]);
  const counter = async (rule: string) => {
    const a = await agentRow();
    return a.counters.find((c) => c.name === rule);
  };

  before(async () => {
    ensureBpffs();
    cleanupLab(PREFIX);
    tool = buildPktTool();
    work = mkdtempSync(join(tmpdir(), `${PREFIX}-`));
    socket = join(work, 'agent-channel.sock');
    tdb = await createTestDatabase();
    tenantId = (await createTenant(tdb.db, { slug: 'xdp-lab', name: 'XDP lab' })).id;
    activities = createXdpActivities({ db: tdb.db, pollIntervalMs: 20 });
    pair = createPair(PREFIX, 0);
    await startServer();
    agent = startAgent(agentOpts());
    await waitFor('agent registered', async () => (await listAgentStatuses(tdb.db, tenantId)).find((a) => a.connected), 60_000, 200);
  });

  after(async () => {
    await agent?.kill('SIGKILL');
    await server?.stop();
    cleanupLab(PREFIX);
    await tdb?.drop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('registers with node name, interfaces, kernel version and XDP modes, then applies the first bundle in generic mode', async () => {
    const a = await agentRow();
    assert.equal(a.nodeName, 'node-0');
    assert.equal(a.nodeGroup, GROUP);
    assert.ok(a.interfaces.some((i) => i.name === pair.nodeIf));
    assert.match(a.kernelVersion, /^\d+\.\d+/);
    assert.deepEqual(a.xdpModes, ['generic', 'native']);
    assert.deepEqual(a.protectedCidrs, [MGMT]);
    const r = await push(baseSpec());
    assert.equal(r.ack.outcome, 'acked');
    const attached = attachedProgram(pair.nodeNs, pair.nodeIf);
    assert.ok(attached.id > 0);
    assert.equal(attached.mode, 2, 'xdpgeneric');
    assert.equal((await agentRow()).appliedVersion, r.version);
  });

  it('IPv4 deny: the CIDR is dropped and its counter rises, another source passes; removing the rule restores traffic', async () => {
    await push(baseSpec([{ kind: 'deny', name: 'deny-v4', cidrs: ['198.19.10.0/24'] }]));
    const [denied, other] = await traffic([
      { src: '198.19.10.7', dst: pair.nodeV4, count: 200, pps: 2000 },
      { src: '198.19.11.7', dst: pair.nodeV4, count: 200, pps: 2000 },
    ]);
    assert.equal(denied, 0);
    assert.equal(other, 200);
    const c = await waitFor('deny-v4 counter report', async () => {
      const x = await counter('deny-v4');
      return x && x.dropPackets >= 200 ? x : undefined;
    });
    assert.equal(c.dropPackets, 200);

    await push(baseSpec());
    const [restored] = await traffic([{ src: '198.19.10.7', dst: pair.nodeV4, count: 200, pps: 2000 }]);
    assert.equal(restored, 200);
  });

  it('the agent serves /healthz and Prometheus /metrics with its rule counters', async () => {
    await push(baseSpec([{ kind: 'deny', name: 'deny-metrics', cidrs: ['198.19.12.0/24'] }]));
    const [denied] = await traffic([{ src: '198.19.12.7', dst: pair.nodeV4, count: 50, pps: 2000 }]);
    assert.equal(denied, 0);
    // The agent listens on the node's own loopback (inside its network namespace).
    const get = (path: string) =>
      execFileSync('nsenter', [`--net=/run/netns/${pair.nodeNs}`, 'curl', '-sf', `http://127.0.0.1:18006${path}`], { encoding: 'utf8' });
    const health = JSON.parse(get('/healthz')) as { controlPlane: string; appliedVersion: string };
    assert.equal(health.controlPlane, 'connected');
    assert.notEqual(health.appliedVersion, '');
    const metrics = get('/metrics');
    assert.match(metrics, /^proxyshard_agent_control_plane_connected 1$/m);
    assert.match(metrics, /^proxyshard_agent_rule_dropped_packets\{interface="[^"]+",rule="deny-metrics"\} 50$/m);
    await push(baseSpec());
  });

  it('IPv6 deny: the same', async () => {
    await push(baseSpec([{ kind: 'deny', name: 'deny-v6', cidrs: ['2001:db8:ff::/48'] }]));
    const [denied, other] = await traffic([
      { src: '2001:db8:ff::7', dst: pair.nodeV6, count: 200, pps: 2000 },
      { src: '2001:db8:fe::7', dst: pair.nodeV6, count: 200, pps: 2000 },
    ]);
    assert.equal(denied, 0);
    assert.equal(other, 200);
    const c = await waitFor('deny-v6 counter', async () => {
      const x = await counter('deny-v6');
      return x && x.dropPackets >= 200 ? x : undefined;
    });
    assert.equal(c.dropPackets, 200);
    await push(baseSpec());
    const [restored] = await traffic([{ src: '2001:db8:ff::7', dst: pair.nodeV6, count: 200, pps: 2000 }]);
    assert.equal(restored, 200);
  });

  it('rate limit: a sender above the limit gets through at the configured rate ±10%, one below it and a management address are untouched', async () => {
    const ratePps = 1000;
    const burst = 100;
    await push(baseSpec([{ kind: 'rateLimit', name: 'udp-9000', protocol: 'udp', port: PORT, ratePps, burst }]));
    const rx = await startReceiver(tool, [pair.nodeNs], PORT);
    let got;
    let fast;
    let slow;
    let mgmt;
    try {
      [fast, slow, mgmt] = await Promise.all([
        sendPackets(tool, pair, { src: '198.19.20.1', dst: pair.nodeV4, dport: PORT, count: 6000, pps: 3000, durationMs: 4000 }),
        sendPackets(tool, pair, { src: '198.19.20.2', dst: pair.nodeV4, dport: PORT, count: 400, pps: 200, durationMs: 4000 }),
        sendPackets(tool, pair, { src: '198.18.200.9', dst: pair.nodeV4, dport: PORT, count: 6000, pps: 3000, durationMs: 4000 }),
      ]);
      await sleep(200);
    } finally {
      got = await rx.stop();
    }
    const fastRx = countFrom(got, pair.nodeNs, '198.19.20.1');
    const seconds = fast.elapsed_ns / 1e9;
    const measured = (fastRx - burst) / seconds;
    console.log(`rate limit: configured ${ratePps} pps, measured ${measured.toFixed(1)} pps (${fastRx} of ${fast.sent} in ${seconds.toFixed(3)} s)`);
    assert.ok(Math.abs(measured - ratePps) <= 0.1 * ratePps, `measured ${measured} pps, configured ${ratePps} ± 10%`);
    assert.equal(countFrom(got, pair.nodeNs, '198.19.20.2'), slow.sent, 'the slow sender loses nothing');
    assert.equal(countFrom(got, pair.nodeNs, '198.18.200.9'), mgmt.sent, 'the protected management source is never rate limited');
    const c = await waitFor('rate-limit counter', async () => {
      const x = await counter('udp-9000');
      return x && x.dropPackets >= fast.sent - fastRx ? x : undefined;
    });
    assert.equal(c.dropPackets, fast.sent - fastRx);
  });

  it('push → enforced: a new deny rule stops a running flow soon after the push (measured end to end)', async () => {
    await push(baseSpec());
    const src = '198.19.30.1';
    const rx = await startReceiver(tool, [pair.nodeNs], PORT);
    let got;
    let pushedAt: number;
    let ackMs: number;
    try {
      const sending = sendPackets(tool, pair, { src, dst: pair.nodeV4, count: 20_000, pps: 5000, durationMs: 4000 });
      await sleep(800);
      const policy = await createXdpPolicyAs(tdb.db, tenantId, actor, { nodeGroup: GROUP, spec: baseSpec([{ kind: 'deny', name: 'stop-flow', cidrs: ['198.19.30.0/24'] }]) }, programs);
      pushedAt = Date.now();
      const pushed = await env.run(activities.pushXdpBundle, { tenantId, nodeGroup: GROUP, policyId: policy.id, actor });
      await env.run(activities.awaitAgentAck, { tenantId, nodeGroup: GROUP, version: pushed.version, timeoutMs: 20_000 });
      ackMs = Date.now() - pushedAt;
      await sending;
    } finally {
      got = await rx.stop();
    }
    const s = got.sources[`${pair.nodeNs}|${src}`];
    assert.ok(s && s.count > 0, 'the flow arrived before the push');
    const enforcedMs = s.last_ns / 1e6 - pushedAt;
    const applied = agent!.logs.filter((l) => l.includes('bundle applied')).pop();
    console.log(`push → enforced: ${enforcedMs.toFixed(1)} ms (last packet after the push), push → ACK recorded: ${ackMs} ms; agent: ${applied?.match(/"ms":\d+/)?.[0]}`);
    // generous bound (machine-independent): the flow stops long before the sender ends (3.2 s after the push)
    assert.ok(enforcedMs < 2000, `flow still arrived ${enforcedMs} ms after the push`);
  });

  it('an invalid bundle (verifier rejection) is reported and the previous program keeps running', async () => {
    const good = await push(baseSpec([{ kind: 'deny', name: 'keep-me', cidrs: ['198.19.50.0/24'] }]));
    const before = attachedProgram(pair.nodeNs, pair.nodeIf);
    const bad = buildXdpProgram('bad-xdp', { dir: join(import.meta.dirname, 'tools') });
    programs.add(bad);
    const compiled = compileXdpPolicy(baseSpec([{ kind: 'deny', name: 'keep-me', cidrs: ['198.19.50.0/24'] }], { countOnly: true }), {
      programSha256: bad.sha256,
    });
    assert.ok(compiled.ok);
    const row = await insertXdpPolicyVersion(tdb.db, {
      tenantId,
      nodeGroup: GROUP,
      spec: { program: 'guard', attachMode: 'generic', interfaces: [pair.nodeIf], countOnly: true, protectedCidrs: [], rules: [] },
      bundle: compiled.bundle,
      createdBy: 'test',
    });
    const pushed = await env.run(activities.pushXdpBundle, { tenantId, nodeGroup: GROUP, policyId: row.id, actor });
    await assert.rejects(
      env.run(activities.awaitAgentAck, { tenantId, nodeGroup: GROUP, version: pushed.version, timeoutMs: 20_000 }),
      (err: Error) => /rejected XDP bundle/.test(err.message) && /bpftool prog load|verifier|invalid|Permission denied/i.test(err.message),
    );
    const a = await agentRow();
    assert.equal(a.appliedVersion, good.version);
    assert.equal(a.failedVersion, pushed.version);
    assert.ok(a.lastError && a.lastError.length > 0);
    assert.deepEqual(attachedProgram(pair.nodeNs, pair.nodeIf), before, 'same program still attached');
    const [denied] = await traffic([{ src: '198.19.50.1', dst: pair.nodeV4, count: 100, pps: 2000 }]);
    assert.equal(denied, 0, 'previous rules still enforced');
  });

  it('an unknown interface is reported and the previous program keeps running', async () => {
    const good = await push(baseSpec([{ kind: 'deny', name: 'keep-me', cidrs: ['198.19.50.0/24'] }]));
    const before = attachedProgram(pair.nodeNs, pair.nodeIf);
    const policy = await createXdpPolicyAs(tdb.db, tenantId, actor, { nodeGroup: GROUP, spec: baseSpec([], { interfaces: [pair.nodeIf, 'nosuch0'] }) }, programs);
    const pushed = await env.run(activities.pushXdpBundle, { tenantId, nodeGroup: GROUP, policyId: policy.id, actor });
    await assert.rejects(
      env.run(activities.awaitAgentAck, { tenantId, nodeGroup: GROUP, version: pushed.version, timeoutMs: 20_000 }),
      /unknown interface.*nosuch0/,
    );
    assert.equal((await agentRow()).appliedVersion, good.version);
    assert.deepEqual(attachedProgram(pair.nodeNs, pair.nodeIf), before);
    const [denied] = await traffic([{ src: '198.19.50.1', dst: pair.nodeV4, count: 100, pps: 2000 }]);
    assert.equal(denied, 0);
  });

  it('management CIDRs can never be denied: refused by the control plane and, if it got through anyway, by the agent', async () => {
    // control plane: the agent-configured management CIDR
    await assert.rejects(
      createXdpPolicyAs(tdb.db, tenantId, actor, { nodeGroup: GROUP, spec: baseSpec([{ kind: 'deny', name: 'too-wide', cidrs: ['198.18.0.0/16'] }]) }, programs),
      (err: unknown) => isAppError(err) && err.code === 'bad_request' && (err.issues ?? []).some((i) => i.path === 'spec.rules[0].cidrs[0]' && /protected/.test(i.message)),
    );
    // control plane: the policy's own protected list
    await assert.rejects(
      createXdpPolicyAs(
        tdb.db,
        tenantId,
        actor,
        { nodeGroup: GROUP, spec: baseSpec([{ kind: 'deny', name: 'mgmt6', cidrs: ['2001:db8:aa::1/128'] }], { protectedCidrs: ['2001:db8:aa::/48'] }) },
        programs,
      ),
      (err: unknown) => isAppError(err) && (err.issues ?? []).some((i) => i.path === 'spec.rules[0].cidrs[0]'),
    );
    // agent: a bundle compiled without knowing the agent's list (e.g. an older control plane) is refused
    const good = await push(baseSpec());
    const compiled = compileXdpPolicy(baseSpec([{ kind: 'deny', name: 'sneaky', cidrs: ['198.18.200.0/25'] }]), {
      programSha256: programs.programSha256('guard'),
    });
    assert.ok(compiled.ok);
    const row = await insertXdpPolicyVersion(tdb.db, {
      tenantId,
      nodeGroup: GROUP,
      spec: { program: 'guard', attachMode: 'generic', interfaces: [pair.nodeIf], countOnly: false, protectedCidrs: [], rules: [] },
      bundle: compiled.bundle,
      createdBy: 'test',
    });
    const pushed = await env.run(activities.pushXdpBundle, { tenantId, nodeGroup: GROUP, policyId: row.id, actor });
    await assert.rejects(
      env.run(activities.awaitAgentAck, { tenantId, nodeGroup: GROUP, version: pushed.version, timeoutMs: 20_000 }),
      /protected management CIDR/,
    );
    assert.equal((await agentRow()).appliedVersion, good.version);
    const [mgmt] = await traffic([{ src: '198.18.200.5', dst: pair.nodeV4, count: 100, pps: 2000 }]);
    assert.equal(mgmt, 100);
  });

  it('pushing the same version twice is a no-op', async () => {
    const r = await push(baseSpec([{ kind: 'deny', name: 'idem', cidrs: ['198.19.60.0/24'] }]));
    const again = await env.run(activities.pushXdpBundle, { tenantId, nodeGroup: GROUP, policyId: r.policy.id, actor });
    assert.equal(again.changed, false);
    assert.equal(again.version, r.version);
  });

  it('SIGKILL the agent: the program stays attached and enforcing; after a restart the agent adopts it and resyncs to the latest version', async () => {
    const r1 = await push(baseSpec([{ kind: 'deny', name: 'before-kill', cidrs: ['198.19.70.0/24'] }]));
    const attachedBefore = attachedProgram(pair.nodeNs, pair.nodeIf);
    await agent!.kill('SIGKILL');
    await waitFor('agent marked offline', async () => !(await agentRow()).connected, 15_000, 100);
    assert.deepEqual(attachedProgram(pair.nodeNs, pair.nodeIf), attachedBefore, 'still attached after SIGKILL');
    const [whileDead] = await traffic([{ src: '198.19.70.1', dst: pair.nodeV4, count: 100, pps: 2000 }]);
    assert.equal(whileDead, 0, 'still enforcing while the agent is dead');

    // the desired state moves on while the agent is away
    const policy = await createXdpPolicyAs(tdb.db, tenantId, actor, { nodeGroup: GROUP, spec: baseSpec([{ kind: 'deny', name: 'after-restart', cidrs: ['198.19.71.0/24'] }]) }, programs);
    const pushed = await env.run(activities.pushXdpBundle, { tenantId, nodeGroup: GROUP, policyId: policy.id, actor });
    assert.notEqual(pushed.version, r1.version);

    agent = startAgent(agentOpts());
    const adoptedLine = await agent.waitForLog(/adopted pinned XDP state/, 60_000);
    assert.match(adoptedLine, new RegExp(r1.version), 'the restarted agent read the enforced version from the pinned maps');
    await waitFor('agent reconnected', async () => (await agentRow()).connected, 30_000, 100);
    const ack = await env.run(activities.awaitAgentAck, { tenantId, nodeGroup: GROUP, version: pushed.version, timeoutMs: 30_000 });
    assert.equal(ack.outcome, 'acked');
    assert.equal(attachedProgram(pair.nodeNs, pair.nodeIf).id, attachedBefore.id, 'same program: maps updated in place, no re-attach');
    const [oldRule, newRule] = await traffic([
      { src: '198.19.70.1', dst: pair.nodeV4, count: 100, pps: 2000 },
      { src: '198.19.71.1', dst: pair.nodeV4, count: 100, pps: 2000 },
    ]);
    assert.equal(oldRule, 100);
    assert.equal(newRule, 0);
    const a = await findAgentStatus(tdb.db, tenantId, (await agentRow()).id);
    assert.equal(a?.appliedVersion, pushed.version);
  });

  it('the control plane going away: the agent keeps enforcing and reconnects when it is back', async () => {
    await server!.stop();
    server = undefined;
    await agent!.waitForLog(/control plane stream ended/, 15_000);
    const [denied] = await traffic([{ src: '198.19.71.1', dst: pair.nodeV4, count: 100, pps: 2000 }]);
    assert.equal(denied, 0);
    rmSync(socket, { force: true });
    await startServer();
    await waitFor('agent reconnected', async () => (await agentRow()).connected, 30_000, 100);
  });
});
