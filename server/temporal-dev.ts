/**
 * The Temporal dev server (Temporal CLI `server start-dev`), used by `npm start` (SQLite file under the
 * data dir, UI on TEMPORAL_UI_PORT) and by the tests (in memory, headless).
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { resolveBinary } from './binaries';

export interface TemporalDevServerOptions {
  port: number;
  /** UI port; undefined runs headless. */
  uiPort: number | undefined;
  namespace: string;
  /** SQLite file that keeps workflow state across restarts; undefined keeps it in memory. */
  dbFile: string | undefined;
  /** Extra ports the dev server opens; fixed here so that two servers on one machine do not collide. */
  httpPort?: number;
  metricsPort?: number;
  binary?: string;
  log: (line: string) => void;
}

export interface TemporalDevServer {
  address: string;
  pid: number;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const bin = opts.binary ?? (await resolveBinary('temporal', { install: true }));
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--namespace', opts.namespace, '--log-level', 'warn'];
  if (opts.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort), '--ui-ip', '127.0.0.1');
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  args.push('--http-port', String(opts.httpPort ?? opts.port + 10));
  args.push('--metrics-port', String(opts.metricsPort ?? opts.port + 20));
  // Its own process group: a terminal's Ctrl-C reaches `npm start`, which stops Temporal after the worker.
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let exited: string | undefined;
  const onLine = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) if (line.trim()) opts.log(line);
  };
  child.stdout.on('data', onLine);
  child.stderr.on('data', onLine);
  child.on('exit', (code, sig) => {
    exited = `exited with ${code ?? sig}`;
  });
  const deadline = Date.now() + 60_000;
  while (!(await portOpen(opts.port))) {
    if (exited) throw new Error(`Temporal dev server ${exited} before listening on 127.0.0.1:${opts.port} (${bin} ${args.join(' ')})`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Temporal dev server did not listen on 127.0.0.1:${opts.port} within 60 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address: `127.0.0.1:${opts.port}`,
    pid: child.pid ?? 0,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
