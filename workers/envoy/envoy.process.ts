/**
 * Runs a real Envoy with a given bootstrap: the bootstrap goes to a file (a fresh temp dir unless told),
 * Envoy gets a base id of its own so several can run side by side, and `startEnvoy` resolves once the admin
 * `/ready` endpoint says LIVE (which needs the initial xDS fetch to finish, or its initial_fetch_timeout).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveBinary } from '../../server/binaries';
import type { EnvoyBootstrap } from './bootstrap';

export interface StartEnvoyOptions {
  bootstrap: EnvoyBootstrap;
  /** Admin port the bootstrap configures (for the readiness check and `admin()`). */
  adminPort: number;
  /** Envoy binary; default resolveBinary('envoy', { install: true }). */
  binary?: string;
  /** Where the bootstrap file goes; default a new temp dir, removed by stop(). */
  workDir?: string;
  /**
   * Shared-memory base id; must differ between Envoys running at the same time. Default: derived from the
   * admin port (unique among running Envoys, since admin ports are).
   */
  baseId?: number;
  logLevel?: 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'critical' | 'off';
  /** Worker threads; default 1. */
  concurrency?: number;
  /** How long to wait for LIVE; default 30 s. */
  readyTimeoutMs?: number;
  /** Each line Envoy logs. */
  onLog?: (line: string) => void;
}

export interface RunningEnvoy {
  pid: number;
  adminPort: number;
  bootstrapFile: string;
  /** The last lines Envoy logged (up to 500). */
  logs(): string[];
  /** GET on the admin interface; returns status and body. */
  admin(pathAndQuery: string): Promise<{ status: number; body: string }>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s); removes the temp dir. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export async function startEnvoy(opts: StartEnvoyOptions): Promise<RunningEnvoy> {
  const binary = opts.binary ?? (await resolveBinary('envoy', { install: true }));
  const ownDir = opts.workDir === undefined;
  const dir = opts.workDir ?? (await mkdtemp(path.join(tmpdir(), 'ps-envoy-')));
  const bootstrapFile = path.join(dir, `envoy-${opts.adminPort}.json`);
  await writeFile(bootstrapFile, JSON.stringify(opts.bootstrap, null, 2));

  const args = [
    '-c', bootstrapFile,
    '--base-id', String(opts.baseId ?? opts.adminPort),
    '--drain-time-s', '1',
    '--parent-shutdown-time-s', '2',
    '--concurrency', String(opts.concurrency ?? 1),
    '-l', opts.logLevel ?? 'warning',
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue;
      lines.push(line);
      if (lines.length > 500) lines.shift();
      opts.onLog?.(line);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const admin = async (pathAndQuery: string) => {
    const res = await fetch(`http://127.0.0.1:${opts.adminPort}${pathAndQuery}`, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, body: await res.text() };
  };

  let stopped: Promise<void> | undefined;
  const stop = (graceMs = 5_000): Promise<void> => {
    stopped ??= (async () => {
      await terminate(child, exited, graceMs);
      if (ownDir) await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  let lastState = 'no answer';
  for (;;) {
    const early = await Promise.race([
      exited.then((e) => `exited (${e.signal ?? `code ${e.code}`})`),
      spawnError.then((e) => `could not start: ${e.message}`),
      sleep(200).then(() => undefined),
    ]);
    if (early !== undefined) {
      await stop();
      throw new Error(`envoy ${early}; last log lines:\n${lines.slice(-20).join('\n')}`);
    }
    try {
      const { status, body } = await admin('/ready');
      lastState = `${status} ${body.trim()}`;
      if (status === 200 && body.trim() === 'LIVE') break;
    } catch {
      // admin not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`envoy not LIVE after ${opts.readyTimeoutMs ?? 30_000} ms (last /ready: ${lastState}); last log lines:\n${lines.slice(-20).join('\n')}`);
    }
  }

  return {
    pid: child.pid!,
    adminPort: opts.adminPort,
    bootstrapFile,
    logs: () => [...lines],
    admin,
    stop,
  };
}

async function terminate(
  child: ChildProcess,
  exited: Promise<unknown>,
  graceMs: number,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    child.kill('SIGKILL');
    await exited;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
