/**
 * The Temporal worker process: runs ProxyShard workflows (workflows/index.ts) and activities on
 * TEMPORAL_TASK_QUEUE in TEMPORAL_NAMESPACE at TEMPORAL_ADDRESS, with its dependencies built here.
 *   tsx workers/worker/main.ts        (npm start runs it with DATABASE_URL and TEMPORAL_ADDRESS set)
 * HTTP on 127.0.0.1:WORKER_HTTP_PORT: /healthz (200 while the worker is RUNNING, else 503) and /metrics.
 * With WORKER_TEMPORAL_METRICS_PORT set, the Temporal SDK's own metrics are on that port's /metrics.
 * SIGINT/SIGTERM: stop polling, let running activities finish (10 s grace), exit 0; a second signal exits 1.
 */
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Runtime, Worker, makeTelemetryFilterString, type LogLevel, type LogMetadata } from '@temporalio/worker';
import { pino, type Logger as PinoLogger } from 'pino';
import { appendAudit, appendAuditEntries } from '../../server/audit/audit.service';
import { createDb } from '../../server/db/client';
import { getEnv, temporalAddress, type Env } from '../../server/env';
import { publishRevision } from '../../server/services/publish.service';
import { admitRolloutPromotion, publishAdmittedRevision } from '../../server/services/revision-approval.service';
import { createPublishActivities } from '../publish.activities';
import { createPolicyDeps } from '../../server/opa/policy-deps';
import { createPolicyActivities } from '../policy.activities';
import { listenForProxyStateChanges, type ProxyStateChanges } from '../../server/db/proxy-state-changes';
import { listProxyAdminUrls } from '../../server/db/rollout.repo';
import { createEnvoyStatsAdapter } from '../envoy/envoy-stats.adapter';
import { createRolloutActivities } from '../rollout.activities';
import { createXdpActivities } from '../xdp.activities';
import { createNotifyActivities } from '../notify.activities';
import { createCertificateActivities } from '../certificate.activities';
import { createCertExpiryActivities } from '../cert-expiry.activities';
import { createCaRotationActivities } from '../ca-rotation.activities';
import { ensureCertExpirySchedule } from '../../server/services/cert-expiry.service';
import { closeTemporalClients, getTemporalClient } from '../../server/temporal/client';
import { createPlaybookActivities } from '../playbook.activities';
import { createWorkerMetrics, type WorkerMetrics } from './metrics';
import { WORKER_DB_CONNECTIONS, WORKER_TUNING } from './tuning';

const CONNECT_RETRY_MS = 60_000;

const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

const PINO_LEVEL = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const satisfies Record<LogLevel, string>;

/** Routes Temporal SDK logs (worker, workflows via sinks, activities, core) into pino. */
function temporalLogger(log: PinoLogger) {
  const write = (level: LogLevel, message: string, meta?: LogMetadata) => log[PINO_LEVEL[level]]({ ...meta }, message);
  return {
    log: write,
    trace: (m: string, meta?: LogMetadata) => write('TRACE', m, meta),
    debug: (m: string, meta?: LogMetadata) => write('DEBUG', m, meta),
    info: (m: string, meta?: LogMetadata) => write('INFO', m, meta),
    warn: (m: string, meta?: LogMetadata) => write('WARN', m, meta),
    error: (m: string, meta?: LogMetadata) => write('ERROR', m, meta),
  };
}

function startHttp(env: Env, metrics: WorkerMetrics, state: () => string, log: PinoLogger): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      const s = state();
      res.writeHead(s === 'RUNNING' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ state: s }));
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        (err: unknown) => {
          log.error({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.WORKER_HTTP_PORT, '127.0.0.1', () => resolve(server));
  });
}

/** Temporal may still be starting (npm start, a restarting cluster): retry for a minute before giving up. */
async function connectWithRetry(address: string, log: PinoLogger, stopping: () => boolean): Promise<NativeConnection | undefined> {
  const deadline = Date.now() + CONNECT_RETRY_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await NativeConnection.connect({ address });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      const delay = Math.min(5_000, 250 * 2 ** (attempt - 1));
      log.warn({ address, attempt, err: err instanceof Error ? err.message : String(err) }, 'Temporal not reachable yet; retrying in %d ms', delay);
      await new Promise((r) => setTimeout(r, delay));
      if (stopping()) return undefined;
    }
  }
}

async function main(): Promise<number> {
  const env = getEnv();
  const log = pino({ level: env.LOG_LEVEL, base: { service: 'worker' } });
  if (!env.DATABASE_URL) {
    log.fatal('DATABASE_URL is required (npm start passes the embedded PostgreSQL URL)');
    return 1;
  }

  Runtime.install({
    logger: temporalLogger(log.child({ component: 'temporal' })),
    shutdownSignals: [], // handled below, so that HTTP and the database close in order
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) },
      ...(env.WORKER_TEMPORAL_METRICS_PORT > 0
        ? { metrics: { prometheus: { bindAddress: `127.0.0.1:${env.WORKER_TEMPORAL_METRICS_PORT}` } } }
        : {}),
    },
  });

  const metrics = createWorkerMetrics();
  let worker: Worker | undefined;
  const http = await startHttp(env, metrics, () => worker?.getState() ?? 'STARTING', log);
  log.info({ port: env.WORKER_HTTP_PORT }, 'health and metrics on http://127.0.0.1:%d', env.WORKER_HTTP_PORT);

  const db = createDb(env.DATABASE_URL, { maxConnections: WORKER_DB_CONNECTIONS });
  let connection: NativeConnection | undefined;
  let proxyChanges: ProxyStateChanges | undefined;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    if (worker && worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const address = temporalAddress(env);
    connection = await connectWithRetry(address, log, () => stopping);
    if (!connection) return 0;
    const envoyStats = createEnvoyStatsAdapter({ listAdmins: (tenantId, nodeGroups) => listProxyAdminUrls(db, tenantId, nodeGroups) });
    const policyDeps = createPolicyDeps(env);
    // Rollout steps waiting for ACKs read them once stored (NOTIFY) instead of at their next poll.
    proxyChanges = await listenForProxyStateChanges(env.DATABASE_URL, { onError: (err) => log.warn({ err }, 'proxy state listener') });
    const changes = proxyChanges;
    const activities = {
      // Every publish of a revision passes admission (and its approvals) first: revision-approval.service.ts.
      ...createPublishActivities({ db, publishRevision: (d, input) => publishAdmittedRevision(d, policyDeps, input), appendAudit }),
      ...createXdpActivities({ db }),
      ...createNotifyActivities({ db }),
      ...createRolloutActivities({
        db,
        publishRevision,
        admitPromotion: (tx, input) => admitRolloutPromotion(tx, policyDeps, input),
        appendAudit,
        appendAuditEntries,
        metrics: envoyStats,
        proxyStateChanged: (tenantId) => changes.next(tenantId),
      }),
      ...createPlaybookActivities({ db, publishRevision, appendAudit, metrics: envoyStats }),
      // compilePolicyVersion, evaluateRevisionAdmission (opa CLI + Wasm evaluator from server/opa).
      ...createPolicyActivities({ db, policy: policyDeps }),
      // certRotationWorkflow (issue 8): issue, publish over SDS, TLS handshake check, rollback, revoke.
      ...createCertificateActivities({ db }),
      // certExpiryCheckWorkflow: expiry alerts, stale CRLs re-signed and re-published.
      ...createCertExpiryActivities({ db }),
      // caRotationWorkflow: new CA, trust overlap, leaves reissued by certRotationWorkflow children, old CA retired.
      ...createCaRotationActivities({ db }),
    };
    worker = await Worker.create({
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      workflowsPath: WORKFLOWS_PATH,
      activities,
      interceptors: { activity: [metrics.activityInterceptor] },
      shutdownGraceTime: '10 seconds',
      ...WORKER_TUNING,
    });
    if (stopping) return 0;
    // The expiry check's schedule: created once, updated (interval, threshold) on every start.
    await ensureCertExpirySchedule(await getTemporalClient(env), {
      every: env.CERT_EXPIRY_CHECK_INTERVAL,
      thresholdSeconds: env.CERT_EXPIRY_THRESHOLD_HOURS * 3600,
    });
    log.info({ address, namespace: env.TEMPORAL_NAMESPACE, taskQueue: env.TEMPORAL_TASK_QUEUE }, 'worker running');
    await worker.run();
    log.info('worker stopped');
    return 0;
  } catch (err) {
    log.fatal({ err }, 'worker failed');
    return 1;
  } finally {
    await new Promise<void>((resolve) => http.close(() => resolve()));
    await proxyChanges?.close().catch((err: unknown) => log.warn({ err }, 'proxy state listener close failed'));
    await db.$disconnect().catch((err: unknown) => log.warn({ err }, 'database disconnect failed'));
    await connection?.close().catch((err: unknown) => log.warn({ err }, 'Temporal connection close failed'));
    await closeTemporalClients().catch((err: unknown) => log.warn({ err }, 'Temporal client close failed'));
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('worker: fatal', err);
    process.exit(1);
  },
);
