/**
 * Builds the XDP programs: agents/bpf/<name>.bpf.c → agents/bpf/build/<name>-<srcHash16>.o with
 * `clang -O2 -g -target bpf`. Cached by a hash of the sources (the .bpf.c, every header in agents/bpf,
 * the clang version and the flags): a second call with unchanged sources only hashes files.
 *
 *   npx tsx agents/build.ts            build every program, print name, sha256, path
 *
 * Used by the agent (local programs), the control plane (program bytes shipped in bundles), tests and
 * benchmarks.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { arch } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BPF_DIR = resolve(dirname(fileURLToPath(import.meta.url)), 'bpf');
export const BPF_BUILD_DIR = join(BPF_DIR, 'build');

/** The programs under agents/bpf (file `<name>.bpf.c`). `guard` = deny lists + rate limits. */
export const XDP_PROGRAM_NAMES = ['guard', 'deny', 'ratelimit'] as const;
export type XdpProgramName = (typeof XDP_PROGRAM_NAMES)[number];

export interface BuiltProgram {
  name: string;
  /** sha256 (hex) of the object file: what bundles name and agents verify. */
  sha256: string;
  path: string;
  bytes: Buffer;
}

const ARCH_INCLUDE: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

function clangFlags(): string[] {
  const flags = ['-O2', '-g', '-target', 'bpf', '-Wall', '-Werror'];
  const multiarch = ARCH_INCLUDE[arch()];
  if (multiarch && existsSync(`/usr/include/${multiarch}`)) flags.push(`-I/usr/include/${multiarch}`);
  return flags;
}

let clangVersion: string | undefined;

function sourceHash(dir: string, name: string, flags: string[]): string {
  clangVersion ??= execFileSync('clang', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  const h = createHash('sha256');
  h.update(`${clangVersion}\n${flags.join(' ')}\n`);
  const files = [`${name}.bpf.c`, ...readdirSync(dir).filter((f) => f.endsWith('.h')).sort()];
  for (const f of files) {
    h.update(`${f}\n`);
    h.update(readFileSync(join(dir, f)));
  }
  return h.digest('hex');
}

/** Compiles (or returns the cached object of) agents/bpf/<name>.bpf.c. Throws with clang's output on error. */
export function buildXdpProgram(name: string, opts: { dir?: string } = {}): BuiltProgram {
  const dir = opts.dir ?? BPF_DIR;
  if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new Error(`invalid program name ${JSON.stringify(name)}`);
  const src = join(dir, `${name}.bpf.c`);
  if (!existsSync(src)) throw new Error(`no XDP program ${name} (${src} does not exist)`);
  const flags = clangFlags();
  const buildDir = join(dir, 'build');
  const out = join(buildDir, `${name}-${sourceHash(dir, name, flags).slice(0, 16)}.o`);
  if (!existsSync(out)) {
    mkdirSync(buildDir, { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    try {
      execFileSync('clang', [...flags, `-I${dir}`, '-c', src, '-o', tmp], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { stderr?: Buffer };
      throw new Error(`clang failed for ${src}:\n${e.stderr?.toString() ?? String(err)}`, { cause: err });
    }
    renameSync(tmp, out);
  }
  const bytes = readFileSync(out);
  return { name, sha256: createHash('sha256').update(bytes).digest('hex'), path: out, bytes };
}

/** Builds every program in XDP_PROGRAM_NAMES. */
export function buildAllXdpPrograms(): BuiltProgram[] {
  return XDP_PROGRAM_NAMES.map((n) => buildXdpProgram(n));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const p of buildAllXdpPrograms()) console.log(`${p.name} sha256=${p.sha256} ${p.path}`);
}
