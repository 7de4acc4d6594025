/**
 * Demo upstreams: tiny HTTP servers that say who they are, so traffic through the demo Envoy shows which
 * upstream answered. `GET /healthz` → "ok". Run directly (`tsx scripts/demo/upstream.ts`) it starts one per
 * DEMO_UPSTREAM_PORTS on 127.0.0.1, named upstream-1, upstream-2, …
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

export interface DemoUpstream {
  name: string;
  port: number;
  /** Requests answered so far (not counting /healthz). */
  requests(): number;
  close(): Promise<void>;
}

export function demoUpstreamBody(name: string, port: number): string {
  return `hello from demo upstream ${name} (port ${port})\n`;
}

/** Starts one demo upstream on host:port (port 0 = any free port). */
export function startDemoUpstream(opts: { port: number; name: string; host?: string }): Promise<DemoUpstream> {
  const host = opts.host ?? '127.0.0.1';
  let count = 0;
  let port = opts.port;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    count += 1;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-demo-upstream': opts.name });
    res.end(req.method === 'HEAD' ? undefined : demoUpstreamBody(opts.name, port));
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      port = (server.address() as AddressInfo).port;
      resolve({
        name: opts.name,
        port,
        requests: () => count,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

async function main(): Promise<void> {
  const { getEnv } = await import('../../server/env');
  const env = getEnv();
  const upstreams = await Promise.all(
    env.DEMO_UPSTREAM_PORTS.map((port, i) => startDemoUpstream({ port, name: `upstream-${i + 1}` })),
  );
  for (const u of upstreams) console.log(`[upstream] ${u.name} listening on 127.0.0.1:${u.port}`);
  const stop = () => {
    void Promise.all(upstreams.map((u) => u.close())).then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error('[upstream] failed:', err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
