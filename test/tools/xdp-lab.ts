/**
 * Network-namespace lab for the XDP tests and benchmarks: sender/node namespace pairs joined by a veth,
 * the xdp-pkt packet tool (compiled here with clang), agent processes inside a node namespace, cleanup.
 *
 * Every name starts with the caller's prefix (namespaces `<prefix>-s<i>` / `<prefix>-n<i>`, bpffs pins under
 * /sys/fs/bpf/<prefix>/), so `cleanupLab(prefix)` removes leftovers of an earlier crashed run too.
 * Addresses: pair i uses 198.18.<i>.1 (sender) / 198.18.<i>.2 (node) and 2001:db8:<i>::1 / ::2.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const TOOLS_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(TOOLS_DIR, '../..');

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Compiles test/tools/xdp-pkt.c (cached by source hash) and returns the binary's path. */
export function buildPktTool(): string {
  const src = join(TOOLS_DIR, 'xdp-pkt.c');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const out = join(TOOLS_DIR, 'build', `xdp-pkt-${hash}`);
  if (!existsSync(out)) {
    mkdirSync(dirname(out), { recursive: true });
    sh('clang', ['-O2', '-Wall', '-Werror', '-o', `${out}.tmp`, src]);
    renameSync(`${out}.tmp`, out);
  }
  return out;
}

export function ensureBpffs(): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8');
  if (!mounts.split('\n').some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf')) {
    mkdirSync('/sys/fs/bpf', { recursive: true });
    sh('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
  }
}

/** Removes every namespace and bpffs pin directory of `prefix` (safe to call when nothing exists). */
export function cleanupLab(prefix: string): void {
  const list = sh('ip', ['-j', 'netns', 'list']).trim();
  const names = list ? (JSON.parse(list) as { name: string }[]).map((n) => n.name) : [];
  for (const n of names) {
    if (n.startsWith(`${prefix}-`)) {
      try {
        sh('ip', ['netns', 'delete', n]);
      } catch {
        /* already gone */
      }
    }
  }
  rmSync(`/sys/fs/bpf/${prefix}`, { recursive: true, force: true });
}

export interface Pair {
  index: number;
  senderNs: string;
  nodeNs: string;
  senderIf: string;
  nodeIf: string;
  nodeMac: string;
  senderMac: string;
  senderV4: string;
  nodeV4: string;
  senderV6: string;
  nodeV6: string;
}

/**
 * Creates namespaces `<prefix>-s<i>` and `<prefix>-n<i>` joined by veth `pss<i>` ↔ `psn<i>` (or the
 * given node-side name: names are per namespace, so every node can have the same interface name).
 */
export function createPair(prefix: string, index: number, opts: { nodeIf?: string } = {}): Pair {
  const senderNs = `${prefix}-s${index}`;
  const nodeNs = `${prefix}-n${index}`;
  const senderIf = `pss${index}`;
  const nodeIf = opts.nodeIf ?? `psn${index}`;
  for (const ns of [senderNs, nodeNs]) {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const k of ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']) {
      sh('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', k]);
    }
  }
  sh('ip', ['link', 'add', 'name', senderIf, 'netns', senderNs, 'type', 'veth', 'peer', 'name', nodeIf, 'netns', nodeNs]);
  const pair: Pair = {
    index,
    senderNs,
    nodeNs,
    senderIf,
    nodeIf,
    nodeMac: '',
    senderMac: '',
    senderV4: `198.18.${index}.1`,
    nodeV4: `198.18.${index}.2`,
    senderV6: `2001:db8:${index}::1`,
    nodeV6: `2001:db8:${index}::2`,
  };
  sh('ip', ['-n', senderNs, 'addr', 'add', `${pair.senderV4}/24`, 'dev', senderIf]);
  sh('ip', ['-n', nodeNs, 'addr', 'add', `${pair.nodeV4}/24`, 'dev', nodeIf]);
  sh('ip', ['-n', senderNs, 'addr', 'add', `${pair.senderV6}/64`, 'dev', senderIf, 'nodad']);
  sh('ip', ['-n', nodeNs, 'addr', 'add', `${pair.nodeV6}/64`, 'dev', nodeIf, 'nodad']);
  for (const [ns, dev] of [[senderNs, senderIf], [nodeNs, nodeIf]] as const) sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  // other sources of the tests' 198.18.0.0/15 and 2001:db8::/32 ranges route back via the sender
  sh('ip', ['-n', nodeNs, 'route', 'add', '198.18.0.0/15', 'via', pair.senderV4]);
  sh('ip', ['-n', nodeNs, '-6', 'route', 'add', '2001:db8::/32', 'via', pair.senderV6]);
  const mac = (ns: string, dev: string) => (JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev])) as { address: string }[])[0]!.address;
  pair.nodeMac = mac(nodeNs, nodeIf);
  pair.senderMac = mac(senderNs, senderIf);
  return pair;
}

export interface SendOptions {
  src: string;
  dst: string;
  proto?: 'udp' | 'tcp';
  dport?: number;
  count: number;
  pps?: number;
  durationMs?: number;
  vlans?: number[];
  ipOptions?: number;
  truncate?: number;
  badIhl?: boolean;
  payload?: number;
  cpu?: number;
  /** In-kernel generator (BPF_PROG_TEST_RUN live frames, XDP_TX) instead of AF_PACKET: see xdp-pkt.c. */
  xdpLive?: boolean;
}

export interface SendResult {
  sent: number;
  elapsed_ns: number;
  start_ns: number;
  end_ns: number;
  /** The sender's CPU time (user + system; includes softirq work the kernel ran on its behalf). */
  cpu_ns: number;
}

function sendArgs(pair: Pair, o: SendOptions): string[] {
  const a = ['send', '--netns', pair.senderNs, '--ifname', pair.senderIf, '--dst-mac', pair.nodeMac, '--src-mac', pair.senderMac];
  a.push('--src', o.src, '--dst', o.dst, '--count', String(o.count), '--duration-ms', String(o.durationMs ?? 10_000));
  if (o.proto) a.push('--proto', o.proto);
  if (o.dport) a.push('--dport', String(o.dport));
  if (o.pps) a.push('--pps', String(o.pps));
  for (const v of o.vlans ?? []) a.push('--vlan', String(v));
  if (o.ipOptions) a.push('--ip-options', String(o.ipOptions));
  if (o.truncate) a.push('--truncate', String(o.truncate));
  if (o.badIhl) a.push('--bad-ihl');
  if (o.payload !== undefined) a.push('--payload', String(o.payload));
  if (o.cpu !== undefined) a.push('--cpu', String(o.cpu));
  if (o.xdpLive) a.push('--xdp-live');
  return a;
}

/** Sends raw frames from the pair's sender namespace to its node (bounded by count and duration). */
export function sendPackets(tool: string, pair: Pair, o: SendOptions): Promise<SendResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(tool, sendArgs(pair, o), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`xdp-pkt send exited ${code}: ${err}`));
      else resolvePromise(JSON.parse(out.trim()) as SendResult);
    });
  });
}

export interface RecvResult {
  total: number;
  sources: Record<string, { count: number; first_ns: number; last_ns: number }>;
}

export interface Receiver {
  /** Stops the receiver and returns what it counted (keys "<ns>|<address>"). */
  stop(): Promise<RecvResult>;
}

/** A UDP receiver on [::]:port in each namespace; resolves once bound. */
export function startReceiver(tool: string, namespaces: string[], port: number, maxMs = 120_000): Promise<Receiver> {
  return new Promise((resolvePromise, reject) => {
    const args = ['recv', '--port', String(port), '--duration-ms', String(maxMs)];
    for (const ns of namespaces) args.push('--netns', ns);
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const rl = createInterface({ input: child.stdout });
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    rl.on('line', (line) => {
      lines.push(line);
      if (line.includes('"ready"')) {
        resolvePromise({
          stop: async () => {
            child.kill('SIGTERM');
            await exited;
            const last = lines.filter((l) => l.includes('"total"')).pop();
            if (!last) throw new Error(`receiver printed no result: ${err}`);
            return JSON.parse(last) as RecvResult;
          },
        });
      }
    });
    child.on('exit', (code) => {
      if (!lines.some((l) => l.includes('"ready"'))) reject(new Error(`xdp-pkt recv exited ${code}: ${err}`));
    });
  });
}

export function countFrom(r: RecvResult, ns: string, addr: string): number {
  return r.sources[`${ns}|${addr}`]?.count ?? 0;
}

export interface AgentProcess {
  child: ChildProcess;
  logs: string[];
  /** Resolves when a log line matches. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface AgentOptions {
  nodeNs: string;
  controlPlane: string;
  tenant: string;
  nodeName: string;
  nodeGroup: string;
  pinRoot: string;
  stateDir: string;
  protect?: string[];
  reportIntervalMs?: number;
}

/** Starts agents/src/main.ts inside the node's network namespace (nsenter: mounts, hence bpffs, are shared). */
export function startAgent(o: AgentOptions): AgentProcess {
  const args = [
    `--net=/run/netns/${o.nodeNs}`,
    process.execPath,
    '--import',
    'tsx',
    join(REPO_ROOT, 'agents/src/main.ts'),
    '--control-plane',
    o.controlPlane,
    '--tenant',
    o.tenant,
    '--node-name',
    o.nodeName,
    '--node-group',
    o.nodeGroup,
    '--pin-root',
    o.pinRoot,
    '--state-dir',
    o.stateDir,
    '--report-interval-ms',
    String(o.reportIntervalMs ?? 500),
    '--log-level',
    'info',
  ];
  for (const p of o.protect ?? []) args.push('--protect', p);
  const child = spawn('nsenter', args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const onLine = (line: string) => {
    logs.push(line);
    for (const w of [...waiters]) {
      if (w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return {
    child,
    logs,
    waitForLog(re, timeoutMs = 30_000) {
      const hit = logs.find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolveWait, reject) => {
        const t = setTimeout(() => reject(new Error(`agent ${o.nodeName}: no log line matching ${re} within ${timeoutMs} ms:\n${logs.slice(-20).join('\n')}`)), timeoutMs);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolveWait(l);
          },
        });
      });
    },
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}

/** The id and mode of the XDP program attached to `dev` inside `ns` (0/'' when none). */
export function attachedProgram(ns: string, dev: string): { id: number; mode: number } {
  const l = (JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev])) as { xdp?: { mode?: number; prog?: { id: number } } }[])[0];
  return { id: l?.xdp?.prog?.id ?? 0, mode: l?.xdp?.mode ?? 0 };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (bounded). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Runs test/tools/apply-bundle.ts inside `ns` (apply a bundle file, or read counters). */
export function runDataplaneTool(ns: string, args: string[]): string {
  return execFileSync('nsenter', [`--net=/run/netns/${ns}`, process.execPath, '--import', 'tsx', join(TOOLS_DIR, 'apply-bundle.ts'), ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
