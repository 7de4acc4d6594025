/**
 * The load generator of bench/extauthz-latency.ts: vegeta (github.com/tsenart/vegeta, pinned in
 * tools/vegeta/go.mod, built into tools/bin/ by scripts/setup/ensure-tools.sh go), an open-loop HTTP load
 * generator in Go. Why not a Node generator: at 2,000 requests/s a Node HTTP client spends a good share of a
 * core per second on its own bookkeeping, its timers fire late when the machine is busy, and its garbage
 * collector pauses every response in flight: its own event-loop lag landed in both routes' tails.
 *
 * vegeta sends at a constant rate on its own schedule (request `seq` is due at start + seq / rate), never
 * waiting for earlier answers (it adds workers when all are busy), round-robin over the targets, over
 * keep-alive HTTP/1.1 connections. It records for each request when it was actually sent and how long the
 * answer took; `readRun` adds how late it was sent against the schedule, so the response time from the
 * intended send time (coordinated-omission-correct) is `sendLagMs + latencyMs`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface VegetaHit {
  url: string;
  /** HTTP status; 0 when the request failed (error set). */
  code: number;
  error: string;
  /** From the request's start to the end of its answer, ms. */
  latencyMs: number;
  /** How late the request started against the constant-rate schedule, ms (≥ 0). */
  sendLagMs: number;
}

export interface VegetaRunOptions {
  /** The vegeta binary (resolveBinary('vegeta')). */
  binary: string;
  /** GET targets, requested round-robin. */
  urls: string[];
  /** Requests per second over all targets. */
  totalRate: number;
  seconds: number;
  /** Per-request timeout, s. */
  timeoutS?: number;
  /** A command prefix vegeta runs under (e.g. `taskset -c 0`, `chrt -f 1`). */
  prefix?: string[];
}

const MAX_CONNECTIONS = 100;

/** Runs a command to its end, or SIGKILLs it after `limitMs` (a hard wall-clock limit) and fails. */
function run(command: string, args: string[], limitMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, limitMs);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (killed) reject(new Error(`${path.basename(command)} ${args.slice(0, 2).join(' ')} killed after ${limitMs} ms (hard limit)`));
      else if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`${path.basename(command)} ${args.slice(0, 2).join(' ')} exited ${code}: ${Buffer.concat(err).toString('utf8').trim()}`));
    });
  });
}

/** One constant-rate attack over `urls`; returns every request's outcome (in the order vegeta wrote them). */
export async function runVegeta(opts: VegetaRunOptions): Promise<VegetaHit[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ps-vegeta-'));
  try {
    const targets = path.join(dir, 'targets.txt');
    const results = path.join(dir, 'results.bin');
    const timeoutS = opts.timeoutS ?? 5;
    await writeFile(targets, opts.urls.map((u) => `GET ${u}\n`).join('\n'));
    const attack = [
      'attack',
      `-rate=${opts.totalRate}/1s`,
      `-duration=${opts.seconds}s`,
      `-targets=${targets}`,
      `-output=${results}`,
      `-timeout=${timeoutS}s`,
      // At most this many connections: when all are busy a request waits for one inside vegeta (counted in
      // its latency from the due time) instead of opening more, which on a starved machine snowballs into
      // thousands of connections left in TIME_WAIT when vegeta exits.
      `-max-connections=${MAX_CONNECTIONS}`,
      `-connections=${MAX_CONNECTIONS}`,
      // Bodies are not looked at; redirects would be a misconfigured route.
      '-max-body=0',
      '-redirects=-1',
    ];
    const [command, ...args] = [...(opts.prefix ?? []), opts.binary, ...attack];
    // The attack stops by itself after its duration plus the last requests' timeout; killed if it does not.
    await run(command!, args, (opts.seconds + timeoutS + 10) * 1000);
    // Encoded after the attack, so the encoding does not compete with it for CPU.
    return readRun(await run(opts.binary, ['encode', '--to=json', results], 120_000), opts.totalRate);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** An RFC 3339 timestamp with up to nanoseconds → ns since the epoch (Date.parse stops at ms). */
function epochNs(ts: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (m === null) throw new Error(`vegeta: unexpected timestamp ${ts}`);
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) throw new Error(`vegeta: unexpected timestamp ${ts}`);
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0').slice(0, 9));
}

/**
 * vegeta's JSON results (one object a line: seq, code, timestamp, latency ns, error, url, …) → hits with
 * their send lag against the schedule (request seq is due at the start + seq / rate).
 */
export function readRun(jsonLines: string, totalRate: number): VegetaHit[] {
  const parsed = jsonLines
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const r = JSON.parse(l) as { seq: number; code: number; timestamp: string; latency: number; error: string; url: string };
      return { ts: epochNs(r.timestamp), seq: r.seq, code: r.code, latencyNs: r.latency, error: r.error, url: r.url };
    });
  if (parsed.length === 0) return [];
  // Request 0 is sent at once, so its timestamp is the schedule's start.
  const first = parsed.reduce((min, p) => (p.seq < min.seq ? p : min), parsed[0]!).ts;
  const intervalNs = 1e9 / totalRate;
  return parsed.map((p) => ({
    url: p.url,
    code: p.code,
    error: p.error,
    latencyMs: p.latencyNs / 1e6,
    sendLagMs: Math.max(0, Number(p.ts - first) - p.seq * intervalNs) / 1e6,
  }));
}
