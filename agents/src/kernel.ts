/**
 * The agent's hands on the kernel: iproute2 and bpftool, run as child processes (no native addon).
 * Every function runs in the agent's network namespace (the interfaces) and mount namespace (bpffs).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesFromJson, checkMapLayout, MAPS, type MapDescriptor } from './maps';

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(`${command} failed (exit ${code}): ${stderr.trim().slice(-4000)}`);
  }
}

export function run(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const code = typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
        reject(new CommandError(`${cmd} ${args.join(' ').slice(0, 300)}`, `${stderr || ''}${stdout ? `\n${stdout}` : ''}` || err.message, code));
      } else resolve(stdout);
    });
  });
}

export const BPFFS = '/sys/fs/bpf';

/** Mounts bpffs at /sys/fs/bpf when it is not mounted (it is not on a bare Debian boot). */
export async function ensureBpffs(): Promise<void> {
  const mounts = readFileSync('/proc/self/mounts', 'utf8');
  if (mounts.split('\n').some((l) => l.split(' ')[1] === BPFFS && l.split(' ')[2] === 'bpf')) return;
  mkdirSync(BPFFS, { recursive: true });
  await run('mount', ['-t', 'bpf', 'bpf', BPFFS]);
}

export interface LinkInfo {
  name: string;
  ifindex: number;
  mtu: number;
  /** '' when nothing is attached. */
  xdpMode: '' | 'generic' | 'native' | 'offload';
  xdpProgId: number;
}

const XDP_MODE_NAMES: Record<number, LinkInfo['xdpMode']> = { 1: 'native', 2: 'generic', 3: 'offload' };

export async function listLinks(): Promise<LinkInfo[]> {
  const out = JSON.parse(await run('ip', ['-j', 'link', 'show'])) as {
    ifname: string;
    ifindex: number;
    mtu: number;
    xdp?: { mode?: number; prog?: { id: number } };
  }[];
  return out.map((l) => ({
    name: l.ifname,
    ifindex: l.ifindex,
    mtu: l.mtu,
    xdpMode: (l.xdp?.mode && XDP_MODE_NAMES[l.xdp.mode]) || '',
    xdpProgId: l.xdp?.prog?.id ?? 0,
  }));
}

export async function pinnedProgId(path: string): Promise<number | undefined> {
  try {
    const p = JSON.parse(await run('bpftool', ['prog', 'show', 'pinned', path, '-j'])) as { id?: number };
    return p.id;
  } catch {
    return undefined;
  }
}

/**
 * Loads an XDP object and pins the program at `<dir>/prog` and every map under `<dir>/maps/`.
 * A verifier rejection throws CommandError whose stderr holds the verifier log; nothing stays pinned.
 */
export async function loadPinned(objectPath: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  try {
    await run('bpftool', ['prog', 'load', objectPath, join(dir, 'prog'), 'type', 'xdp', 'pinmaps', join(dir, 'maps')], {
      timeoutMs: 60_000,
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Checks every pinned map under `<dir>/maps` against its descriptor (key/value sizes, type). */
export async function checkPinnedMaps(dir: string): Promise<void> {
  for (const desc of Object.values(MAPS) as MapDescriptor[]) {
    const shown = JSON.parse(await run('bpftool', ['map', 'show', 'pinned', join(dir, 'maps', desc.name), '-j'])) as {
      type?: string;
      bytes_key?: number;
      bytes_value?: number;
    };
    checkMapLayout(desc, shown);
  }
}

const MODE_FLAG = { generic: 'xdpgeneric', native: 'xdpdrv' } as const;

/** Attaches (or atomically replaces) the XDP program of `iface` with the pinned program. */
export async function attachPinned(iface: string, mode: 'generic' | 'native', progPath: string): Promise<void> {
  await run('ip', ['-force', 'link', 'set', 'dev', iface, MODE_FLAG[mode], 'pinned', progPath]);
}

export async function detach(iface: string, mode: 'generic' | 'native' | 'offload'): Promise<void> {
  const flag = mode === 'offload' ? 'xdpoffload' : MODE_FLAG[mode];
  await run('ip', ['link', 'set', 'dev', iface, flag, 'off']);
}

/** Removes a pinned directory (bpffs: unlink files, then rmdir); the objects die with their last reference. */
export function unpinDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Runs bpftool commands (one per line, without the leading "bpftool") from a temporary batch file. */
export async function bpftoolBatch(lines: string[]): Promise<void> {
  if (!lines.length) return;
  await runBatchFile(lines, []);
}

/** bpftool batch with JSON output: one entry per line, in order (bpftool stops at the first failing line). */
export async function bpftoolBatchJson(lines: string[]): Promise<{ command: string[]; output: unknown }[]> {
  if (!lines.length) return [];
  return JSON.parse(await runBatchFile(lines, ['-j'])) as { command: string[]; output: unknown }[];
}

async function runBatchFile(lines: string[], flags: string[]): Promise<string> {
  const file = join(tmpdir(), `ps-agent-batch-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  try {
    return await run('bpftool', [...flags, 'batch', 'file', file]);
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * Names of the interfaces of this network namespace, from /proc/net/dev (per network namespace, unlike
 * /sys/class/net when sysfs was mounted in another namespace): no process spawned.
 */
export function listInterfaceNames(): string[] {
  return readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]!.trim())
    .filter(Boolean);
}

/** The XDP attachments in the output of `bpftool -j net show` (device name → mode, program id). */
export function xdpAttachmentsFromNetShow(output: unknown): Map<string, { mode: LinkInfo['xdpMode']; id: number }> {
  const out = new Map<string, { mode: LinkInfo['xdpMode']; id: number }>();
  const first = (Array.isArray(output) ? output[0] : output) as { xdp?: { devname?: string; mode?: string; id?: number }[] } | undefined;
  const modes: Record<string, LinkInfo['xdpMode']> = { driver: 'native', generic: 'generic', offload: 'offload' };
  for (const x of first?.xdp ?? []) {
    if (x.devname && typeof x.id === 'number') out.set(x.devname, { mode: modes[x.mode ?? ''] ?? '', id: x.id });
  }
  return out;
}

export interface MapEntry {
  key: Buffer;
  value: Buffer;
}

/** Every entry of a (non per-CPU) pinned map. */
export async function dumpMap(path: string): Promise<MapEntry[]> {
  const out = JSON.parse(await run('bpftool', ['map', 'dump', 'pinned', path, '-j'])) as { key: unknown; value: unknown }[];
  return out.map((e) => ({ key: bytesFromJson(e.key), value: bytesFromJson(e.value) }));
}

/** Looks up keys of a per-CPU map and returns the per-CPU values of each (missing keys are skipped). */
export async function lookupPerCpu(path: string, keys: Buffer[]): Promise<Map<string, Buffer[]>> {
  const result = new Map<string, Buffer[]>();
  if (!keys.length) return result;
  const file = join(tmpdir(), `ps-agent-lookup-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(file, keys.map((k) => `map lookup pinned ${path} key hex ${hex(k)}`).join('\n') + '\n');
  try {
    const out = JSON.parse(await run('bpftool', ['-j', 'batch', 'file', file])) as {
      output?: { key?: unknown; values?: { value: unknown }[] };
    }[];
    for (const r of out) {
      if (!r.output?.key || !r.output.values) continue;
      result.set(bytesFromJson(r.output.key).toString('hex'), r.output.values.map((v) => bytesFromJson(v.value)));
    }
  } finally {
    rmSync(file, { force: true });
  }
  return result;
}

export async function lookup(path: string, key: Buffer): Promise<Buffer | undefined> {
  try {
    const out = JSON.parse(await run('bpftool', ['map', 'lookup', 'pinned', path, 'key', 'hex', ...hex(key).split(' '), '-j'])) as {
      value?: unknown;
    };
    return out.value ? bytesFromJson(out.value) : undefined;
  } catch {
    return undefined;
  }
}

export function hex(b: Buffer): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}
