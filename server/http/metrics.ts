/**
 * Prometheus metrics of the web process: prom-client default metrics plus HTTP requests by route and
 * status. One registry per process (on globalThis: Next.js may load this module more than once).
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { getAppDb } from '../app-db';
import { registerCertificateGauges } from '../services/certificate-metrics';

interface WebMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
}

const holder = globalThis as typeof globalThis & { __proxyshardWebMetrics?: WebMetrics };

export function webMetrics(): WebMetrics {
  if (!holder.__proxyshardWebMetrics) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    registerCertificateGauges(registry, getAppDb);
    holder.__proxyshardWebMetrics = {
      registry,
      httpRequests: new Counter({
        name: 'proxyshard_http_requests_total',
        help: 'HTTP requests answered by the web process, by route pattern and status code.',
        labelNames: ['method', 'route', 'status'],
        registers: [registry],
      }),
      httpDuration: new Histogram({
        name: 'proxyshard_http_request_duration_seconds',
        help: 'Time to answer HTTP requests, by route pattern.',
        labelNames: ['method', 'route'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers: [registry],
      }),
    };
  }
  return holder.__proxyshardWebMetrics;
}

export function recordHttpRequest(method: string, route: string, status: number, seconds: number): void {
  const m = webMetrics();
  m.httpRequests.inc({ method, route, status: String(status) });
  m.httpDuration.observe({ method, route }, seconds);
}
