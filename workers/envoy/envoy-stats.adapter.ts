/**
 * MetricsSource on Envoy's admin API: `/stats/prometheus` (filtered to the clusters asked for) for
 * per-cluster upstream_rq_xx counters and the upstream_rq_time histogram, `/config_dump` for the weights a
 * proxy actually serves. Which proxies to read comes from `listAdmins` (the worker passes the proxies'
 * `admin_url` node metadata from PostgreSQL).
 */
import type { ClusterStatsSample, ReadClusterStatsInput } from '../../contracts/rollout.schema';
import { addCounters, emptyCounters, parseEnvoyClusterStats } from '../../core/rollout/analysis';
import type { MetricsSource } from '../../core/rollout/ports';
import { parseEjectionsActive } from '../../core/playbook/health';

export interface EnvoyStatsAdapterOptions {
  listAdmins(tenantId: string, nodeGroups: readonly string[]): Promise<{ nodeId: string; adminUrl: string | null }[]>;
  /** Per admin request; default 3 s. */
  timeoutMs?: number;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function get(url: string, timeoutMs: number): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${body.slice(0, 200)}`);
  return body;
}

export function createEnvoyStatsAdapter(opts: EnvoyStatsAdapterOptions): MetricsSource {
  const timeoutMs = opts.timeoutMs ?? 3_000;

  const readServedRoutes = async (adminUrl: string): Promise<Map<string, { cluster: string; weight: number }[]>> => {
    const dump = JSON.parse(await get(`${adminUrl}/config_dump?resource=dynamic_route_configs`, timeoutMs)) as {
      configs?: { route_config?: { virtual_hosts?: { routes?: { name?: string; route?: { cluster?: string; weighted_clusters?: { clusters?: { name: string; weight?: number }[] } } }[] }[] } }[];
    };
    const served = new Map<string, { cluster: string; weight: number }[]>();
    for (const cfg of dump.configs ?? []) {
      for (const vh of cfg.route_config?.virtual_hosts ?? []) {
        for (const r of vh.routes ?? []) {
          if (r.name === undefined || served.has(r.name)) continue;
          if (r.route?.weighted_clusters) served.set(r.name, (r.route.weighted_clusters.clusters ?? []).map((c) => ({ cluster: c.name, weight: c.weight ?? 0 })));
          else if (r.route?.cluster) served.set(r.name, [{ cluster: r.route.cluster, weight: 100 }]);
          else served.set(r.name, []);
        }
      }
    }
    return served;
  };

  return {
    async readClusterStats(input: ReadClusterStatsInput): Promise<ClusterStatsSample> {
      const admins = (await opts.listAdmins(input.tenantId, input.nodeGroups)).filter((a) => a.adminUrl !== null);
      const filter = `^cluster\\.(${input.clusters.map(escapeRegex).join('|')})\\.upstream_rq`;
      const samples = await Promise.all(
        admins.map(async (a) => parseEnvoyClusterStats(await get(`${a.adminUrl}/stats/prometheus?filter=${encodeURIComponent(filter)}`, timeoutMs), input.clusters)),
      );
      const clusters: ClusterStatsSample['clusters'] = {};
      for (const c of input.clusters) clusters[c] = samples.reduce((sum, s) => addCounters(sum, s[c] ?? emptyCounters()), emptyCounters());
      return { proxies: samples.length, clusters };
    },

    readServedRoutes,
    async readOutlierEjections(input: ReadClusterStatsInput): Promise<Record<string, number>> {
      const admins = (await opts.listAdmins(input.tenantId, input.nodeGroups)).filter((a) => a.adminUrl !== null);
      const filter = `^cluster\\.(${input.clusters.map(escapeRegex).join('|')})\\.outlier_detection\\.ejections_active$`;
      const per = await Promise.all(admins.map(async (a) => parseEjectionsActive(await get(`${a.adminUrl}/stats?filter=${encodeURIComponent(filter)}`, timeoutMs), input.clusters)));
      const out: Record<string, number> = {};
      for (const c of input.clusters) out[c] = per.reduce((n, p) => n + (p[c] ?? 0), 0);
      return out;
    },

    async readRouteWeights(adminUrl: string, route: string) {
      return (await readServedRoutes(adminUrl)).get(route) ?? null;
    },
  };
}
