/**
 * PolicyCompiler (core/policy/ports.ts) on the real `opa` CLI: `opa check --format json`, `opa fmt`,
 * `opa test --format json`, `opa build -t wasm -e …`. Each call gets its own temp dir (removed afterwards,
 * also on failure) and a deadline; a process that overruns it is killed with SIGKILL and the call reports a
 * `timeout` diagnostic. Module file names are reduced to a safe base name ending in `.rego`, so diagnostics
 * name the files the caller passed.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type {
  BuildOutcome,
  CheckOutcome,
  FormatOutcome,
  PolicyCompiler,
  PolicyDiagnostic,
  PolicyTestResult,
  RegoModule,
  TestOutcome,
} from '../../core/policy/ports';
import { resolveBinary } from '../../server/binaries';

export interface OpaCliOptions {
  /** The opa binary; default resolveBinary('opa', { install: true }) on first use. */
  binary?: string;
  /** Deadline per CLI call (check, fmt, build), ms; default 10 s. */
  timeoutMs?: number;
  /** Deadline for `opa test` (tests may be slow), ms; default 30 s. */
  testTimeoutMs?: number;
  /** Largest accepted stdout/stderr per call, bytes; default 16 MiB. */
  maxOutputBytes?: number;
  /**
   * `opa` processes run at once by this adapter; further calls wait their turn (the wait counts against
   * nothing: the deadline starts when the process starts). Default 4, so a burst of editor requests cannot
   * fork without bound.
   */
  maxConcurrent?: number;
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const TIMEOUT_CODE = 'timeout';

export function createOpaCli(opts: OpaCliOptions = {}): PolicyCompiler & {
  /** Runs `opa <args>` in `cwd` with the call deadline (for tools such as the differential test). */
  run(args: readonly string[], cwd: string, timeoutMs?: number): Promise<ProcessResult>;
  binary(): Promise<string>;
} {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const testTimeoutMs = opts.testTimeoutMs ?? 30_000;
  const maxOutput = opts.maxOutputBytes ?? 16 * 1024 * 1024;
  let binaryPromise: Promise<string> | undefined;
  const binary = () => (binaryPromise ??= opts.binary !== undefined ? Promise.resolve(opts.binary) : resolveBinary('opa', { install: true }));
  const slots = createLimiter(opts.maxConcurrent ?? 4);

  const run = async (args: readonly string[], cwd: string, deadlineMs = timeoutMs): Promise<ProcessResult> => {
    const bin = await binary();
    return slots(() => runProcess(bin, args, { cwd, timeoutMs: deadlineMs, maxOutputBytes: maxOutput }));
  };

  const timeoutDiagnostic = (what: string, ms: number): PolicyDiagnostic[] => [
    { file: '', row: 0, col: 0, code: TIMEOUT_CODE, message: `opa ${what} did not finish within ${ms} ms` },
  ];

  const check = async (modules: readonly RegoModule[]): Promise<CheckOutcome> =>
    withWorkDir(async (dir) => {
      const files = await writeModules(dir, modules);
      const r = await run(['check', '--format', 'json', ...files], dir);
      if (r.timedOut) return { ok: false, diagnostics: timeoutDiagnostic('check', timeoutMs) };
      if (r.code === 0) return { ok: true };
      return { ok: false, diagnostics: parseDiagnostics(r.stderr || r.stdout) };
    });

  return {
    run,
    binary,
    check,

    format: (module) =>
      withWorkDir(async (dir): Promise<FormatOutcome> => {
        const [file] = await writeModules(dir, [module]);
        // `opa fmt` prints the formatted module on stdout.
        const r = await run(['fmt', file!], dir);
        if (r.timedOut) return { ok: false, diagnostics: timeoutDiagnostic('fmt', timeoutMs) };
        if (r.code !== 0) {
          // `opa fmt` reports parse errors as text without a column; `opa check` has the full location.
          const checked = await check([module]);
          return { ok: false, diagnostics: checked.ok ? parseDiagnostics(r.stderr || r.stdout) : checked.diagnostics };
        }
        return { ok: true, source: r.stdout, changed: r.stdout !== module.source };
      }),

    test: (modules, data) =>
      withWorkDir(async (dir): Promise<TestOutcome> => {
        const files = await writeModules(dir, modules);
        if (data !== undefined) {
          await writeFile(path.join(dir, 'data.json'), JSON.stringify(data));
          files.push('data.json');
        }
        // Without -v: with --format json, -v adds full evaluation traces (megabytes for real tests) and
        // nothing the per-test result needs.
        const r = await run(['test', '--format', 'json', ...files], dir, testTimeoutMs);
        if (r.timedOut) return { ok: false, diagnostics: timeoutDiagnostic('test', testTimeoutMs) };
        // Exit code 2 = some test failed (results on stdout); anything else without JSON = compile errors.
        const parsed = tryParseJson(r.stdout);
        if (Array.isArray(parsed)) return { ok: true, results: parsed.map(toTestResult) };
        if (r.code === 0) return { ok: true, results: [] };
        return { ok: false, diagnostics: parseDiagnostics(r.stderr || r.stdout) };
      }),

    build: (modules, entrypoints) =>
      withWorkDir(async (dir): Promise<BuildOutcome> => {
        // Diagnostics with locations come from `opa check`; `opa build` only reports text.
        const checked = await check(modules);
        if (!checked.ok) return checked;
        const files = await writeModules(dir, modules);
        const args = ['build', '-t', 'wasm', '-o', 'bundle.tar.gz'];
        for (const e of entrypoints) args.push('-e', e);
        const r = await run([...args, ...files], dir);
        if (r.timedOut) return { ok: false, diagnostics: timeoutDiagnostic('build', timeoutMs) };
        if (r.code !== 0) return { ok: false, diagnostics: parseDiagnostics(r.stderr || r.stdout) };
        const bundle = await readFile(path.join(dir, 'bundle.tar.gz'));
        const wasm = readTarEntry(gunzipSync(bundle), 'policy.wasm');
        if (wasm === undefined) {
          return { ok: false, diagnostics: [{ file: '', row: 0, col: 0, code: 'build_error', message: 'the bundle has no policy.wasm' }] };
        }
        return { ok: true, wasm, entrypoints: [...entrypoints] };
      }),
  };
}

// ------------------------------------------------------------------------------------------ diagnostics

/**
 * OPA's JSON error report (`{"errors":[{message, code, location:{file,row,col}}]}`, also as a bare array),
 * or its text form (`file:row: code: message`), as diagnostics. Never empty for a non-empty report.
 */
export function parseDiagnostics(output: string): PolicyDiagnostic[] {
  const parsed = tryParseJson(output);
  const list = Array.isArray(parsed) ? parsed : isRecord(parsed) && Array.isArray(parsed.errors) ? parsed.errors : undefined;
  if (list !== undefined && list.length > 0) {
    return list.map((e: unknown) => {
      const err = isRecord(e) ? e : {};
      const loc = isRecord(err.location) ? err.location : {};
      return {
        file: typeof loc.file === 'string' ? loc.file : '',
        row: typeof loc.row === 'number' ? loc.row : 0,
        col: typeof loc.col === 'number' ? loc.col : 0,
        code: typeof err.code === 'string' ? err.code : 'error',
        message: typeof err.message === 'string' ? err.message : JSON.stringify(e),
      };
    });
  }
  const diagnostics: PolicyDiagnostic[] = [];
  for (const m of output.matchAll(/([\w.\-/]+\.rego):(\d+)(?::(\d+))?: (rego_[a-z_]+): ([^\n]+)/g)) {
    diagnostics.push({ file: m[1]!, row: Number(m[2]), col: m[3] === undefined ? 0 : Number(m[3]), code: m[4]!, message: m[5]! });
  }
  if (diagnostics.length > 0) return diagnostics;
  const message = output.trim().replace(/^error: /, '') || 'opa failed without a message';
  return [{ file: '', row: 0, col: 0, code: 'error', message }];
}

function toTestResult(raw: unknown): PolicyTestResult {
  const r = isRecord(raw) ? raw : {};
  const loc = isRecord(r.location) ? r.location : {};
  const error = isRecord(r.error) ? String(r.error.message ?? JSON.stringify(r.error)) : undefined;
  const result: PolicyTestResult = {
    package: typeof r.package === 'string' ? r.package : '',
    name: typeof r.name === 'string' ? r.name : '',
    file: typeof loc.file === 'string' ? loc.file : '',
    row: typeof loc.row === 'number' ? loc.row : 0,
    passed: r.fail !== true && error === undefined && r.skip !== true,
    skipped: r.skip === true,
    durationNs: typeof r.duration === 'number' ? r.duration : 0,
  };
  if (error !== undefined) result.error = error;
  if (typeof r.output === 'string' && r.output !== '') result.output = Buffer.from(r.output, 'base64').toString('utf8');
  return result;
}

// ------------------------------------------------------------------------------------------------ files

async function withWorkDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ps-opa-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A base name safe for the temp dir, always ending in .rego. */
export function safeModuleFileName(file: string, index: number): string {
  const base = path.basename(file).replace(/[^A-Za-z0-9._-]/g, '_');
  const name = base === '' || base.startsWith('.') ? `module${index}` : base;
  return name.endsWith('.rego') ? name : `${name}.rego`;
}

async function writeModules(dir: string, modules: readonly RegoModule[]): Promise<string[]> {
  const used = new Set<string>();
  const files: string[] = [];
  for (const [i, m] of modules.entries()) {
    let name = safeModuleFileName(m.file, i);
    if (used.has(name)) name = `${i}_${name}`;
    used.add(name);
    await writeFile(path.join(dir, name), m.source);
    files.push(name);
  }
  return files;
}

/** The contents of `name` (leading "/" or "./" ignored) in an uncompressed ustar archive. */
export function readTarEntry(tar: Uint8Array, name: string): Uint8Array | undefined {
  const want = name.replace(/^\.?\//, '');
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) return undefined;
    const field = (start: number, len: number) => {
      const bytes = header.subarray(start, start + len);
      const end = bytes.indexOf(0);
      return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString('utf8');
    };
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(345, 155);
    let entryName = longName ?? (prefix !== '' ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    const body = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = Buffer.from(body).toString('utf8').replace(/\0+$/, '');
      continue;
    }
    entryName = entryName.replace(/^\.?\//, '');
    if ((type === '0' || type === '\0') && entryName === want) return new Uint8Array(body);
  }
  return undefined;
}

// -------------------------------------------------------------------------------------------- processes

/** Runs at most `max` tasks at once, the others in arrival order. */
export function createLimiter(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    // A finished task hands its slot straight to the next waiter, so `running` never exceeds `max`.
    if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else running += 1;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  };
}

export function runProcess(
  binary: string,
  args: readonly string[],
  opts: { cwd: string; timeoutMs: number; maxOutputBytes: number; stdin?: string },
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { cwd: opts.cwd, stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    const cap = (list: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > opts.maxOutputBytes) {
        child.kill('SIGKILL');
        return;
      }
      list.push(chunk);
    };
    child.stdout!.on('data', cap(out));
    child.stderr!.on('data', cap(err));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut });
    });
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
  });
}

function tryParseJson(text: string): unknown {
  const t = text.trim();
  if (t === '' || (t[0] !== '{' && t[0] !== '[')) return undefined;
  try {
    return JSON.parse(t);
  } catch {
    // `opa fmt` prints its JSON error report followed by a text summary: parse up to the closing bracket
    // at the start of a line.
    const close = t[0] === '{' ? '\n}' : '\n]';
    const end = t.indexOf(close);
    if (end === -1) return undefined;
    try {
      return JSON.parse(t.slice(0, end + 2));
    } catch {
      return undefined;
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
