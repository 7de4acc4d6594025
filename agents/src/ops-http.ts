/**
 * The operations endpoint every long-running process exposes: GET /healthz (200 when healthy, else 503,
 * with a JSON body saying why) and GET /metrics (Prometheus text from a prom-client registry).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface OpsHttpOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  health: () => Promise<{ ok: boolean; body: Record<string, unknown> }> | { ok: boolean; body: Record<string, unknown> };
  registry: Registry;
  log: Logger;
}

export interface OpsHttpServer {
  port: number;
  close(): Promise<void>;
}

export async function startOpsHttpServer(opts: OpsHttpOptions): Promise<OpsHttpServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/healthz') {
      Promise.resolve()
        .then(opts.health)
        .then(
          ({ ok, body }) => res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
          (err: unknown) => {
            opts.log.error({ err }, 'health check failed');
            res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'error' }));
          },
        );
    } else if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
        (err: unknown) => {
          opts.log.error({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve((server.address() as AddressInfo).port));
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
