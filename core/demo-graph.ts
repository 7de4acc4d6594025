/**
 * The route graph `npm start` seeds: one listener on all addresses, one catch-all virtual host, one route
 * sending everything to a cluster of local demo upstreams (scripts/demo/upstream.ts), delivered to the
 * `default` node group.
 */
import type { RouteGraph } from '../contracts/route-graph.schema';

export interface DemoRouteGraphOptions {
  listenerPort: number;
  upstreamPorts: readonly number[];
  /** Where the listener binds; 0.0.0.0 unless told otherwise. */
  listenerAddress?: string;
}

export function demoRouteGraph(opts: DemoRouteGraphOptions): RouteGraph {
  return {
    listeners: [
      {
        name: 'demo',
        address: opts.listenerAddress ?? '0.0.0.0',
        port: opts.listenerPort,
        protocol: 'auto',
        virtualHosts: ['demo'],
      },
    ],
    virtualHosts: [{ name: 'demo', domains: ['*'], routes: ['demo-root'] }],
    routes: [
      {
        name: 'demo-root',
        match: { prefix: '/', headers: [], queryParameters: [] },
        action: { kind: 'forward', clusters: [{ cluster: 'demo-upstreams', weight: 1 }] },
      },
    ],
    clusters: [
      {
        name: 'demo-upstreams',
        lbPolicy: 'roundRobin',
        connectTimeoutMs: 1000,
        endpoints: opts.upstreamPorts.map((port) => ({
          address: '127.0.0.1',
          port,
          weight: 1,
          locality: { region: '', zone: '' },
          priority: 0,
        })),
      },
    ],
    nodeGroups: [{ name: 'default', listeners: ['demo'] }], // DEFAULT_NODE_GROUP
  };
}
