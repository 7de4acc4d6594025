/**
 * Ports of the rollout activities (implemented in workers/: envoy-stats.adapter.ts reads Envoy's admin API).
 */
import type { ClusterStatsSample, ReadClusterStatsInput } from '../../contracts/rollout.schema';

export interface ProxyRouteWeights {
  nodeId: string;
  /** The route's weighted clusters as the proxy serves them; null when the route is not in its config. */
  weights: { cluster: string; weight: number }[] | null;
}

/** Envoy's own statistics and served configuration, per proxy. */
export interface MetricsSource {
  /** Cumulative per-cluster counters and latency histograms, summed over the node groups' proxies. */
  readClusterStats(input: ReadClusterStatsInput): Promise<ClusterStatsSample>;
  /** What one proxy (admin base URL) serves for a route. */
  readRouteWeights(adminUrl: string, route: string): Promise<{ cluster: string; weight: number }[] | null>;
  /** What one proxy serves for every route it has, by route name (one read of its configuration). */
  readServedRoutes(adminUrl: string): Promise<Map<string, { cluster: string; weight: number }[]>>;
  /** Endpoints each cluster's outlier detection ejects now, summed over the node groups' proxies (playbooks). */
  readOutlierEjections?(input: ReadClusterStatsInput): Promise<Record<string, number>>;
}
