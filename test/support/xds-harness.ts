/**
 * Shared pieces of the xDS integration tests: a fresh database with tenant "demo", an in-process xds server,
 * publishing a graph as a new revision, real Envoys bootstrapped to it (SotW or delta), a keep-alive HTTP
 * client, and bounded polling. Everything started here is stopped by `stop()`.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import pino from 'pino';
import type { RouteGraph, RouteGraphInput } from '../../contracts/route-graph.schema';
import { contentHash, TYPE_URL, typeVersionsByUrl } from '../../core/xds/snapshot';
import type { Db } from '../../server/db/client';
import { findProxy, type ProxyStatus } from '../../server/db/proxy.repo';
import { findSnapshotByVersion } from '../../server/db/snapshot.repo';
import { publishRevision } from '../../server/services/publish.service';
import { freePort } from '../../scripts/lib/ports';
import { envoyBootstrap } from '../../workers/envoy/bootstrap';
import { startEnvoy, type RunningEnvoy } from '../../workers/envoy/envoy.process';
import { startXdsServer, type RunningXdsServer, type XdsServerOptions } from '../../workers/xds/xds.server';
import { createTestDatabase, type TestDatabase } from './db';

export const ALL_TYPES = [TYPE_URL.listeners, TYPE_URL.routes, TYPE_URL.clusters, TYPE_URL.endpoints];

export interface XdsHarness {
  tdb: TestDatabase;
  db: Db;
  tenantId: string;
  xds: RunningXdsServer;
  /** Stores `graph` as a new revision and publishes it; returns node group → version. */
  publish(graph: RouteGraph | RouteGraphInput): Promise<Record<string, string>>;
  /** A real Envoy in `nodeGroup`, bootstrapped to `xdsPort` (default: this harness' server). */
  envoy(opts: { nodeId: string; nodeGroup?: string; apiType?: 'GRPC' | 'DELTA_GRPC'; xdsPort?: number }): Promise<RunningEnvoy>;
  /** Another xds replica on the same database (stopped by stop()). */
  replica(opts?: Partial<XdsServerOptions>): Promise<RunningXdsServer>;
  proxy(nodeId: string): Promise<ProxyStatus>;
  /** Resolves once every xDS type of `nodeId` is ACKed at snapshot `version` (each type at its type version). */
  ackedAll(nodeId: string, version: string, timeoutMs?: number): Promise<ProxyStatus>;
  /** Resolves once `types` of `nodeId` are ACKed at snapshot `version` (each at its type version). */
  ackedTypes(nodeId: string, version: string, types: readonly string[], timeoutMs?: number): Promise<ProxyStatus>;
  /** Per type URL, the type versions of snapshot `version` of `nodeGroup` (what proxies are sent and ACK). */
  typeVersions(version: string, nodeGroup?: string): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

export async function startXdsHarness(opts: { tenantSlug?: string; grpcPort?: number } = {}): Promise<XdsHarness> {
  const tdb = await createTestDatabase();
  const db = tdb.db;
  const tenantId = (await db.tenant.create({ data: { slug: opts.tenantSlug ?? 'demo', name: 'Demo' } })).id;
  const serverOpts = (): XdsServerOptions => ({
    db,
    databaseUrl: tdb.url,
    grpcPort: 0,
    httpPort: null,
    log: pino({ level: 'silent' }),
    defaultMetrics: false,
  });
  const xds = await startXdsServer({ ...serverOpts(), grpcPort: opts.grpcPort ?? 0, replica: 'replica-a' });
  const envoys: RunningEnvoy[] = [];
  const replicas: RunningXdsServer[] = [];
  let revisionNumber = 0;

  const proxy = async (nodeId: string): Promise<ProxyStatus> => {
    const p = await findProxy(db, tenantId, nodeId);
    assert.ok(p, `proxy row of ${nodeId}`);
    return p;
  };
  const typeVersions = async (version: string, nodeGroup = 'default'): Promise<Record<string, string>> => {
    const s = await findSnapshotByVersion(db, tenantId, nodeGroup, version);
    assert.ok(s, `snapshot ${version.slice(0, 12)} of node group ${nodeGroup}`);
    return typeVersionsByUrl(s.typeVersions);
  };
  /** `types` of `nodeId` ACKed at snapshot `version`: each type at the snapshot's version of that type. */
  const ackedAt = (nodeId: string, version: string, types: readonly string[], timeoutMs?: number): Promise<ProxyStatus> =>
    eventually(
      `ACKs of ${version.slice(0, 12)} from ${nodeId}`,
      async () => {
        const p = await proxy(nodeId);
        const want = await typeVersions(version, p.nodeGroup);
        return types.every((t) => p.resources.find((r) => r.typeUrl === t)?.ackedVersion === want[t]) ? p : undefined;
      },
      timeoutMs,
    );

  return {
    tdb,
    db,
    tenantId,
    xds,
    publish: async (graph) => {
      revisionNumber += 1;
      const rev = await db.revision.create({
        data: { tenantId, number: revisionNumber, state: 'proposed', graph: graph as object, graphHash: contentHash(graph), createdById: 'test' },
      });
      const result = await publishRevision(db, { tenantId, revisionId: rev.id });
      return Object.fromEntries(result.snapshots.map((s) => [s.nodeGroup, s.version]));
    },
    envoy: async (o) => {
      const adminPort = await freePort();
      const envoy = await startEnvoy({
        bootstrap: envoyBootstrap({
          nodeId: o.nodeId,
          tenant: opts.tenantSlug ?? 'demo',
          nodeGroup: o.nodeGroup ?? 'default',
          xdsHost: '127.0.0.1',
          xdsPort: o.xdsPort ?? xds.grpcPort,
          adminPort,
          apiType: o.apiType,
        }),
        adminPort,
      });
      envoys.push(envoy);
      return envoy;
    },
    replica: async (o = {}) => {
      const r = await startXdsServer({ ...serverOpts(), replica: `replica-${replicas.length + 2}`, ...o });
      replicas.push(r);
      return r;
    },
    proxy,
    typeVersions,
    ackedAll: (nodeId, version, timeoutMs) => ackedAt(nodeId, version, ALL_TYPES, timeoutMs),
    ackedTypes: ackedAt,
    stop: async () => {
      await Promise.allSettled(envoys.map((e) => e.stop()));
      await Promise.allSettled(replicas.map((r) => r.stop()));
      await xds.stop();
      await tdb.drop();
    },
  };
}

/** Polls `probe` until it returns a value (bounded in time); returns the value. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface HttpResult {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** A keep-alive HTTP/1.1 client for 127.0.0.1:`port` (bounded per request). */
export function keepAliveClient(port: number, maxSockets = 8) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const get = (path: string, headers: Record<string, string> = {}, timeoutMs = 5_000): Promise<HttpResult> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, headers, agent, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  return { get, close: () => agent.destroy() };
}

/** Which demo upstream answered ("hello from demo upstream <name> (port …)"). */
export function upstreamOf(body: string): string | undefined {
  return /^hello from demo upstream (\S+) \(port \d+\)\n$/.exec(body)?.[1];
}
