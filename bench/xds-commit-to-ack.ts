/**
 * xDS benchmark: commit → ACK latency with 100 and 1,000 lightweight ADS clients on loopback (plus one real
 * Envoy on our server), the same measurement against a small peer built on envoyproxy/go-control-plane
 * (bench/go-control-plane, `go build` from the Go module proxy), snapshot build time for 10,000 routes and
 * 2,000 clusters, and the xds process' memory per connected client.
 *
 *   npx tsx bench/xds-commit-to-ack.ts     prints name=value lines, writes bench/results/xds.json
 *
 * What is measured:
 *   - ours: commit = publishRevision of a proposed revision (validate, compile, store the snapshot, NOTIFY, in
 *     one transaction), timed from just before the call (the revision row is created before); the xds
 *     process (a separate `workers/xds/main.ts`, as in production) reloads the snapshot on NOTIFY and pushes it; ACK = the moment a client has ACKed the new snapshot on
 *     all four types (CDS, EDS, LDS, RDS), each at the snapshot's version of that type, i.e. the moment of
 *     its last ACK of a changed type. One sample per client per commit.
 *   - peer: commit = POST /snapshot with the same compiled resources and the same per-type versions
 *     (go-control-plane SnapshotCache.SetSnapshot, ADS mode, one cache.Resources version per type), timed from
 *     just before the request; ACK as above, with the same client code.
 *   - every commit changes one route's weights, so only RDS changes. Both servers version each type by its
 *     content (ours: core/xds/snapshot.ts typeVersions; the peer: those same versions, as go-control-plane
 *     snapshots carry one version per type) and answer only the types whose version changed: one RDS response
 *     and one ACK per client per commit on both sides.
 *   - RSS per client: (RSS of the xds process with 1,000 synced clients − RSS before they connected) / 1,000.
 *   - CPU per push per client: CPU time (user + system, from /proc) of the server process during the commits
 *     divided by (commits × clients), and the same for this process (the clients); less affected than wall
 *     time by other work on the machine. The 1-minute load average is printed with each run.
 * Clients each have their own HTTP/2 connection and run in this process, so they share the 2 cores with both
 * servers: the figures are for this whole loopback setup. The clients are deliberately cheap (raw HTTP/2
 * gRPC framing, reading only version_info/type_url/nonce of a response, see startClient) and identical for
 * both peers, so the server under test rather than the load generator sets the pace.
 * Loops are bounded in count and time; every process started here is stopped at the end.
 *
 *   --only ours|peer   measure one side only (no results file);  --cpu-prof <dir>   V8 CPU profile of the xds process
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import protobuf from 'protobufjs';
import { RouteGraphSchema, type RouteGraph, type RouteGraphInput } from '../contracts/route-graph.schema';
import { compileSnapshots } from '../core/xds/compile';
import { checkSnapshotConsistency, contentHash, TYPE_URL, typeVersionsByUrl } from '../core/xds/snapshot';
import { freePort } from '../scripts/lib/ports';
import { createDb, type Db } from '../server/db/client';
import { startEmbeddedPostgres } from '../server/db/embedded-postgres';
import { applyMigrations } from '../server/db/schema-engine';
import { repoRoot } from '../server/env';
import { publishRevision } from '../server/services/publish.service';
import { envoyBootstrap } from '../workers/envoy/bootstrap';
import { startEnvoy, type RunningEnvoy } from '../workers/envoy/envoy.process';
import { grpcMessageFrame, lengthPrefixed } from '../workers/grpc/grpc-h2.server';
import { adsServiceDefinition } from '../workers/xds/ads.server';
import {
  CONNECTION_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  encodeHeaderBlock,
  Flag,
  frame,
  FRAME_HEADER_BYTES,
  FrameType,
  headerFrames,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from '../workers/grpc/h2-frames';
import { loadXdsProtos } from '../workers/xds/protos';

const run = promisify(execFile);
const protos = loadXdsProtos();
const TYPES = [TYPE_URL.clusters, TYPE_URL.endpoints, TYPE_URL.listeners, TYPE_URL.routes] as const;
const COMMITS: Record<number, number> = { 100: 20, 1000: 10 };
const arg = (name: string): string | undefined => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
/** Development switches: `--only ours|peer` (no results file), `--cpu-prof <dir>` (V8 profile of the xds process). */
const ONLY = arg('--only');
const CPU_PROF_DIR = arg('--cpu-prof');
const COMMIT_TIMEOUT_MS = 60_000;

// ------------------------------------------------------------------------------------------- graphs

/** The graph the latency runs serve: 1 listener, 10 routes, 10 clusters of 2 endpoints. */
function benchGraph(listenerPort: number, commit: number): RouteGraphInput {
  const clusters = Array.from({ length: 10 }, (_, i) => ({
    name: `svc-${i}`,
    endpoints: [1, 2].map((k) => ({ address: `127.0.${i + 1}.${k}`, port: 18000 + i })),
  }));
  const routes = Array.from({ length: 10 }, (_, i) => ({
    name: `r-${i}`,
    match: { prefix: `/svc-${i}/` },
    action: {
      kind: 'forward' as const,
      clusters:
        i === 0
          ? [{ cluster: 'svc-0', weight: 100 - (commit % 50) }, { cluster: 'svc-1', weight: commit % 50 }]
          : [{ cluster: `svc-${i}`, weight: 1 }],
    },
  }));
  return {
    listeners: [{ name: 'edge', address: '127.0.0.1', port: listenerPort, virtualHosts: ['all'] }],
    virtualHosts: [{ name: 'all', domains: ['*'], routes: routes.map((r) => r.name) }],
    routes,
    clusters,
    nodeGroups: [{ name: 'default', listeners: ['edge'] }],
  };
}

/** 10,000 routes over 100 virtual hosts, 2,000 clusters of 2 endpoints, one node group. */
function bigGraph(): RouteGraph {
  const clusters = Array.from({ length: 2000 }, (_, i) => ({
    name: `c-${i}`,
    endpoints: [1, 2].map((k) => ({ address: `10.${Math.floor(i / 250)}.${i % 250}.${k}`, port: 8080 })),
  }));
  const routes = Array.from({ length: 10_000 }, (_, i) => ({
    name: `r-${i}`,
    match: { prefix: `/r${i}/`, ...(i % 10 === 0 ? { headers: [{ name: 'x-canary', exact: '1' }] } : {}) },
    action: {
      kind: 'forward' as const,
      clusters: i % 5 === 0 ? [{ cluster: `c-${i % 2000}`, weight: 90 }, { cluster: `c-${(i + 1) % 2000}`, weight: 10 }] : [{ cluster: `c-${i % 2000}`, weight: 1 }],
    },
    ...(i % 7 === 0 ? { timeoutMs: 2000, retry: { retryOn: ['5xx' as const], numRetries: 2 } } : {}),
  }));
  const virtualHosts = Array.from({ length: 100 }, (_, v) => ({
    name: `vh-${v}`,
    domains: [`svc-${v}.example.com`],
    routes: routes.slice(v * 100, v * 100 + 100).map((r) => r.name),
  }));
  return RouteGraphSchema.parse({
    listeners: [{ name: 'edge', port: 10000, virtualHosts: virtualHosts.map((v) => v.name) }],
    virtualHosts,
    routes,
    clusters,
    nodeGroups: [{ name: 'default', listeners: ['edge'] }],
  });
}

// ------------------------------------------------------------------------------------------- clients

interface BenchClient {
  /** Per type: last version ACKed and when. */
  acked: Map<string, { version: string; at: number }>;
  close(): void;
}

const REQUEST = protos.root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
const RESPONSE = protos.root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const RES_FIELD = { version: RESPONSE.fields.version_info!.id, typeUrl: RESPONSE.fields.type_url!.id, nonce: RESPONSE.fields.nonce!.id };

/** version_info, type_url and nonce of an encoded DiscoveryResponse; the resources are skipped, not decoded. */
function peekResponse(bytes: Uint8Array): { version: string; typeUrl: string; nonce: string } {
  const r = protobuf.Reader.create(bytes);
  let version = '';
  let typeUrl = '';
  let nonce = '';
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === RES_FIELD.version) version = r.string();
    else if (field === RES_FIELD.typeUrl) typeUrl = r.string();
    else if (field === RES_FIELD.nonce) nonce = r.string();
    else r.skipType(tag & 7);
  }
  return { version, typeUrl, nonce };
}

/** The clients' read buffer (see startClient). */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const EMPTY = Buffer.alloc(0);

/** ACK prefixes (a DiscoveryRequest without its nonce) by type URL, version and names: shared by all clients. */
const ackPrefixes = new Map<string, Uint8Array>();
const NONCE_TAG = (REQUEST.fields.response_nonce!.id << 3) | 2;

/** An ACK: the cached DiscoveryRequest of (type, version, names) plus this response's nonce (fields may come in any order). */
function encodeAck(typeUrl: string, version: string, nonce: string, names: string[]): Buffer {
  const key = `${typeUrl}\u0000${version}\u0000${names.join('\u0000')}`;
  let prefix = ackPrefixes.get(key);
  if (prefix === undefined) {
    prefix = REQUEST.encode({ type_url: typeUrl, version_info: version, resource_names: names }).finish();
    ackPrefixes.set(key, prefix);
  }
  const field = protobuf.Writer.create().uint32(NONCE_TAG).string(nonce).finish();
  const out = Buffer.allocUnsafe(prefix.length + field.length);
  out.set(prefix, 0);
  out.set(field, prefix.length);
  return out;
}

/**
 * A lightweight SotW ADS client: its own HTTP/2 connection (raw frames over node:net, workers/grpc/h2-frames.ts)
 * with one StreamAggregatedResources call, subscribes to the four types and ACKs every response at once (same
 * version, its nonce, same resource_names). It reads only version_info, type_url and nonce of a response and
 * never decodes response headers (nothing in them matters here; trailers, i.e. HEADERS with END_STREAM, end
 * the client). With 1,000 of them in this process sharing the 2 cores with the server under test, the client
 * stack must cost far less than the server: @grpc/grpc-js' client and full decoding cost more than the server,
 * and node:http2 still cost 118 µs of this process' CPU per push per client (bench run of 2026-12-07); these
 * frames cost a few µs. HTTP/2 duties kept: preface and SETTINGS (ACKed), PING answered, flow control both
 * ways (receive windows given back as responses are consumed; requests wait for the server's window). Both
 * peers are measured with exactly this client.
 */
function startClient(
  address: string,
  nodeId: string,
  names: { clusters: string[]; listeners: string[] },
  onAck: (client: BenchClient) => void,
): BenchClient {
  const methodPath = adsServiceDefinition(protos).StreamAggregatedResources!.path;
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  // Reads land in one buffer shared by all clients (node's `onread`: no stream machinery per read); the
  // callback copies what it keeps beyond the read (partial frames and messages).
  const socket = net.connect({ host, port, noDelay: true, onread: { buffer: READ_BUFFER, callback: (n) => (onRead(READ_BUFFER.subarray(0, n)), true) } });
  socket.on('error', () => {});
  const STREAM = 1;
  const RECEIVE_WINDOW = 16 * 1024 * 1024;
  const resourceNames: Record<string, string[]> = {
    [TYPE_URL.clusters]: [],
    [TYPE_URL.listeners]: [],
    [TYPE_URL.endpoints]: names.clusters,
    [TYPE_URL.routes]: names.listeners,
  };
  const client: BenchClient = { acked: new Map(), close: () => socket.destroy() };

  // Sending: request messages wait when the server's windows are used up.
  let connWindow = DEFAULT_WINDOW;
  let streamWindow = DEFAULT_WINDOW;
  let peerInitialWindow = DEFAULT_WINDOW;
  const queued: Buffer[] = [];
  const out: Buffer[] = [];
  const sendQueued = () => {
    while (queued.length > 0 && queued[0]!.length <= Math.min(connWindow, streamWindow)) {
      const data = queued.shift()!;
      connWindow -= data.length;
      streamWindow -= data.length;
      out.push(frame(FrameType.DATA, 0, STREAM, data));
    }
  };
  const sendMessage = (message: Uint8Array) => {
    const length = 5 + message.length;
    if (queued.length === 0 && length <= Math.min(connWindow, streamWindow)) {
      // The common case, in one allocation: frame header, gRPC prefix, message.
      connWindow -= length;
      streamWindow -= length;
      out.push(grpcMessageFrame(STREAM, message));
      return;
    }
    queued.push(lengthPrefixed(Buffer.from(message.buffer, message.byteOffset, message.length)));
    sendQueued();
  };
  const flush = () => {
    if (out.length > 0) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    out.length = 0;
  };

  // Receiving.
  let consumed = 0;
  let message: Buffer | undefined;
  const onMessage = (bytes: Uint8Array) => {
    const res = peekResponse(bytes);
    sendMessage(encodeAck(res.typeUrl, res.version, res.nonce, resourceNames[res.typeUrl] ?? []));
    client.acked.set(res.typeUrl, { version: res.version, at: performance.now() });
    onAck(client);
  };
  const onData = (payload: Buffer) => {
    consumed += payload.length;
    if (consumed >= RECEIVE_WINDOW / 2) {
      out.push(windowUpdateFrame(0, consumed), windowUpdateFrame(STREAM, consumed));
      consumed = 0;
    }
    let buf = message === undefined ? payload : Buffer.concat([message, payload]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      const end = 5 + buf.readUInt32BE(1);
      onMessage(buf.subarray(5, end));
      buf = buf.subarray(end);
    }
    message = buf.length > 0 ? Buffer.from(buf) : undefined;
  };
  let input: Buffer = Buffer.alloc(0);
  const onRead = (chunk: Buffer): void => {
    let buf = input.length === 0 ? chunk : Buffer.concat([input, chunk]);
    while (buf.length >= FRAME_HEADER_BYTES && buf.length >= FRAME_HEADER_BYTES + buf.readUIntBE(0, 3)) {
      const length = buf.readUIntBE(0, 3);
      const type = buf[3]!;
      const flags = buf[4]!;
      const streamId = buf.readUInt32BE(5) & 0x7fffffff;
      const payload = buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
      buf = buf.subarray(FRAME_HEADER_BYTES + length);
      if (type === FrameType.DATA && streamId === STREAM) {
        onData(flags & Flag.PADDED ? payload.subarray(1, payload.length - payload[0]!) : payload);
      } else if (type === FrameType.SETTINGS && !(flags & Flag.ACK)) {
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          if (payload.readUInt16BE(i) !== Setting.INITIAL_WINDOW_SIZE) continue;
          const value = payload.readUInt32BE(i + 2);
          streamWindow += value - peerInitialWindow;
          peerInitialWindow = value;
        }
        out.push(frame(FrameType.SETTINGS, Flag.ACK, 0));
        sendQueued();
      } else if (type === FrameType.WINDOW_UPDATE) {
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (streamId === 0) connWindow += increment;
        else if (streamId === STREAM) streamWindow += increment;
        sendQueued();
      } else if (type === FrameType.PING && !(flags & Flag.ACK)) {
        out.push(frame(FrameType.PING, Flag.ACK, 0, payload));
      } else if ((type === FrameType.HEADERS && flags & Flag.END_STREAM) || type === FrameType.RST_STREAM || type === FrameType.GOAWAY) {
        socket.destroy(); // the call or the connection ended: this client is done
        return;
      }
    }
    input = buf.length > 0 ? Buffer.from(buf) : EMPTY;
    flush();
  };

  out.push(
    CONNECTION_PREFACE,
    settingsFrame([
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, RECEIVE_WINDOW],
    ]),
    windowUpdateFrame(0, RECEIVE_WINDOW - DEFAULT_WINDOW),
    ...headerFrames(
      STREAM,
      encodeHeaderBlock([
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', methodPath],
        [':authority', address],
        ['content-type', 'application/grpc'],
        ['te', 'trailers'],
      ]),
      false,
      DEFAULT_MAX_FRAME_SIZE,
    ),
  );
  const node = { id: nodeId, cluster: 'bench', metadata: { tenant: 'bench', node_group: 'default' }, user_agent_name: 'bench' };
  TYPES.forEach((typeUrl, i) => sendMessage(protos.encodeDiscoveryRequest({ ...(i === 0 ? { node } : {}), type_url: typeUrl, resource_names: resourceNames[typeUrl] })));
  flush();
  return client;
}

/** A snapshot as clients see it: per type URL, the version its responses carry. */
interface Target {
  version: string;
  typeVersions: Record<string, string>;
}

const ackedAll = (c: BenchClient, target: Target) => TYPES.every((t) => c.acked.get(t)?.version === target.typeVersions[t]);

/** The clients of one server, and the snapshot they are being waited on for (checked per ACK, per client). */
class Fleet {
  readonly clients: BenchClient[] = [];
  private target?: { version: Target; remaining: Set<BenchClient>; resolve: () => void };

  readonly onAck = (c: BenchClient): void => {
    const t = this.target;
    if (t === undefined || !t.remaining.has(c) || !ackedAll(c, t.version)) return;
    t.remaining.delete(c);
    if (t.remaining.size === 0) {
      this.target = undefined;
      t.resolve();
    }
  };

  /** Resolves when every client has ACKed `version` on all four types (bounded). */
  allAcked(version: Target, timeoutMs: number): Promise<void> {
    const remaining = new Set(this.clients.filter((c) => !ackedAll(c, version)));
    if (remaining.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.target = undefined;
        reject(new Error(`${remaining.size} of ${this.clients.length} clients did not ACK ${version.version.slice(0, 12)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.target = {
        version,
        remaining,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

async function connectClients(address: string, n: number, names: { clusters: string[]; listeners: string[] }, version: Target, tag: string) {
  const fleet = new Fleet();
  for (let i = 0; i < n; i++) {
    fleet.clients.push(startClient(address, `${tag}-${i}`, names, fleet.onAck));
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20));
  }
  await fleet.allAcked(version, 120_000);
  return fleet;
}

/** Per-client commit→ACK latencies of one commit (ms). */
async function measureCommit(fleet: Fleet, version: Target, commit: () => Promise<void>): Promise<{ acks: number[]; commitMs: number; firstAckMs: number }> {
  const t0 = performance.now();
  const acked = fleet.allAcked(version, COMMIT_TIMEOUT_MS);
  await commit();
  const commitMs = performance.now() - t0;
  await acked;
  const acks = fleet.clients.map((c) => Math.max(...TYPES.map((t) => c.acked.get(t)!.at)) - t0);
  return { acks, commitMs, firstAckMs: Math.min(...acks) };
}

interface ServerUnderTest {
  label: string;
  address: string;
  /** The server process (for CPU time and RSS). */
  pid: number;
  names: { clusters: string[]; listeners: string[] };
  /** The snapshot it serves now. */
  version: Target;
  nextGraph(): RouteGraphInput;
  versionOf(graph: RouteGraphInput): Target;
  /** Work before the timed commit (ours: the proposed revision row an operator creates before applying it). */
  prepare?(graph: RouteGraphInput): Promise<void>;
  commit(graph: RouteGraphInput): Promise<void>;
  afterCommit?(version: Target, wallStart: Date): Promise<void>;
}

interface RunFigures {
  p50: number;
  p99: number;
  samples: number;
  /** Server CPU time (user + system) during the commits / (commits × clients), µs. */
  serverCpuUsPerPushPerClient: number;
  /** The same for this process (the clients), µs. */
  harnessCpuUsPerPushPerClient: number;
  rssKbPerClient: number;
  /** Median over the commits of the commit call's own duration, and of the first client's ACK. */
  commitMsP50: number;
  firstAckMsP50: number;
}

/** Commit → ACK with 100, then 1,000 clients of one server; identical for both peers. */
async function measureServer(s: ServerUnderTest): Promise<{ version: Target; runs: Map<number, RunFigures> }> {
  const runs = new Map<number, RunFigures>();
  let version = s.version;
  for (const n of [100, 1000]) {
    // Measured just before these clients connect (after the previous run's clients left and the process
    // settled), so start-up garbage collected later does not count against them.
    const rssBefore = rssKb(s.pid);
    const conn = await connectClients(s.address, n, s.names, version, `${s.label}-${n}`);
    await settle(n === 1000 ? 2_000 : 500);
    const rssKbPerClient = round((rssKb(s.pid) - rssBefore) / n);
    const samples: number[] = [];
    let serverCpu = 0;
    let harnessCpu = 0;
    /** Per commit: how long the commit call took, and when the first client ACKed (ms from its start). */
    const commitMs: number[] = [];
    const firstAckMs: number[] = [];
    // Monotonic µs, the clock of V8 CPU profiles: to cut a --cpu-prof profile to the commits of this run.
    const windowStart = process.hrtime.bigint() / 1000n;
    for (let k = 0; k < COMMITS[n]!; k++) {
      const graph = s.nextGraph();
      const next = s.versionOf(graph);
      await s.prepare?.(graph);
      const wallStart = new Date();
      const cpu0 = cpuMs(s.pid);
      const own0 = process.cpuUsage();
      const m = await measureCommit(conn, next, () => s.commit(graph));
      samples.push(...m.acks);
      commitMs.push(m.commitMs);
      firstAckMs.push(m.firstAckMs);
      const own = process.cpuUsage(own0);
      harnessCpu += (own.user + own.system) / 1000;
      serverCpu += cpuMs(s.pid) - cpu0;
      version = next;
      await s.afterCommit?.(next, wallStart);
      await settle(200);
    }
    if (CPU_PROF_DIR !== undefined) console.log(`${s.label} n=${n}: commits between ${windowStart} and ${process.hrtime.bigint() / 1000n} (µs, monotonic)`);
    conn.close();
    samples.sort((a, b) => a - b);
    const pushes = COMMITS[n]! * n;
    const fig: RunFigures = {
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      samples: samples.length,
      serverCpuUsPerPushPerClient: round((serverCpu * 1000) / pushes),
      harnessCpuUsPerPushPerClient: round((harnessCpu * 1000) / pushes),
      rssKbPerClient,
      commitMsP50: round(percentile([...commitMs].sort((a, b) => a - b), 50)),
      firstAckMsP50: round(percentile([...firstAckMs].sort((a, b) => a - b), 50)),
    };
    runs.set(n, fig);
    console.log(
      `${s.label} n=${n}: p50=${round(fig.p50)} p99=${round(fig.p99)} (${fig.samples} samples) ` +
        `server cpu/push/client=${fig.serverCpuUsPerPushPerClient}µs harness cpu/push/client=${fig.harnessCpuUsPerPushPerClient}µs ` +
        `commit p50=${fig.commitMsP50}ms first ack p50=${fig.firstAckMsP50}ms ` +
        `load=${loadavg()[0]!.toFixed(2)}`,
    );
    await settle(2_000);
  }
  return { version, runs };
}

// ------------------------------------------------------------------------------------------- helpers

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** CPU time (user + system) a process has used so far, ms (from /proc, 10 ms resolution). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function waitHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1_000) })).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const loadAtStart = round(loadavg()[0]!, 2);
  console.log(`load_average_1m=${loadAtStart}`);
  const out: Record<string, number> = {};
  const extra: Record<string, number> = {};
  const work = mkdtempSync(path.join(tmpdir(), 'ps-bench-xds-'));
  const children: ChildProcess[] = [];
  let envoy: RunningEnvoy | undefined;
  let db: Db | undefined;
  let pg: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let pgDir: string | undefined;
  try {
    // 1. Snapshot build: 10,000 routes, 2,000 clusters (compile + content hash + consistency check).
    const big = bigGraph();
    const builds: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t0 = performance.now();
      const snaps = compileSnapshots(big);
      for (const s of snaps) if (checkSnapshotConsistency(s).length > 0) throw new Error('inconsistent big snapshot');
      if (i > 0) builds.push(performance.now() - t0); // the first run warms the JIT
    }
    builds.sort((a, b) => a - b);
    out.xds_snapshot_build_ms_10k_routes = round(percentile(builds, 50));
    const t0 = performance.now();
    const encoded = compileSnapshots(big)[0]!;
    for (const kind of ['clusters', 'endpoints', 'listeners', 'routes'] as const) for (const r of encoded.resources[kind]) protos.encodeAny(r);
    extra.xds_snapshot_build_and_encode_ms_10k_routes = round(performance.now() - t0);
    console.log(`xds_snapshot_build_ms_10k_routes=${out.xds_snapshot_build_ms_10k_routes}`);

    // 2. PostgreSQL, the xds process, one real Envoy.
    const pgPort = await freePort();
    pgDir = mkdtempSync(path.join(tmpdir(), 'ps-bench-pg-'));
    pg = await startEmbeddedPostgres({ dataDir: pgDir, port: pgPort, database: 'ps_bench' });
    await applyMigrations(pg.url);
    db = createDb(pg.url, { maxConnections: 4 });
    const tenantId = (await db.tenant.create({ data: { slug: 'bench', name: 'Bench' } })).id;
    const listenerPort = await freePort();
    let commitNo = 0;
    let revisionNo = 0;
    /** A proposed revision of `graph` (created before the timed commit, as an operator proposes before applying). */
    const proposeGraph = async (graph: RouteGraphInput): Promise<string> => {
      revisionNo += 1;
      const rev = await db!.revision.create({
        data: { tenantId, number: revisionNo, state: 'proposed', graph: graph as object, graphHash: contentHash(graph), createdById: 'bench' },
      });
      return rev.id;
    };
    const applyRevision = async (revisionId: string): Promise<string> => {
      const r = await publishRevision(db!, { tenantId, revisionId });
      return r.snapshots.find((s) => s.nodeGroup === 'default')!.version;
    };
    const publishGraph = async (graph: RouteGraphInput): Promise<string> => applyRevision(await proposeGraph(graph));
    let proposed: string | undefined;
    const compiled = (graph: RouteGraphInput) => compileSnapshots(RouteGraphSchema.parse(graph))[0]!;
    const versionOf = (graph: RouteGraphInput): Target => {
      const s = compiled(graph);
      return { version: s.version, typeVersions: typeVersionsByUrl(s.typeVersions) };
    };
    const first = benchGraph(listenerPort, commitNo);
    await publishGraph(first);
    let version = versionOf(first);

    const names = { clusters: Array.from({ length: 10 }, (_, i) => `svc-${i}`), listeners: ['edge'] };
    const nextGraph = () => benchGraph(listenerPort, ++commitNo);
    const oursP99: Record<number, number> = {};
    const peerP99: Record<number, number> = {};

    if (ONLY !== 'peer') {
      const xdsPort = await freePort();
      const xdsHttpPort = await freePort();
      const profArgs = CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(CPU_PROF_DIR)];
      const xds = spawn(process.execPath, [...profArgs, '--import', 'tsx', 'workers/xds/main.ts'], {
        cwd: repoRoot,
        env: { ...process.env, DATABASE_URL: pg.url, XDS_PORT: String(xdsPort), XDS_HTTP_PORT: String(xdsHttpPort), LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(xds);
      await waitHttp(`http://127.0.0.1:${xdsHttpPort}/healthz`, 60_000);

      const adminPort = await freePort();
      envoy = await startEnvoy({
        bootstrap: envoyBootstrap({ nodeId: 'bench-envoy', tenant: 'bench', nodeGroup: 'default', xdsHost: '127.0.0.1', xdsPort, adminPort }),
        adminPort,
      });
      await settle(1_000);
      const envoySamples: number[] = [];
      const ours = await measureServer({
        label: 'ours',
        address: `127.0.0.1:${xdsPort}`,
        pid: xds.pid!,
        names,
        version,
        nextGraph,
        versionOf,
        prepare: async (graph) => {
          proposed = await proposeGraph(graph);
        },
        commit: async () => void (await applyRevision(proposed!)),
        afterCommit: async (next, wallStart) => {
          // The real Envoy's ACK, as the xds process recorded it (ackedAt of its last type: the changed one).
          for (let tries = 0; tries < 50; tries++) {
            const rows = await db!.proxyResourceState.findMany({ where: { proxy: { nodeId: 'bench-envoy' }, typeUrl: { in: [...TYPES] } } });
            if (rows.length === 4 && rows.every((r) => r.ackedVersion === next.typeVersions[r.typeUrl])) {
              envoySamples.push(Math.max(...rows.map((r) => r.ackedAt!.getTime())) - wallStart.getTime());
              return;
            }
            await settle(100);
          }
        },
      });
      version = ours.version;
      for (const [n, r] of ours.runs) {
        oursP99[n] = r.p99;
        if (n === 1000) {
          out.xds_commit_to_ack_p50_ms_1000 = round(r.p50);
          out.xds_commit_to_ack_p99_ms_1000 = round(r.p99);
          out.xds_rss_kb_per_client = r.rssKbPerClient;
        } else {
          out.xds_commit_to_ack_p99_ms_100 = round(r.p99);
          extra.xds_commit_to_ack_p50_ms_100 = round(r.p50);
        }
        extra[`xds_commit_to_ack_samples_${n}`] = r.samples;
        extra[`xds_cpu_us_per_push_per_client_${n}`] = r.serverCpuUsPerPushPerClient;
        extra[`xds_harness_cpu_us_per_push_per_client_${n}`] = r.harnessCpuUsPerPushPerClient;
        extra[`xds_commit_call_p50_ms_${n}`] = r.commitMsP50;
        extra[`xds_first_ack_p50_ms_${n}`] = r.firstAckMsP50;
      }
      envoySamples.sort((a, b) => a - b);
      extra.xds_commit_to_ack_envoy_p50_ms = round(percentile(envoySamples, 50));
      extra.xds_commit_to_ack_envoy_samples = envoySamples.length;
      await envoy.stop();
      envoy = undefined;
      await stopChild(xds);
    }

    if (ONLY !== 'ours') {
      // 3. The go-control-plane peer, same clients, same resources.
      const peerBin = path.join(work, 'xds-peer');
      await run('go', ['build', '-o', peerBin, '.'], { cwd: path.join(repoRoot, 'bench', 'go-control-plane'), timeout: 600_000 });
      const peerGrpc = await freePort();
      const peerHttp = await freePort();
      const peer = spawn(peerBin, ['-grpc', `127.0.0.1:${peerGrpc}`, '-http', `127.0.0.1:${peerHttp}`], { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(peer);
      await waitHttp(`http://127.0.0.1:${peerHttp}/healthz`, 30_000);
      // The same resources and the same per-type versions as ours serves (the four types the peer knows).
      const setPeer = async (graph: RouteGraphInput): Promise<void> => {
        const s = compiled(graph);
        const { clusters, endpoints, listeners, routes } = s.resources;
        const { clusters: c, endpoints: e, listeners: l, routes: r } = s.typeVersions;
        const res = await fetch(`http://127.0.0.1:${peerHttp}/snapshot`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            version: s.version,
            typeVersions: { clusters: c, endpoints: e, listeners: l, routes: r },
            resources: { clusters, endpoints, listeners, routes },
          }),
        });
        if (res.status !== 204) throw new Error(`peer refused the snapshot: ${res.status} ${await res.text()}`);
      };
      const current = benchGraph(listenerPort, commitNo);
      await setPeer(current);
      const peerVersion = versionOf(current);
      await settle(500);
      const theirs = await measureServer({
        label: 'go-control-plane',
        address: `127.0.0.1:${peerGrpc}`,
        pid: peer.pid!,
        names,
        version: peerVersion,
        nextGraph,
        versionOf,
        commit: async (graph) => void (await setPeer(graph)),
      });
      for (const [n, r] of theirs.runs) {
        peerP99[n] = r.p99;
        extra[`go_control_plane_commit_to_ack_p50_ms_${n}`] = round(r.p50);
        extra[`go_control_plane_commit_to_ack_p99_ms_${n}`] = round(r.p99);
        extra[`go_control_plane_cpu_us_per_push_per_client_${n}`] = r.serverCpuUsPerPushPerClient;
        extra[`go_control_plane_harness_cpu_us_per_push_per_client_${n}`] = r.harnessCpuUsPerPushPerClient;
        extra[`go_control_plane_commit_call_p50_ms_${n}`] = r.commitMsP50;
        extra[`go_control_plane_first_ack_p50_ms_${n}`] = r.firstAckMsP50;
        if (n === 1000) extra.go_control_plane_rss_kb_per_client = r.rssKbPerClient;
      }
      await stopChild(peer);
    }
    if (ONLY !== undefined) return; // a partial run writes no results file
    out.xds_vs_go_control_plane_p99_ratio = round(oursP99[1000]! / peerP99[1000]!, 3);
    extra.xds_vs_go_control_plane_cpu_per_push_ratio = round(
      extra.xds_cpu_us_per_push_per_client_1000! / extra.go_control_plane_cpu_us_per_push_per_client_1000!,
      3,
    );

    const result = {
      xds_commit_to_ack_p50_ms_1000: out.xds_commit_to_ack_p50_ms_1000,
      xds_commit_to_ack_p99_ms_1000: out.xds_commit_to_ack_p99_ms_1000,
      xds_commit_to_ack_p99_ms_100: out.xds_commit_to_ack_p99_ms_100,
      xds_vs_go_control_plane_p99_ratio: out.xds_vs_go_control_plane_p99_ratio,
      xds_snapshot_build_ms_10k_routes: out.xds_snapshot_build_ms_10k_routes,
      xds_rss_kb_per_client: out.xds_rss_kb_per_client,
      // CPU-based figures (less affected by other work on a shared machine than the wall-clock ones above).
      xds_cpu_us_per_push_per_client_1000: extra.xds_cpu_us_per_push_per_client_1000,
      go_control_plane_cpu_us_per_push_per_client_1000: extra.go_control_plane_cpu_us_per_push_per_client_1000,
      xds_vs_go_control_plane_cpu_per_push_ratio: extra.xds_vs_go_control_plane_cpu_per_push_ratio,
      go_control_plane_commit_to_ack_p50_ms_1000: extra.go_control_plane_commit_to_ack_p50_ms_1000,
      go_control_plane_commit_to_ack_p99_ms_1000: extra.go_control_plane_commit_to_ack_p99_ms_1000,
      load_average_1m_at_start: loadAtStart,
      load_average_1m_at_end: round(loadavg()[0]!, 2),
      machine: `${cpus().length}x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; clients, xds (node), go-control-plane peer, PostgreSQL and one Envoy on the same host, loopback; shared machine`,
      date: new Date().toISOString(),
    };
    for (const [k, v] of Object.entries(result)) if (typeof v === 'number') console.log(`${k}=${v}`);
    for (const [k, v] of Object.entries(extra)) console.log(`${k}=${v}`);
    mkdirSync(path.join(repoRoot, 'bench', 'results'), { recursive: true });
    writeFileSync(path.join(repoRoot, 'bench', 'results', 'xds.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await envoy?.stop();
    for (const c of children) await stopChild(c);
    await db?.$disconnect();
    await pg?.stop();
    rmSync(work, { recursive: true, force: true });
    if (pgDir !== undefined) rmSync(pgDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
