/**
 * XDP benchmarks (root, real kernel, network namespaces; everything it creates is removed at the end).
 *
 *   npx tsx bench/xdp-drop.ts [--only drop|push]   prints name=value lines, writes bench/results/xdp.json
 *
 * 1. Drop rate (issue: "packets/s dropped by the XDP deny program versus an nftables netdev-ingress drop
 *    rule on the same veth pair, same sender, same core"). A drop benchmark must saturate the receiver,
 *    so the receive path and the sender each get their own core:
 *    - receiver: the node-side veth runs NAPI in a kernel thread (GRO on, threaded NAPI) pinned to CPU
 *      RX_CPU; every receive-path cycle (veth ring → skb → hook → drop) is spent in that thread;
 *    - sender: an in-kernel generator on CPU TX_CPU (xdp-pkt --xdp-live: BPF_PROG_TEST_RUN live frames,
 *      XDP_TX into the sender veth, i.e. what pktgen does; this kernel has no pktgen). It offers several
 *      times what the receiver can take; the overflow is dropped by the sending veth (ring full), which
 *      shows the receiver is the bottleneck;
 *    - drop hook, alternated run by run: the deny program (agents/bpf/deny.bpf.c, same pinned program) in
 *      generic mode (`xdpgeneric`, the headline) or native mode (`xdpdrv`, veth supports it), or an
 *      nftables netdev ingress rule `ip saddr … counter drop` on the same veth.
 *    Dropped packets are counted at the receiver (the rule's XDP counter or the nft rule counter).
 *    xdp_drop_pps / nftables_drop_pps are drops per second of receive-thread CPU time, i.e. what one
 *    saturated core drops: the machine running this is shared, so the receive thread does not always get
 *    its core; dividing by its own CPU time (schedstat) removes that noise. The plain wall-clock rates are
 *    reported too (*_wall). Median of RUNS runs per hook.
 *    Note: with GRO on (needed for veth NAPI), a generic XDP program makes the kernel skip GRO on that
 *    device (netif_elide_gro), while the nftables path goes through GRO first (~15% of its cycles here).
 *    That is how the kernel behaves on any GRO-enabled NIC, but it is part of the difference measured.
 *    Also measured, for comparison with the earlier figures: the former setup (AF_PACKET sender; the
 *    receive path runs in the sender's softirq on the sender's core), *_samecore_afpacket: there two thirds
 *    of the core go to the sender (syscall, skb allocation, copy), so it cannot tell the hooks apart.
 * 2. Push → enforced across 10 agents in 10 namespaces: 10 real agents on a real agent channel with
 *    PostgreSQL; in each round every namespace receives a flow (2000 pps) from a new source, one policy
 *    version denying that source is pushed to the group, and "enforced" is the arrival time of the last
 *    packet of the flow in that namespace minus the time of the push. p99 over all samples. The agents'
 *    own apply durations (from their ApplyResults, audited) are reported as well.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildXdpProgram } from '../agents/build';
import { compileXdpPolicy } from '../core/xdp/compile';
import { getAgentAckStatus, listAgentStatuses } from '../server/db/agent.repo';
import { createTenant } from '../server/db/tenant.repo';
import { createXdpPolicyAs, publishXdpPolicy } from '../server/services/xdp.service';
import { createTestDatabase } from '../test/support/db';
import {
  buildPktTool,
  cleanupLab,
  createPair,
  ensureBpffs,
  REPO_ROOT,
  runDataplaneTool,
  sendPackets,
  sleep,
  startAgent,
  startReceiver,
  waitFor,
  type AgentProcess,
  type Pair,
} from '../test/tools/xdp-lab';
import { startAgentChannelServer } from '../workers/agents/agent-channel.server';
import { createProgramStore } from '../workers/agents/program-store';

const PREFIX = 'psxbench';
const RUNS = 5;
const RUN_MS = 2000;
const RX_CPU = 0;
const TX_CPU = 1;
const AGENTS = 10;
const ROUNDS = 10;
const DROP_SRC = '198.19.90.1';
const DROP_NET = '198.19.90.0/24';
const NODE_IF = 'psbn0';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const sh = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { encoding: 'utf8', input, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
const inNs = (ns: string, cmd: string, args: string[], input?: string) => sh('ip', ['netns', 'exec', ns, cmd, ...args], input);
/** `ip` in a namespace without remounting /sys (`ip -n` would hide bpffs, hence the pinned program). */
const ipIn = (ns: string, args: string[]) => sh('nsenter', [`--net=/run/netns/${ns}`, 'ip', ...args]);

type Hook = 'generic' | 'native' | 'nft';

/** Sum over CPUs of the dropPackets field (offset 16) of one ps_counters slot. */
function xdpDrops(countersMap: string, slot: number): number {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(slot);
  const out = JSON.parse(sh('bpftool', ['-j', 'map', 'lookup', 'pinned', countersMap, 'key', 'hex', ...key.toString('hex').match(/../g)!])) as {
    values: { value: string[] }[];
  };
  let sum = 0n;
  for (const v of out.values) sum += Buffer.from(v.value.map((b) => parseInt(b, 16))).readBigUInt64LE(16);
  return Number(sum);
}

function nftDrops(ns: string): number {
  const j = JSON.parse(inNs(ns, 'nft', ['-j', 'list', 'table', 'netdev', PREFIX])) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] };
  for (const o of j.nftables) for (const e of o.rule?.expr ?? []) if (e.counter) return e.counter.packets;
  return 0;
}

function nftAdd(pair: Pair): void {
  inNs(pair.nodeNs, 'nft', ['-f', '-'], `table netdev ${PREFIX} {
  chain ingress {
    type filter hook ingress device ${pair.nodeIf} priority -500; policy accept;
    ip saddr ${DROP_NET} counter drop
  }
}
`);
}

function setHook(pair: Pair, prog: string, hook: Hook | 'none'): void {
  const link = (JSON.parse(sh('ip', ['-n', pair.nodeNs, '-j', 'link', 'show', 'dev', pair.nodeIf])) as { xdp?: { mode?: number } }[])[0];
  if (link?.xdp?.mode === 1) sh('ip', ['-n', pair.nodeNs, 'link', 'set', 'dev', pair.nodeIf, 'xdpdrv', 'off']);
  if (link?.xdp?.mode === 2) sh('ip', ['-n', pair.nodeNs, 'link', 'set', 'dev', pair.nodeIf, 'xdpgeneric', 'off']);
  try {
    inNs(pair.nodeNs, 'nft', ['delete', 'table', 'netdev', PREFIX]);
  } catch {
    /* not there */
  }
  if (hook === 'generic') ipIn(pair.nodeNs, ['link', 'set', 'dev', pair.nodeIf, 'xdpgeneric', 'pinned', prog]);
  if (hook === 'native') ipIn(pair.nodeNs, ['link', 'set', 'dev', pair.nodeIf, 'xdpdrv', 'pinned', prog]);
  if (hook === 'nft') nftAdd(pair);
}

/** Pids of the threads whose name matches. */
function threads(name: (comm: string) => boolean): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return name(readFileSync(`/proc/${d}/comm`, 'utf8').trim());
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The NAPI kernel thread of the node veth (threaded NAPI), pinned to RX_CPU. */
function napiThread(pair: Pair): number {
  const pids = threads((c) => c.startsWith(`napi/${pair.nodeIf}-`));
  if (pids.length !== 1) throw new Error(`expected one NAPI thread of ${pair.nodeIf}, found ${pids.length}`);
  sh('taskset', ['-pc', String(RX_CPU), String(pids[0])]);
  return pids[0]!;
}

const cpuNs = (pid: number) => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
const txDropped = (pair: Pair) =>
  (JSON.parse(sh('ip', ['-n', pair.senderNs, '-j', '-s', 'link', 'show', 'dev', pair.senderIf])) as { stats64: { tx: { dropped: number } } }[])[0]!.stats64.tx.dropped;

interface DropResult {
  /** drops per second of receive-thread CPU time (median) */
  perCpuSecond: Record<Hook, number>;
  wall: Record<Hook, number>;
  /** share of offered frames the sending veth dropped because the receiver's ring was full (median) */
  overflow: Record<Hook, number>;
  sameCore: { generic: number; nft: number };
}

async function dropBench(tool: string, work: string): Promise<DropResult> {
  const pair = createPair(PREFIX, 0, { nodeIf: NODE_IF });
  // Load the deny program once, through the agent's own data plane (maps checked, entries written).
  const program = buildXdpProgram('deny');
  const compiled = compileXdpPolicy({ program: 'deny', interfaces: [pair.nodeIf], rules: [{ kind: 'deny', name: 'bench', cidrs: [DROP_NET] }] }, { programSha256: program.sha256 });
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.issues));
  const slot = compiled.bundle.counters[0]!.slot;
  const bundleFile = join(work, 'bundle.json');
  writeFileSync(bundleFile, JSON.stringify(compiled.bundle));
  const pinRoot = `/sys/fs/bpf/${PREFIX}/drop`;
  const applied = JSON.parse(runDataplaneTool(pair.nodeNs, ['apply', pinRoot, join(work, 'drop-state'), bundleFile])) as { ok: boolean; error: string };
  if (!applied.ok) throw new Error(applied.error);
  const gen = readdirSync(join(pinRoot, pair.nodeIf))[0]!;
  const prog = join(pinRoot, pair.nodeIf, gen, 'prog');
  const countersMap = join(pinRoot, pair.nodeIf, gen, 'maps', 'ps_counters');
  const drops = (hook: Hook) => (hook === 'nft' ? nftDrops(pair.nodeNs) : xdpDrops(countersMap, slot));

  // (b) the former setup first (veth without NAPI: netif_rx backlog, processed in the sender's softirq on
  // its core, or by that core's ksoftirqd when there is too much): drops per CPU-second of both together.
  const ksoftirqd = threads((c) => c === `ksoftirqd/${TX_CPU}`)[0];
  if (ksoftirqd === undefined) throw new Error(`no ksoftirqd/${TX_CPU}`);
  const sameCore: Record<'generic' | 'nft', number[]> = { generic: [], nft: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const hook of ['generic', 'nft'] as const) {
      setHook(pair, prog, hook);
      const [d0, k0] = [drops(hook), cpuNs(ksoftirqd)];
      const s = await sendPackets(tool, pair, { src: DROP_SRC, dst: pair.nodeV4, dport: 9000, count: 2_000_000_000, durationMs: RUN_MS, payload: 16, cpu: TX_CPU });
      const [d1, k1] = [drops(hook), cpuNs(ksoftirqd)];
      sameCore[hook].push((d1 - d0) / ((s.cpu_ns + k1 - k0) / 1e9));
    }
  }

  // (a) receiver on its own core: NAPI thread pinned to RX_CPU, in-kernel sender on TX_CPU
  sh(tool, ['gro', '--netns', pair.nodeNs, '--ifname', pair.nodeIf, '--on']);
  inNs(pair.nodeNs, 'sh', ['-c', `echo 1 > /sys/class/net/${pair.nodeIf}/threaded`]);
  const perCpu: Record<Hook, number[]> = { generic: [], native: [], nft: [] };
  const wall: Record<Hook, number[]> = { generic: [], native: [], nft: [] };
  const overflow: Record<Hook, number[]> = { generic: [], native: [], nft: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const hook of ['generic', 'nft', 'native'] as const) {
      setHook(pair, prog, hook);
      const napi = napiThread(pair);
      const [d0, c0, t0] = [drops(hook), cpuNs(napi), txDropped(pair)];
      const s = await sendPackets(tool, pair, { src: DROP_SRC, dst: pair.nodeV4, dport: 9000, count: 2_000_000_000, durationMs: RUN_MS, payload: 16, cpu: TX_CPU, xdpLive: true });
      await sleep(20); // let the receive thread drain its ring
      const [d1, c1, t1] = [drops(hook), cpuNs(napi), txDropped(pair)];
      perCpu[hook].push((d1 - d0) / ((c1 - c0) / 1e9));
      wall[hook].push((d1 - d0) / (s.elapsed_ns / 1e9));
      overflow[hook].push((t1 - t0) / s.sent);
    }
  }
  setHook(pair, prog, 'none');
  rmSync(pinRoot, { recursive: true, force: true });
  const med = (r: Record<Hook, number[]>) => ({ generic: median(r.generic), native: median(r.native), nft: median(r.nft) });
  return { perCpuSecond: med(perCpu), wall: med(wall), overflow: med(overflow), sameCore: { generic: median(sameCore.generic), nft: median(sameCore.nft) } };
}

interface PushResult {
  p99: number;
  p50: number;
  samples: number;
  ackP99: number;
  applyP50: number;
  applyP99: number;
}

async function pushBench(tool: string, work: string): Promise<PushResult> {
  const tdb = await createTestDatabase();
  const agents: AgentProcess[] = [];
  let server: Awaited<ReturnType<typeof startAgentChannelServer>> | undefined;
  try {
    const tenantId = (await createTenant(tdb.db, { slug: 'bench', name: 'bench' })).id;
    const programs = createProgramStore();
    const socket = join(work, 'agent-channel.sock');
    server = await startAgentChannelServer({ db: tdb.db, log: pino({ level: 'silent' }), databaseUrl: tdb.url, address: `unix:${socket}`, programs });
    const pairs = Array.from({ length: AGENTS }, (_, i) => createPair(PREFIX, i + 1, { nodeIf: 'psnode' }));
    for (const p of pairs) {
      agents.push(
        startAgent({
          nodeNs: p.nodeNs,
          controlPlane: `unix:${socket}`,
          tenant: 'bench',
          nodeName: `node-${p.index}`,
          nodeGroup: 'bench',
          pinRoot: `/sys/fs/bpf/${PREFIX}/node-${p.index}`,
          stateDir: join(work, `agent-${p.index}`),
          reportIntervalMs: 5000,
        }),
      );
    }
    await waitFor('10 agents connected', async () => (await listAgentStatuses(tdb.db, tenantId)).filter((a) => a.connected).length === AGENTS, 180_000, 500);
    const actor = { type: 'system' as const, id: 'bench', name: 'bench' };
    const publish = async (rules: { kind: 'deny'; name: string; cidrs: string[] }[]) => {
      const policy = await createXdpPolicyAs(tdb.db, tenantId, actor, { nodeGroup: 'bench', spec: { interfaces: ['psnode'], rules } }, programs);
      const t0 = Date.now();
      const r = await publishXdpPolicy(tdb.db, { tenantId, nodeGroup: 'bench', policyId: policy.id, actor });
      return { t0, version: r.version };
    };
    const awaitAll = (version: string) =>
      waitFor(
        `all agents at ${version}`,
        async () => {
          const s = await getAgentAckStatus(tdb.db, { tenantId, nodeGroup: 'bench', version });
          if (s.failed.length) throw new Error(`agent failed: ${JSON.stringify(s.failed)}`);
          return s.acked.length === AGENTS;
        },
        60_000,
        10,
      );
    // the first version loads and attaches the program everywhere; measured rounds are rule changes
    await awaitAll((await publish([])).version);

    const samples: number[] = [];
    const acks: number[] = [];
    const measuredVersions: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const src = `198.19.${100 + round}.1`;
      const rx = await startReceiver(tool, pairs.map((p) => p.nodeNs), 9000);
      let got;
      let t0 = 0;
      try {
        const senders = pairs.map((p) => sendPackets(tool, p, { src, dst: p.nodeV4, dport: 9000, count: 8000, pps: 2000, durationMs: 3000 }));
        await sleep(600);
        const pushed = await publish([{ kind: 'deny', name: `round-${round}`, cidrs: [`198.19.${100 + round}.0/24`] }]);
        t0 = pushed.t0;
        measuredVersions.push(pushed.version);
        await awaitAll(pushed.version);
        acks.push(Date.now() - t0);
        await Promise.all(senders);
      } finally {
        got = await rx.stop();
      }
      for (const p of pairs) {
        const s = got.sources[`${p.nodeNs}|${src}`];
        if (!s) throw new Error(`round ${round}: no packets in ${p.nodeNs} before the push`);
        samples.push(s.last_ns / 1e6 - t0);
      }
    }
    await server.stop(); // drains the channel's audit queue
    server = undefined;
    const applied = await tdb.db.auditEntry.findMany({ where: { tenantId, action: 'xdp.bundle_applied' }, select: { details: true } });
    const applyMs = applied
      .map((a) => a.details as { version?: string; durationMs?: number })
      .filter((d) => d.version && measuredVersions.includes(d.version) && typeof d.durationMs === 'number')
      .map((d) => d.durationMs!);
    return {
      p99: percentile(samples, 99),
      p50: percentile(samples, 50),
      samples: samples.length,
      ackP99: percentile(acks, 99),
      applyP50: percentile(applyMs, 50),
      applyP99: percentile(applyMs, 99),
    };
  } finally {
    await Promise.all(agents.map((a) => a.kill('SIGTERM')));
    await server?.stop();
    await tdb.drop();
  }
}

async function main(): Promise<void> {
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  if (cpus().length < 2) throw new Error('the drop benchmark needs 2 CPUs (receiver and sender on their own core)');
  ensureBpffs();
  cleanupLab(PREFIX);
  const tool = buildPktTool();
  const work = mkdtempSync(join(tmpdir(), `${PREFIX}-`));
  const resultFile = join(REPO_ROOT, 'bench/results/xdp.json');
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(readFileSync(resultFile, 'utf8')) as Record<string, unknown>;
  } catch {
    /* first run */
  }
  try {
    // --only: the other part's figures are kept from the previous run
    const keep = (prefixes: RegExp) => Object.fromEntries(Object.entries(previous).filter(([k]) => prefixes.test(k)));
    let drop: Record<string, unknown> = keep(/drop/);
    let push: Record<string, unknown> = keep(/push|apply/);
    if (only !== 'push') {
      const d = await dropBench(tool, work);
      drop = {
        xdp_drop_pps: Math.round(d.perCpuSecond.generic),
        nftables_drop_pps: Math.round(d.perCpuSecond.nft),
        xdp_vs_nftables_drop_ratio: Number((d.perCpuSecond.generic / d.perCpuSecond.nft).toFixed(3)),
        xdp_native_drop_pps: Math.round(d.perCpuSecond.native),
        xdp_native_vs_nftables_drop_ratio: Number((d.perCpuSecond.native / d.perCpuSecond.nft).toFixed(3)),
        xdp_drop_pps_wall: Math.round(d.wall.generic),
        nftables_drop_pps_wall: Math.round(d.wall.nft),
        xdp_native_drop_pps_wall: Math.round(d.wall.native),
        drop_sender_overflow_share: Number(Math.min(d.overflow.generic, d.overflow.nft, d.overflow.native).toFixed(3)),
        xdp_drop_pps_samecore_afpacket: Math.round(d.sameCore.generic),
        nftables_drop_pps_samecore_afpacket: Math.round(d.sameCore.nft),
        xdp_vs_nftables_drop_ratio_samecore_afpacket: Number((d.sameCore.generic / d.sameCore.nft).toFixed(3)),
      };
    }
    if (only !== 'drop') {
      const p = await pushBench(tool, work);
      push = {
        xdp_push_to_enforced_p99_ms_10: Number(p.p99.toFixed(1)),
        xdp_push_to_enforced_p50_ms_10: Number(p.p50.toFixed(1)),
        xdp_push_to_enforced_samples: p.samples,
        xdp_push_to_all_acked_p99_ms_10: p.ackP99,
        xdp_agent_apply_p50_ms: p.applyP50,
        xdp_agent_apply_p99_ms: p.applyP99,
      };
    }
    const result = {
      ...drop,
      ...push,
      machine: `${cpus().length}x ${cpus()[0]?.model ?? 'cpu'}, kernel ${sh('uname', ['-r']).trim()}; drop: veth, receive NAPI thread on CPU ${RX_CPU}, xdp-live sender on CPU ${TX_CPU}, ${RUNS}×${RUN_MS} ms per hook (median); shared machine`,
      date: new Date().toISOString(),
    };
    for (const [k, v] of Object.entries(result)) console.log(`${k}=${v}`);
    mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
    writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    cleanupLab(PREFIX);
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    cleanupLab(PREFIX);
    process.exit(1);
  },
);
