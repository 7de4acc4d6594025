/**
 * The xds process, assembled: snapshot cache rebuilt from PostgreSQL and kept current by LISTEN/NOTIFY,
 * the ADS and gRPC health services on one gRPC port (our own HTTP/2 framing, workers/grpc/grpc-h2.server.ts),
 * `/healthz` and `/metrics` on an HTTP port, and proxy state written back to PostgreSQL. `startXdsServer` is
 * what workers/xds/main.ts and the tests call.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from '../../server/db/client';
import { pingDatabase } from '../../server/db/health.repo';
import { markReplicaProxiesDisconnected, recordProxyConnected, recordProxyDisconnected } from '../../server/db/proxy.repo';
import { listenForSnapshots, type SnapshotListener } from '../../server/db/snapshot-listener';
import { findLatestSnapshot, listLatestSnapshots, saveSnapshotTypeVersions, type StoredSnapshot } from '../../server/db/snapshot.repo';
import { poolSql } from '../../server/db/sql';
import { findTenantBySlug } from '../../server/db/tenant.repo';
import { getAppKeyBox } from '../../server/pki/key-box';
import { getCertificateMaterialById } from '../../server/services/certificate.service';
import { grpcServiceMethods, startGrpcServer, type GrpcServerTls, type RunningGrpcServer } from '../grpc/grpc-h2.server';
import { ADS_SERVICE_NAME, AdsServer, adsServiceDefinition, type ProxyStateStore } from './ads.server';
import { HealthStatus, healthServiceDefinition } from './health.service';
import { XdsMetrics } from './metrics';
import { loadXdsProtos } from './protos';
import { ProxyStateWriter } from './proxy-state-writer';
import { materializeSecrets, type CertificateMaterialSource } from './secret-materializer';
import { SnapshotCache } from './snapshot-cache';

export interface XdsServerOptions {
  db: Db;
  /** For the LISTEN connection. */
  databaseUrl: string;
  /** gRPC (ADS + health) port; 0 = any free port. */
  grpcPort: number;
  /** HTTP (/healthz, /metrics) port; 0 = any free port; null = no HTTP server. */
  httpPort: number | null;
  /** Bind address of both servers; default 127.0.0.1. */
  host?: string;
  log: Logger;
  /** Name of this replica (stored on the proxies it serves); default hostname:grpcPort. */
  replica?: string;
  /** Collect Node's default process metrics; default true. */
  defaultMetrics?: boolean;
  /** More gRPC services on the same port (the XDP agent channel). */
  services?: { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }[];
  /** Decrypted material of a certificate version for SDS (default: the tenant's PKI in PostgreSQL under the app key box). */
  certificateMaterial?: CertificateMaterialSource;
  /** mTLS for the gRPC port (Envoy's ADS stream, agents): server chain + key, and the CA client certificates must chain to. */
  tls?: XdsServerTls;
}

export type XdsServerTls = GrpcServerTls;

export interface RunningXdsServer {
  grpcPort: number;
  httpPort: number | null;
  cache: SnapshotCache;
  ads: AdsServer;
  metrics: XdsMetrics;
  health: HealthStatus;
  /** Loads the latest snapshot of one (tenant, node group) from PostgreSQL into the cache. */
  reload(tenantId: string, nodeGroup: string): Promise<void>;
  /** Ends all streams (proxies reconnect elsewhere), stops listening, closes both servers. */
  stop(): Promise<void>;
}

export async function startXdsServer(opts: XdsServerOptions): Promise<RunningXdsServer> {
  const { db, log } = opts;
  const host = opts.host ?? '127.0.0.1';
  // Stable across restarts when the port is fixed, so a restarted replica can clear what it left behind.
  const replica = opts.replica ?? `${hostname()}:${opts.grpcPort === 0 ? `pid${process.pid}` : opts.grpcPort}`;
  const protos = loadXdsProtos();
  const cache = new SnapshotCache(protos);
  const metrics = new XdsMetrics({ defaultMetrics: opts.defaultMetrics });
  const health = new HealthStatus();
  health.set('', 'NOT_SERVING');
  health.set(ADS_SERVICE_NAME, 'NOT_SERVING');

  const certificateMaterial = opts.certificateMaterial ?? defaultCertificateMaterial(db);
  const load = async (stored: StoredSnapshot): Promise<void> => {
    try {
      // Certificates are resolved (keys decrypted) here, at send time; the stored row holds references only.
      const s = { ...stored, resources: await materializeSecrets(stored.tenantId, stored.resources, certificateMaterial) };
      if (cache.set(s)) log.info({ tenantId: s.tenantId, nodeGroup: s.nodeGroup, version: s.version }, 'snapshot loaded');
      // A row from before type versions: store the ones served, so ACK queries in SQL can compare per type.
      if (!stored.typeVersionsStored) {
        await saveSnapshotTypeVersions(db, stored.id, stored.typeVersions).catch((err: unknown) =>
          log.warn({ err, version: stored.version }, 'could not store the type versions of a snapshot'),
        );
      }
    } catch (err) {
      metrics.snapshotErrors.inc();
      log.error({ err, tenantId: stored.tenantId, nodeGroup: stored.nodeGroup, version: stored.version }, 'snapshot rejected; the previous one stays in use');
    }
    metrics.snapshots.set(cache.size);
  };

  // The hot path (a reload on every NOTIFY, proxy state for every push and ACK) runs its SQL on a small pg
  // pool of its own: Prisma's per-statement work there cost ~6 ms per reload and ~10 ms per push to 1,000
  // proxies (window profile of bench/xds-commit-to-ack.ts).
  const hotPool = new pg.Pool({ connectionString: opts.databaseUrl, max: 3 });
  hotPool.on('error', (err) => log.warn({ err }, 'xds hot-path pool connection lost'));
  const hotSql = poolSql(hotPool);

  // One reload at a time per (tenant, node group), always reading the latest row: out-of-order or
  // coalesced notifications still end on the newest snapshot.
  const reloads = new Map<string, Promise<void>>();
  const reload = (tenantId: string, nodeGroup: string): Promise<void> => {
    const k = `${tenantId}\u0000${nodeGroup}`;
    const next = (reloads.get(k) ?? Promise.resolve())
      .then(async () => {
        const s = await findLatestSnapshot(hotSql, tenantId, nodeGroup);
        if (s !== null) await load(s);
      })
      .catch((err: unknown) => {
        metrics.snapshotErrors.inc();
        log.error({ err, tenantId, nodeGroup }, 'could not load snapshot');
      });
    reloads.set(k, next);
    void next.finally(() => {
      if (reloads.get(k) === next) reloads.delete(k);
    });
    return next;
  };
  const reloadAll = async (): Promise<void> => {
    for (const s of await listLatestSnapshots(db)) await load(s);
  };

  // Listen first, then load: a publish between the two is seen by one or the other.
  const listener: SnapshotListener = await listenForSnapshots(opts.databaseUrl, {
    onNotification: (n) => void reload(n.tenantId, n.nodeGroup),
    onReconnect: () => {
      log.info('snapshot notifications reconnected; reloading all snapshots');
      reloadAll().catch((err: unknown) => log.error({ err }, 'reload after reconnect failed'));
    },
    onError: (err) => log.warn({ err }, 'snapshot notification connection problem'),
  });

  let grpcServer: RunningGrpcServer | undefined;
  let httpServer: HttpServer | undefined;
  let stateWriter: ProxyStateWriter | undefined;
  try {
    await reloadAll();
    const stale = await markReplicaProxiesDisconnected(db, replica);
    if (stale > 0) log.info({ stale }, 'cleared proxies left connected by a previous run of this replica');

    // Per-type state is batched (one statement per interval); a disconnect first flushes what is pending.
    const writer = new ProxyStateWriter(hotSql, log);
    stateWriter = writer;
    const store: ProxyStateStore = {
      connected: (input) => recordProxyConnected(db, input),
      disconnected: async (conn) => {
        await writer.flush();
        writer.forget(conn.proxyId);
        await recordProxyDisconnected(db, conn);
      },
      sent: (proxyId, typeUrl, sent) => writer.sent(proxyId, typeUrl, sent),
      acked: (proxyId, typeUrl, version) => writer.acked(proxyId, typeUrl, version),
      nacked: (proxyId, typeUrl, nack) => writer.nacked(proxyId, typeUrl, nack),
    };
    const ads = new AdsServer({
      protos,
      cache,
      store,
      metrics,
      log: log.child({ component: 'ads' }),
      replica,
      resolveTenant: async (slug) => (await findTenantBySlug(db, slug))?.id,
    });

    const server = await startGrpcServer({
      host,
      port: opts.grpcPort,
      methods: {
        ...grpcServiceMethods(adsServiceDefinition(protos), ads.implementation()),
        ...grpcServiceMethods(healthServiceDefinition, health.implementation()),
        ...Object.assign({}, ...(opts.services ?? []).map((extra) => grpcServiceMethods(extra.definition, extra.implementation))),
      },
      maxMessageBytes: 16 * 1024 * 1024,
      tls: opts.tls,
      onInternalError: (err, path) => log.error({ err, path }, 'gRPC call failed'),
    });
    grpcServer = server;
    const grpcPort = server.port;
    health.set('', 'SERVING');
    health.set(ADS_SERVICE_NAME, 'SERVING');

    let httpPort: number | null = null;
    if (opts.httpPort !== null) {
      const http = createServer((req, res) => {
        const url = req.url ?? '/';
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { allow: 'GET, HEAD' }).end();
        } else if (url === '/healthz') {
          void healthz(db, health).then(({ ok, body }) => {
            res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
          });
        } else if (url === '/metrics') {
          metrics.registry.metrics().then(
            (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
            (err: unknown) => {
              log.error({ err }, 'metrics failed');
              res.writeHead(500).end();
            },
          );
        } else {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        }
      });
      httpServer = http;
      httpPort = await new Promise<number>((resolve, reject) => {
        http.once('error', reject);
        http.listen(opts.httpPort ?? 0, host, () => resolve((http.address() as AddressInfo).port));
      });
    }

    log.info({ grpc: `${host}:${grpcPort}`, http: httpPort === null ? null : `${host}:${httpPort}`, replica, snapshots: cache.size }, 'xds serving');

    let stopping: Promise<void> | undefined;
    return {
      grpcPort,
      httpPort,
      cache,
      ads,
      metrics,
      health,
      reload,
      stop: () => {
        stopping ??= (async () => {
          health.set('', 'NOT_SERVING');
          health.set(ADS_SERVICE_NAME, 'NOT_SERVING');
          health.closeWatchers();
          await listener.close();
          await ads.closeAll();
          await server.close(5_000);
          await closeHttp(httpServer);
          await Promise.allSettled([...reloads.values()]);
          await stateWriter?.flush();
          await hotPool.end();
          log.info('xds stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await listener.close();
    await grpcServer?.close(0);
    await hotPool.end();
    await closeHttp(httpServer);
    throw err;
  }
}

/** Certificate material from the tenant's PKI (server/services/certificate.service.ts), decrypted with the app key box. */
function defaultCertificateMaterial(db: Db): CertificateMaterialSource {
  return (tenantId, certificateId) => getCertificateMaterialById(db, getAppKeyBox(), tenantId, certificateId);
}

async function healthz(db: Db, health: HealthStatus): Promise<{ ok: boolean; body: Record<string, string> }> {
  const grpcOk = health.get('') === 'SERVING';
  let dbStatus = 'ok';
  try {
    await withTimeout(pingDatabase(db), 2_000);
  } catch (err) {
    dbStatus = err instanceof Error ? err.message : String(err);
  }
  const ok = grpcOk && dbStatus === 'ok';
  return { ok, body: { status: ok ? 'ok' : 'unavailable', database: dbStatus, grpc: health.get('') ?? 'UNKNOWN' } };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function closeHttp(server: HttpServer | undefined): Promise<void> {
  if (server === undefined || !server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
