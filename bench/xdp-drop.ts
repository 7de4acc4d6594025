/**
 * XDP benchmarks (root, real kernel, network namespaces; everything it creates is removed at the end):
 *
 * 1. Drop rate: one sender (xdp-pkt, AF_PACKET, pinned to one CPU, as fast as it can, bounded in time)
 *    into a veth whose peer drops the source (a) with the XDP `deny` program in generic mode and (b) with
 *    an nftables netdev-ingress rule on the same veth. Dropped packets/s = the drop counter (XDP rule
 *    counter / nft rule counter) over the sender's run time; median of RUNS runs each.
 * 2. Push → enforced across 10 agents in 10 namespaces: 10 real agents on a real agent channel with
 *    PostgreSQL; in each round every namespace receives a flow (2000 pps) from a new source, one policy
 *    version denying that source is pushed to the group, and "enforced" is the arrival time of the last
 *    packet of the flow in that namespace minus the time of the push. p99 over all samples.
 *
 *   npx tsx bench/xdp-drop.ts            prints name=value lines, writes bench/results/xdp.json
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildXdpProgram } from '../agents/build';
import type { CounterMsg } from '../agents/src/proto';
import { compileXdpPolicy } from '../core/xdp/compile';
import { listAgentStatuses } from '../server/db/agent.repo';
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
import { getAgentAckStatus } from '../server/db/agent.repo';
import { createProgramStore } from '../workers/agents/program-store';
import { startAgentChannelServer } from '../workers/agents/agent-channel.server';

const PREFIX = 'psxbench';
const RUNS = 3;
const RUN_MS = 3000;
const AGENTS = 10;
const ROUNDS = 10;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const sh = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { encoding: 'utf8', input, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });

async function dropBench(tool: string, pair: Pair, work: string): Promise<{ xdp: number; nft: number }> {
  const src = '198.19.90.1';
  const cpu = Math.min(1, cpus().length - 1);
  const flood = () => sendPackets(tool, pair, { src, dst: pair.nodeV4, dport: 9000, count: 200_000_000, durationMs: RUN_MS, payload: 16, cpu });

  // (a) XDP deny program, generic mode
  const program = buildXdpProgram('deny');
  const compiled = compileXdpPolicy({ program: 'deny', interfaces: [pair.nodeIf], rules: [{ kind: 'deny', name: 'bench', cidrs: ['198.19.90.0/24'] }] }, { programSha256: program.sha256 });
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.issues));
  const bundleFile = join(work, 'bundle.json');
  writeFileSync(bundleFile, JSON.stringify(compiled.bundle));
  const pinRoot = `/sys/fs/bpf/${PREFIX}/drop`;
  const stateDir = join(work, 'drop-state');
  const applied = JSON.parse(runDataplaneTool(pair.nodeNs, ['apply', pinRoot, stateDir, bundleFile])) as { ok: boolean; error: string };
  if (!applied.ok) throw new Error(applied.error);
  const xdpDrops = () =>
    (JSON.parse(runDataplaneTool(pair.nodeNs, ['counters', pinRoot, stateDir])) as CounterMsg[]).find((c) => c.name === 'bench')?.dropPackets ?? 0;
  const xdp: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const before = xdpDrops();
    const s = await flood();
    xdp.push((xdpDrops() - before) / (s.elapsed_ns / 1e9));
  }
  sh('ip', ['-n', pair.nodeNs, 'link', 'set', 'dev', pair.nodeIf, 'xdpgeneric', 'off']);
  rmSync(pinRoot, { recursive: true, force: true });

  // (b) nftables netdev ingress on the same veth
  sh('ip', ['netns', 'exec', pair.nodeNs, 'nft', '-f', '-'], `table netdev psxbench {
  chain ingress {
    type filter hook ingress device ${pair.nodeIf} priority -500; policy accept;
    ip saddr 198.19.90.0/24 counter drop
  }
}
`);
  const nftDrops = () => {
    const j = JSON.parse(sh('ip', ['netns', 'exec', pair.nodeNs, 'nft', '-j', 'list', 'table', 'netdev', 'psxbench'])) as {
      nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[];
    };
    for (const o of j.nftables) for (const e of o.rule?.expr ?? []) if (e.counter) return e.counter.packets;
    return 0;
  };
  const nft: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const before = nftDrops();
    const s = await flood();
    nft.push((nftDrops() - before) / (s.elapsed_ns / 1e9));
  }
  sh('ip', ['netns', 'exec', pair.nodeNs, 'nft', 'delete', 'table', 'netdev', 'psxbench']);
  return { xdp: median(xdp), nft: median(nft) };
}

async function pushBench(tool: string, work: string): Promise<{ p99: number; p50: number; samples: number }> {
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
        20,
      );
    // the first version loads and attaches the program everywhere; measured rounds are rule changes
    await awaitAll((await publish([])).version);

    const samples: number[] = [];
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
        await awaitAll(pushed.version);
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
    return { p99: percentile(samples, 99), p50: percentile(samples, 50), samples: samples.length };
  } finally {
    await Promise.all(agents.map((a) => a.kill('SIGTERM')));
    await server?.stop();
    await tdb.drop();
  }
}

async function main(): Promise<void> {
  ensureBpffs();
  cleanupLab(PREFIX);
  const tool = buildPktTool();
  const work = mkdtempSync(join(tmpdir(), `${PREFIX}-`));
  try {
    const pair = createPair(PREFIX, 0);
    const drop = await dropBench(tool, pair, work);
    const push = await pushBench(tool, work);
    const result = {
      xdp_drop_pps: Math.round(drop.xdp),
      nftables_drop_pps: Math.round(drop.nft),
      xdp_vs_nftables_drop_ratio: Number((drop.xdp / drop.nft).toFixed(3)),
      xdp_push_to_enforced_p99_ms_10: Number(push.p99.toFixed(1)),
      xdp_push_to_enforced_p50_ms_10: Number(push.p50.toFixed(1)),
      xdp_push_to_enforced_samples: push.samples,
      machine: `${cpus().length}x ${cpus()[0]?.model ?? 'cpu'}, kernel ${sh('uname', ['-r']).trim()}, xdpgeneric on veth`,
      date: new Date().toISOString(),
    };
    for (const [k, v] of Object.entries(result)) console.log(`${k}=${v}`);
    mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
    writeFileSync(join(REPO_ROOT, 'bench/results/xdp.json'), `${JSON.stringify(result, null, 2)}\n`);
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
