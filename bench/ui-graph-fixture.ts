/**
 * A synthetic, valid route graph of exactly `nodes` nodes and 2 × `nodes` edges in the graph editor's terms
 * (1,000 → 1 node group, 9 listeners, 90 virtual hosts, 400 routes, 250 clusters with one endpoint each;
 * 2,000 name references). Used by bench/ui-graph.ts and the e2e test.
 */
import type { RouteGraph } from '../contracts/route-graph.schema';

export function syntheticGraph(nodes = 1000): RouteGraph {
  const scale = nodes / 1000;
  const L = Math.max(1, Math.round(9 * scale));
  const V = Math.max(1, Math.round(90 * scale));
  const R = Math.max(1, Math.round(400 * scale));
  const C = Math.floor((nodes - 1 - L - V - R) / 2);
  const E = C; // one endpoint per cluster
  // edges: L (group→listener) + V (listener→vhost) + R (vhost→route) + route→cluster + E (cluster→endpoint)
  const routeEdges = 2 * nodes - L - V - R - E;
  const pad = (n: number) => String(n).padStart(4, '0');
  const clusters = Array.from({ length: C }, (_, i) => ({
    name: `cluster-${pad(i)}`,
    lbPolicy: 'roundRobin' as const,
    connectTimeoutMs: 1000,
    endpoints: [{ address: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 8080, weight: 1, locality: { region: '', zone: '' }, priority: 0 }],
  }));
  const perRoute = Math.floor(routeEdges / R);
  const extra = routeEdges - perRoute * R;
  const routes = Array.from({ length: R }, (_, i) => {
    const k = perRoute + (i < extra ? 1 : 0);
    return {
      name: `route-${pad(i)}`,
      match: { prefix: `/r${i}`, headers: [], queryParameters: [] },
      action: { kind: 'forward' as const, clusters: Array.from({ length: k }, (_, j) => ({ cluster: `cluster-${pad((i * 7 + j * 13) % C)}`, weight: 1 })) },
    };
  });
  // route→cluster pairs must be distinct within a route
  for (const r of routes) {
    const seen = new Set<string>();
    r.action.clusters = r.action.clusters.map((c, j) => {
      let idx = Number(c.cluster.slice(8));
      while (seen.has(`cluster-${pad(idx)}`)) idx = (idx + 1 + j) % C;
      seen.add(`cluster-${pad(idx)}`);
      return { cluster: `cluster-${pad(idx)}`, weight: 1 };
    });
  }
  const virtualHosts = Array.from({ length: V }, (_, i) => ({
    name: `vhost-${pad(i)}`,
    domains: [`vh${i}.example.com`],
    routes: routes.filter((_, r) => r % V === i).map((r) => r.name),
  }));
  const listeners = Array.from({ length: L }, (_, i) => ({
    name: `listener-${pad(i)}`,
    address: '0.0.0.0',
    port: 10000 + i,
    protocol: 'auto' as const,
    virtualHosts: virtualHosts.filter((_, v) => v % L === i).map((v) => v.name),
  }));
  return { listeners, virtualHosts, routes, clusters, nodeGroups: [{ name: 'default', listeners: listeners.map((l) => l.name) }] };
}
