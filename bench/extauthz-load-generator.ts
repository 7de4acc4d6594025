/**
 * The load generator of bench/extauthz-latency.ts, in its own process (forked with IPC), so its event loop
 * shares nothing with the upstream, the xDS server or the bench's bookkeeping: a late timer or a slow
 * callback there would add the same jitter to both routes and drown the difference being measured.
 *
 * Open loop on a precomputed schedule: request i of a run is due at start + i / rate; each is sent when due
 * (never waiting for earlier answers) on keep-alive HTTP/1.1 connections. Latency = from just before the
 * request is written until its response ended; `sendLagMs` (how late the generator sent, against the
 * schedule) tells whether the generator itself kept up.
 *
 * Messages: { kind: 'run', url, rate, count } → { kind: 'result', latenciesMs, errors, statuses, sendLagMs, seconds }.
 */
import { Agent, request } from 'node:http';

interface RunMessage {
  kind: 'run';
  host: string;
  port: number;
  path: string;
  rate: number;
  count: number;
}

export interface LoadRunResult {
  kind: 'result';
  /** Latencies of 2xx answers, ms. */
  latenciesMs: number[];
  errors: number;
  /** Status codes that were not 2xx, with counts. */
  statuses: Record<string, number>;
  /** How late each request was sent against its schedule, ms. */
  sendLagMs: number[];
  seconds: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function run(m: RunMessage): Promise<LoadRunResult> {
  return new Promise((resolve) => {
    const out: LoadRunResult = { kind: 'result', latenciesMs: [], errors: 0, statuses: {}, sendLagMs: [], seconds: 0 };
    const intervalMs = 1000 / m.rate;
    let sent = 0;
    let finished = 0;
    const start = performance.now();
    const done = () => {
      finished += 1;
      if (finished === m.count) {
        out.seconds = (performance.now() - start) / 1000;
        resolve(out);
      }
    };
    const send = (due: number) => {
      const t0 = performance.now();
      out.sendLagMs.push(t0 - due);
      const req = request({ host: m.host, port: m.port, path: m.path, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) out.latenciesMs.push(performance.now() - t0);
          else out.statuses[status] = (out.statuses[status] ?? 0) + 1;
          done();
        });
      });
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        out.errors += 1;
        done();
      });
      req.end();
    };
    const tick = () => {
      const now = performance.now();
      for (; sent < m.count; sent++) {
        const due = start + sent * intervalMs;
        if (due > now) break;
        send(due);
      }
      if (sent < m.count) setTimeout(tick, Math.max(0, start + sent * intervalMs - performance.now()));
    };
    tick();
  });
}

process.on('message', (m: RunMessage) => {
  if (m.kind !== 'run') return;
  void run(m).then((r) => process.send!(r));
});
process.on('disconnect', () => {
  agent.destroy();
  process.exit(0);
});
