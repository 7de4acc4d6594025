/**
 * The routes of the tenant's live revision, flattened for listing: one row per (listener, virtual host,
 * route) placement, in listener → virtual host → match order; routes that no virtual host uses come last.
 */
import type { RouteGraph } from '../../contracts/route-graph.schema';
import { requirePermission, type Principal } from '../auth/principal';
import { findLiveRevision } from '../db/revision-read.repo';
import type { DbTx } from '../db/tx';

export interface RouteRow {
  name: string;
  listener: { name: string; address: string; port: number } | null;
  virtualHost: { name: string; domains: string[] } | null;
  match: { prefix?: string; path?: string; regex?: string; headers: string[]; queryParameters: string[] };
  action: 'forward' | 'redirect' | 'directResponse';
  /** Destination clusters with weights (forward routes only). */
  destinations: { cluster: string; weight: number }[];
}

export function flattenRoutes(graph: RouteGraph): RouteRow[] {
  const routes = new Map(graph.routes.map((r) => [r.name, r]));
  const vhosts = new Map(graph.virtualHosts.map((v) => [v.name, v]));
  const placed = new Set<string>();
  const rows: RouteRow[] = [];
  const row = (name: string, listener: RouteRow['listener'], virtualHost: RouteRow['virtualHost']): RouteRow | null => {
    const r = routes.get(name);
    if (!r) return null;
    return {
      name,
      listener,
      virtualHost,
      match: {
        ...(r.match.prefix !== undefined ? { prefix: r.match.prefix } : {}),
        ...(r.match.path !== undefined ? { path: r.match.path } : {}),
        ...(r.match.regex !== undefined ? { regex: r.match.regex } : {}),
        headers: r.match.headers.map((h) => h.name),
        queryParameters: r.match.queryParameters.map((q) => q.name),
      },
      action: r.action.kind,
      destinations: r.action.kind === 'forward' ? r.action.clusters.map((c) => ({ cluster: c.cluster, weight: c.weight })) : [],
    };
  };
  const seenVhosts = new Set<string>();
  const emitVhost = (vhostName: string, listener: RouteRow['listener']) => {
    const v = vhosts.get(vhostName);
    if (!v) return;
    seenVhosts.add(v.name);
    for (const routeName of v.routes) {
      const r = row(routeName, listener, { name: v.name, domains: v.domains });
      if (r) {
        rows.push(r);
        placed.add(routeName);
      }
    }
  };
  for (const l of graph.listeners) {
    for (const vhostName of l.virtualHosts) emitVhost(vhostName, { name: l.name, address: l.address, port: l.port });
  }
  for (const v of graph.virtualHosts) if (!seenVhosts.has(v.name)) emitVhost(v.name, null);
  for (const r of graph.routes) {
    if (placed.has(r.name)) continue;
    const unplaced = row(r.name, null, null);
    if (unplaced) rows.push(unplaced);
  }
  return rows;
}

export interface LiveRoutes {
  revision: { id: string; number: number; createdAt: string } | null;
  routes: RouteRow[];
}

export async function listLiveRoutes(db: DbTx, principal: Principal): Promise<LiveRoutes> {
  requirePermission(principal, 'routes.read');
  const live = await findLiveRevision(db, principal.tenant.id);
  if (!live) return { revision: null, routes: [] };
  return { revision: { id: live.id, number: live.number, createdAt: live.createdAt.toISOString() }, routes: flattenRoutes(live.graph) };
}
