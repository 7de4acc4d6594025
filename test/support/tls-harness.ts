/**
 * Certificate delivery acceptance tests (issue 8): PostgreSQL + in-process xds (test/support/xds-harness.ts)
 * with the tenant's CA and a test key box, a real Envoy, the real Temporal dev server and a worker running
 * certRotationWorkflow with the real activities, a webhook receiver for alerts, and HTTPS clients that
 * report which certificate serial served each connection.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { RouteGraph } from '../../contracts/route-graph.schema';
import { TYPE_URL } from '../../core/xds/snapshot';
import { appendAudit } from '../../server/audit/audit.service';
import { createDb, type Db } from '../../server/db/client';
import { createKeyBox, setAppKeyBox, type KeyBox } from '../../server/pki/key-box';
import { normaliseSerial } from '../../server/pki/x509';
import { ensureTenantCa, issueCertificate } from '../../server/services/certificate.service';
import { publishRevision } from '../../server/services/publish.service';
import type { ProxyShardTemporal } from '../../server/temporal/client';
import { createCaRotationActivities } from '../../workers/ca-rotation.activities';
import { createCertExpiryActivities } from '../../workers/cert-expiry.activities';
import { createCertificateActivities, type CertificateActivityDeps } from '../../workers/certificate.activities';
import type { RunningEnvoy } from '../../workers/envoy/envoy.process';
import { createNotifyActivities } from '../../workers/notify.activities';
import { createPublishActivities } from '../../workers/publish.activities';
import { getTestTemporal, installQuietTemporalRuntime, uniqueTaskQueue, workflowBundle } from './temporal';
import { ALL_TYPES, startXdsHarness, type XdsHarness } from './xds-harness';

export const SYSTEM = { type: 'system', id: 'test', name: 'tls test' } as const;

export interface TlsHarness {
  xds: XdsHarness;
  db: Db;
  tenantId: string;
  keyBox: KeyBox;
  temporal: ProxyShardTemporal;
  /** Webhook deliveries received (parsed JSON bodies). */
  alerts: { kind: string; severity: string; subject: string; details: Record<string, unknown>; raw: string; signature: string }[];
  /** Issues a certificate from the tenant's CA. */
  issue(name: string, usage: 'server' | 'client', names: { dnsNames?: string[]; ipAddresses?: string[] }): Promise<{ id: string; serial: string }>;
  /** Publishes `graph` as a new revision; returns node group → version. */
  publish(graph: RouteGraph): Promise<Record<string, string>>;
  /** Resolves once `nodeId` ACKed `version` for every type (SDS included when `withSecrets`). */
  acked(nodeId: string, version: string, withSecrets?: boolean): Promise<void>;
  envoy(nodeId: string): Promise<RunningEnvoy>;
  /** Runs an in-process worker on the harness task queue; `deps` override certificate activity dependencies. */
  startWorker(deps?: Partial<CertificateActivityDeps>): Promise<{ stop(): Promise<void> }>;
  stop(): Promise<void>;
}

export async function startTlsHarness(): Promise<TlsHarness> {
  installQuietTemporalRuntime();
  const keyBox = createKeyBox([{ kid: 'test', key: randomBytes(32) }]);
  setAppKeyBox(keyBox);
  const [xds, testTemporal] = await Promise.all([startXdsHarness(), getTestTemporal()]);
  const { db, tenantId } = xds;
  await ensureTenantCa(db, keyBox, tenantId);

  const alerts: TlsHarness['alerts'] = [];
  const hook: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      alerts.push({ ...(JSON.parse(raw) as Omit<TlsHarness['alerts'][number], 'raw' | 'signature'>), raw, signature: String(req.headers['x-proxyshard-signature'] ?? '') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  await db.webhookEndpoint.create({
    data: { tenantId, name: 'ops', url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, secret: 'test-secret', kinds: ['certificate.*'] },
  });

  const connection = await Connection.connect({ address: testTemporal.address });
  const temporal: ProxyShardTemporal = { client: new Client({ connection, namespace: testTemporal.namespace }), connection, taskQueue: uniqueTaskQueue('certs') };
  const workers: { stop(): Promise<void> }[] = [];
  let revision = 1000;

  const h: TlsHarness = {
    xds,
    db,
    tenantId,
    keyBox,
    temporal,
    alerts,
    issue: async (name, usage, names) => {
      const c = await issueCertificate(db, keyBox, tenantId, { name, commonName: name, usage, validityHours: 2, ...names }, SYSTEM);
      return { id: c.id, serial: normaliseSerial(c.serial) };
    },
    publish: async (graph) => {
      revision += 1;
      const rev = await db.revision.create({
        data: { tenantId, number: revision, state: 'proposed', graph: graph as object, graphHash: `h${revision}`, createdById: 'test' },
      });
      const r = await publishRevision(db, { tenantId, revisionId: rev.id });
      return Object.fromEntries(r.snapshots.map((s) => [s.nodeGroup, s.version]));
    },
    acked: async (nodeId, version, withSecrets = true) => {
      await xds.ackedTypes(nodeId, version, withSecrets ? [...ALL_TYPES, TYPE_URL.secrets] : ALL_TYPES, 30_000);
    },
    envoy: (nodeId) => xds.envoy({ nodeId }),
    startWorker: async (deps = {}) => {
      const nativeConnection = await NativeConnection.connect({ address: testTemporal.address });
      const workerDb = createDb(xds.tdb.url, { maxConnections: 10 });
      const worker = await Worker.create({
        connection: nativeConnection,
        namespace: testTemporal.namespace,
        taskQueue: temporal.taskQueue,
        workflowBundle: await workflowBundle(),
        activities: {
          ...createPublishActivities({ db: workerDb, publishRevision, appendAudit, pollIntervalMs: 200 }),
          ...createNotifyActivities({ db: workerDb }),
          ...createCertificateActivities({ db: workerDb, ...deps }),
          ...createCertExpiryActivities({ db: workerDb }),
          ...createCaRotationActivities({ db: workerDb }),
        },
      });
      const run = worker.run();
      const handle = {
        stop: async () => {
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await run.catch(() => undefined);
          await nativeConnection.close().catch(() => undefined);
          await workerDb.$disconnect().catch(() => undefined);
        },
      };
      workers.push(handle);
      return handle;
    },
    stop: async () => {
      for (const w of workers) await w.stop();
      await connection.close().catch(() => undefined);
      await new Promise<void>((resolve) => {
        hook.close(() => resolve());
        hook.closeAllConnections();
      });
      await xds.stop();
      await testTemporal.stop();
      setAppKeyBox(undefined);
    },
  };
  return h;
}

export interface HttpsResult {
  status: number;
  body: string;
  /** Serial (normalised hex) of the certificate the server presented on this connection. */
  serial: string;
  /** The TLS socket carried an earlier request (keep-alive). */
  reused: boolean;
}

/** One HTTPS GET to 127.0.0.1:`port` verifying the server against `ca` with `servername`. */
export function httpsGet(
  port: number,
  opts: { ca: string; servername: string; agent?: https.Agent; path?: string; cert?: string; key?: string; timeoutMs?: number },
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/',
        servername: opts.servername,
        ca: opts.ca,
        agent: opts.agent ?? false,
        timeout: opts.timeoutMs ?? 5_000,
        ...(opts.cert !== undefined ? { cert: opts.cert, key: opts.key } : {}),
      },
      (res) => {
        const socket = res.socket as TLSSocket & { _psUsed?: boolean };
        const reused = socket._psUsed === true;
        socket._psUsed = true;
        const serial = normaliseSerial(socket.getPeerCertificate().serialNumber ?? '');
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), serial, reused }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export interface LoadLog {
  ok: number;
  failed: string[];
  /** Serials seen, in order of first appearance, per loop kind. */
  serials: { keepAlive: string[]; fresh: string[] };
  /** Keep-alive requests served on a reused connection. */
  reusedKeepAlive: number;
  stop(): Promise<void>;
}

/**
 * Two bounded request loops until stop() (or maxMs): one over a single keep-alive connection, one opening a
 * new TLS connection per request. Any non-200 or error is a failure.
 */
export function steadyLoad(port: number, opts: { ca: string; servername: string; maxMs?: number; cert?: string; key?: string }): LoadLog {
  const log: LoadLog = { ok: 0, failed: [], serials: { keepAlive: [], fresh: [] }, reusedKeepAlive: 0, stop: async () => {} };
  let stopped = false;
  const deadline = Date.now() + (opts.maxMs ?? 120_000);
  const loop = async (kind: 'keepAlive' | 'fresh') => {
    const agent = kind === 'keepAlive' ? new https.Agent({ keepAlive: true, maxSockets: 1 }) : undefined;
    while (!stopped && Date.now() < deadline) {
      try {
        const r = await httpsGet(port, { ...opts, ...(agent !== undefined ? { agent } : {}) });
        if (r.status !== 200) log.failed.push(`${kind}: status ${r.status}`);
        else log.ok += 1;
        if (!log.serials[kind].includes(r.serial)) log.serials[kind].push(r.serial);
        if (kind === 'keepAlive' && r.reused) log.reusedKeepAlive += 1;
      } catch (err) {
        log.failed.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    agent?.destroy();
  };
  const loops = [loop('keepAlive'), loop('fresh')];
  log.stop = async () => {
    stopped = true;
    await Promise.all(loops);
  };
  return log;
}
