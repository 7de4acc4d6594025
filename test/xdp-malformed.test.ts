/**
 * Malformed and truncated frames against the real guard program (kernel verifier, xdpgeneric on veth in
 * a network namespace), applied with the agent's Dataplane. The policy decided in agents/bpf/proxyshard.h:
 * frames that cannot be parsed are dropped (malformed counter), a complete IP header is enough for deny
 * rules to apply, a truncated L4 header cannot dodge a port rule, IP options and VLAN tags are parsed.
 * "Neither crash nor bypass": after every case the program is still attached and a normal frame from an
 * allowed source still arrives.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildXdpProgram } from '../agents/build';
import type { CounterMsg } from '../agents/src/proto';
import { compileXdpPolicy } from '../core/xdp/compile';
import {
  attachedProgram,
  buildPktTool,
  cleanupLab,
  countFrom,
  createPair,
  ensureBpffs,
  runDataplaneTool,
  sendPackets,
  startReceiver,
  type Pair,
  type RecvResult,
} from './tools/xdp-lab';

const PREFIX = 'psxmal';
const PORT = 9000;
const DENIED = '198.19.40.7';
const ALLOWED = '198.19.41.7';
const DENIED6 = '2001:db8:40::7';

describe('XDP guard program: malformed and truncated frames', () => {
  let tool: string;
  let pair: Pair;
  let work: string;
  let pinRoot: string;
  let stateDir: string;
  let progId = 0;

  const counters = (): Map<string, CounterMsg> => {
    const list = JSON.parse(runDataplaneTool(pair.nodeNs, ['counters', pinRoot, stateDir])) as CounterMsg[];
    return new Map(list.map((c) => [c.name, c]));
  };
  const delta = (a: Map<string, CounterMsg>, b: Map<string, CounterMsg>, name: string) => ({
    match: (b.get(name)?.matchPackets ?? 0) - (a.get(name)?.matchPackets ?? 0),
    drop: (b.get(name)?.dropPackets ?? 0) - (a.get(name)?.dropPackets ?? 0),
  });
  /** Sends `count` frames and returns (received from src, counter deltas). */
  const probe = async (o: Parameters<typeof sendPackets>[2]) => {
    const before = counters();
    const rx = await startReceiver(tool, [pair.nodeNs], PORT);
    let sent: Awaited<ReturnType<typeof sendPackets>>;
    let got: RecvResult;
    try {
      sent = await sendPackets(tool, pair, { dport: PORT, pps: 2000, ...o });
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      got = await rx.stop();
    }
    const afterC = counters();
    assert.equal(sent.sent, o.count);
    // never a crash: the same program is still attached
    assert.equal(attachedProgram(pair.nodeNs, pair.nodeIf).id, progId);
    return {
      received: countFrom(got, pair.nodeNs, o.src),
      deny: delta(before, afterC, 'deny-lab'),
      deny6: delta(before, afterC, 'deny-lab6'),
      malformed: delta(before, afterC, 'malformed'),
      rl: delta(before, afterC, 'udp-strict'),
    };
  };

  before(() => {
    ensureBpffs();
    cleanupLab(PREFIX);
    tool = buildPktTool();
    pair = createPair(PREFIX, 0);
    work = mkdtempSync(join(tmpdir(), `${PREFIX}-`));
    pinRoot = `/sys/fs/bpf/${PREFIX}/n0`;
    stateDir = join(work, 'state');
    const program = buildXdpProgram('guard');
    const compiled = compileXdpPolicy(
      {
        interfaces: [pair.nodeIf],
        rules: [
          { kind: 'deny', name: 'deny-lab', cidrs: ['198.19.40.0/24'] },
          { kind: 'deny', name: 'deny-lab6', cidrs: ['2001:db8:40::/48'] },
          // port 9001 only: a truncated UDP header must not be a way around it
          { kind: 'rateLimit', name: 'udp-strict', protocol: 'udp', port: 9001, ratePps: 1, burst: 1 },
        ],
      },
      { programSha256: program.sha256 },
    );
    assert.ok(compiled.ok);
    const file = join(work, 'bundle.json');
    writeFileSync(file, JSON.stringify(compiled.bundle));
    const result = JSON.parse(runDataplaneTool(pair.nodeNs, ['apply', pinRoot, stateDir, file])) as { ok: boolean; error: string };
    assert.equal(result.ok, true, result.error);
    progId = attachedProgram(pair.nodeNs, pair.nodeIf).id;
    assert.ok(progId > 0);
  });

  after(() => {
    cleanupLab(PREFIX);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('a well-formed frame from an allowed source arrives; from a denied source it is dropped and counted', async () => {
    const ok = await probe({ src: ALLOWED, dst: pair.nodeV4, count: 50 });
    assert.equal(ok.received, 50);
    const denied = await probe({ src: DENIED, dst: pair.nodeV4, count: 50 });
    assert.equal(denied.received, 0);
    assert.equal(denied.deny.drop, 50);
  });

  it('a frame that is only an Ethernet header (EtherType IPv4, no IP header) is dropped as malformed', async () => {
    const r = await probe({ src: ALLOWED, dst: pair.nodeV4, count: 30, truncate: 14 });
    assert.equal(r.malformed.drop, 30);
  });

  it('frames shorter than an Ethernet header cannot even be sent on a veth (the kernel refuses them)', async () => {
    // AF_PACKET rejects frames below the device's min_header_len with EINVAL, so XDP on veth never sees
    // one; the program bounds-checks the Ethernet header anyway (proxyshard.h: MALFORMED).
    await assert.rejects(sendPackets(tool, pair, { src: ALLOWED, dst: pair.nodeV4, count: 1, truncate: 10 }), /Invalid argument/);
    assert.equal(attachedProgram(pair.nodeNs, pair.nodeIf).id, progId);
  });

  it('a cut-short IPv4 header and ihl < 5 are dropped as malformed', async () => {
    const short = await probe({ src: ALLOWED, dst: pair.nodeV4, count: 30, truncate: 14 + 12 });
    assert.equal(short.malformed.drop, 30);
    const badIhl = await probe({ src: ALLOWED, dst: pair.nodeV4, count: 30, badIhl: true });
    assert.equal(badIhl.malformed.drop, 30);
    assert.equal(badIhl.received, 0);
  });

  it('a cut-short IPv6 header is dropped as malformed', async () => {
    const r = await probe({ src: DENIED6, dst: pair.nodeV6, count: 30, truncate: 14 + 30 });
    assert.equal(r.malformed.drop, 30);
    assert.equal(r.deny6.match, 0);
  });

  it('IPv4 options are skipped: denied sources are still dropped, allowed ones still arrive at their port', async () => {
    const denied = await probe({ src: DENIED, dst: pair.nodeV4, count: 40, ipOptions: 8 });
    assert.equal(denied.received, 0);
    assert.equal(denied.deny.drop, 40);
    const allowed = await probe({ src: ALLOWED, dst: pair.nodeV4, count: 40, ipOptions: 40 });
    assert.equal(allowed.received, 40);
    assert.equal(allowed.malformed.match, 0);
  });

  it('VLAN-tagged frames (802.1Q and 802.1ad+802.1Q) are parsed: the deny rule matches through the tags', async () => {
    const one = await probe({ src: DENIED, dst: pair.nodeV4, count: 25, vlans: [100] });
    assert.equal(one.deny.drop, 25);
    const two = await probe({ src: DENIED, dst: pair.nodeV4, count: 25, vlans: [100, 200] });
    assert.equal(two.deny.drop, 25);
    const six = await probe({ src: DENIED6, dst: pair.nodeV6, count: 25, vlans: [300] });
    assert.equal(six.deny6.drop, 25);
    const three = await probe({ src: DENIED, dst: pair.nodeV4, count: 25, vlans: [1, 2, 3] });
    assert.equal(three.malformed.drop, 25, 'more than two tags: malformed, dropped');
  });

  it('a truncated UDP header: deny still applies to the source, and other sources are dropped as malformed (no port-rule bypass)', async () => {
    // Ethernet 14 + IPv4 20 + 4 bytes of UDP
    const denied = await probe({ src: DENIED, dst: pair.nodeV4, count: 30, truncate: 38, dport: 9001 });
    assert.equal(denied.deny.drop, 30);
    const other = await probe({ src: ALLOWED, dst: pair.nodeV4, count: 30, truncate: 38, dport: 9001 });
    assert.equal(other.malformed.drop, 30);
    assert.equal(other.rl.match, 0);
  });

  it('after all of it, normal traffic from an allowed source still flows (v4 and v6)', async () => {
    assert.equal((await probe({ src: ALLOWED, dst: pair.nodeV4, count: 50 })).received, 50);
    assert.equal((await probe({ src: '2001:db8:41::7', dst: pair.nodeV6, count: 50 })).received, 50);
  });
});
