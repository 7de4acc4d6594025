/**
 * The `xds` process: `tsx workers/xds/main.ts`. Needs DATABASE_URL (scripts/start.ts passes it); serves
 * ADS, the XDP agent channel and gRPC health on 127.0.0.1:XDS_PORT and /healthz + /metrics on
 * 127.0.0.1:XDS_HTTP_PORT.
 * SIGINT/SIGTERM: streams are closed (proxies keep their config and reconnect), then the process exits.
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { createDb } from '../../server/db/client';
import { getEnv } from '../../server/env';
import { createAgentChannel } from '../agents/agent-channel.server';
import { stopOnSignals } from '../shutdown';
import { startXdsServer } from './xds.server';

async function main(): Promise<void> {
  const env = getEnv();
  const log = pino({ level: env.LOG_LEVEL, base: { service: 'xds' } });
  if (env.DATABASE_URL === undefined) {
    log.fatal('DATABASE_URL must be set (npm start passes the embedded PostgreSQL URL)');
    process.exitCode = 2;
    return;
  }
  const db = createDb(env.DATABASE_URL);
  const agents = createAgentChannel({ db, log: log.child({ component: 'agent-channel' }), databaseUrl: env.DATABASE_URL });
  let server: Awaited<ReturnType<typeof startXdsServer>>;
  try {
    server = await startXdsServer({
      db,
      databaseUrl: env.DATABASE_URL,
      grpcPort: env.XDS_PORT,
      httpPort: env.XDS_HTTP_PORT,
      log,
      services: [{ definition: agents.service, implementation: agents.implementation }],
      ...(env.XDS_TLS_CERT_FILE !== undefined && env.XDS_TLS_KEY_FILE !== undefined
        ? {
            tls: {
              certChainPem: readFileSync(env.XDS_TLS_CERT_FILE, 'utf8'),
              privateKeyPem: readFileSync(env.XDS_TLS_KEY_FILE, 'utf8'),
              ...(env.XDS_TLS_CLIENT_CA_FILE !== undefined ? { clientCaPem: readFileSync(env.XDS_TLS_CLIENT_CA_FILE, 'utf8') } : {}),
            },
          }
        : {}),
    });
    await agents.start();
  } catch (err) {
    log.fatal({ err }, 'xds failed to start');
    await db.$disconnect().catch(() => {});
    process.exitCode = 1;
    return;
  }

  stopOnSignals(log, [() => agents.stop(), () => server.stop(), () => db.$disconnect()]);
}

void main();
