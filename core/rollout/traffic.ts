/**
 * Deriving the route graph of a rollout step: only the target route changes (its weighted clusters, its
 * mirror) plus, for a header route, one extra route right before it. Everything else of the live graph is
 * kept as is, so rollouts of different routes compose. Pure, and never mutating its input: the derived graph
 * shares every untouched part with the live one, so applying many rollouts' changes to one graph (one
 * publish for a batch of steps) costs O(routes) per change, not a deep copy each.
 */
import type { Cluster, Route, RouteGraph } from '../../contracts/route-graph.schema';
import type { RolloutSpec, RolloutTraffic } from '../../contracts/rollout.schema';
import { canonicalJson } from '../canonical-json';
import { sha256Hex } from '../hash/sha256';

type Targets = Pick<RolloutSpec, 'route' | 'stableCluster' | 'canaryCluster'>;

/** Name of the extra route that sends header-matched requests to the canary (≤ 63 characters). */
export function headerRouteName(route: string): string {
  return route.length <= 56 ? `${route}-canary` : `canary-${sha256Hex(route).slice(0, 20)}`;
}

/** The weighted clusters of the target route at a canary weight (both always listed, so Envoy shows both). */
export function weightsFor(spec: Targets, weight: number): { cluster: string; weight: number }[] {
  return [
    { cluster: spec.stableCluster, weight: 100 - weight },
    { cluster: spec.canaryCluster, weight },
  ];
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function withoutHeaderRoute(graph: RouteGraph, spec: Targets): RouteGraph {
  const name = headerRouteName(spec.route);
  return {
    ...graph,
    routes: graph.routes.filter((r) => r.name !== name),
    virtualHosts: graph.virtualHosts.map((v) => ({ ...v, routes: v.routes.filter((r) => r !== name) })),
  };
}

function ensureClusters(graph: RouteGraph, extra: readonly Cluster[], names: readonly string[]): RouteGraph {
  const have = new Set(graph.clusters.map((c) => c.name));
  const add = extra.filter((c) => names.includes(c.name) && !have.has(c.name));
  return add.length === 0 ? graph : { ...graph, clusters: [...graph.clusters, ...clone(add)] };
}

function replaceRoute(graph: RouteGraph, route: Route): RouteGraph {
  return { ...graph, routes: graph.routes.map((r) => (r.name === route.name ? route : r)) };
}

export class TrafficError extends Error {
  override readonly name = 'TrafficError';
}

function targetRoute(graph: RouteGraph, spec: Targets): Route {
  const route = graph.routes.find((r) => r.name === spec.route);
  if (!route) throw new TrafficError(`route ${spec.route} is not in the live route graph`);
  return route;
}

/**
 * The live graph with the rollout's traffic applied to the target route. `extraClusters`: cluster definitions
 * of the rollout's revision (the canary cluster is copied in when the live graph lacks it).
 */
export function applyRolloutTraffic(
  live: RouteGraph,
  spec: Targets,
  baseRoute: Route,
  traffic: RolloutTraffic,
  extraClusters: readonly Cluster[] = [],
): RouteGraph {
  let graph = ensureClusters(live, extraClusters, [spec.stableCluster, spec.canaryCluster]);
  graph = withoutHeaderRoute(graph, spec);
  const current = targetRoute(graph, spec);
  const route: Route = { ...clone(current), action: { kind: 'forward', clusters: weightsFor(spec, traffic.weight) } };
  if (traffic.mirrorPercent > 0) route.mirror = { cluster: spec.canaryCluster, percent: traffic.mirrorPercent };
  else if (baseRoute.mirror) route.mirror = clone(baseRoute.mirror);
  else delete route.mirror;
  graph = replaceRoute(graph, route);
  if (traffic.headerRoute) {
    const name = headerRouteName(spec.route);
    const headerRoute: Route = {
      ...clone(route),
      name,
      match: {
        ...clone(route.match),
        headers: [...route.match.headers, { name: traffic.headerRoute.name, exact: traffic.headerRoute.exact, invert: false }],
      },
      action: { kind: 'forward', clusters: [{ cluster: spec.canaryCluster, weight: 100 }] },
    };
    delete headerRoute.mirror;
    graph = {
      ...graph,
      routes: [...graph.routes, headerRoute],
      virtualHosts: graph.virtualHosts.map((v) => ({ ...v, routes: v.routes.flatMap((r) => (r === spec.route ? [name, r] : [r])) })),
    };
  }
  return graph;
}

/** Promotion: the canary takes 100 % and becomes the route's only (stable) cluster; header route and mirror go. */
export function promoteRolloutTraffic(live: RouteGraph, spec: Targets, baseRoute: Route, extraClusters: readonly Cluster[] = []): RouteGraph {
  let graph = ensureClusters(live, extraClusters, [spec.canaryCluster]);
  graph = withoutHeaderRoute(graph, spec);
  const current = targetRoute(graph, spec);
  const route: Route = { ...clone(current), action: { kind: 'forward', clusters: [{ cluster: spec.canaryCluster, weight: 100 }] } };
  if (baseRoute.mirror && baseRoute.mirror.cluster !== spec.canaryCluster) route.mirror = clone(baseRoute.mirror);
  else delete route.mirror;
  return replaceRoute(graph, route);
}

/**
 * Rollback: the target route exactly as it was when the rollout started; the header route goes. With
 * `lastGoodClusters` (cluster names of the revision live before the rollout), the canary cluster goes too
 * when the rollout brought it in and nothing references it any more — a canary whose configuration the
 * proxies rejected must leave the graph, or every later snapshot would carry the rejected part.
 */
export function rollbackRolloutTraffic(live: RouteGraph, spec: Targets, baseRoute: Route, lastGoodClusters?: readonly string[]): RouteGraph {
  let graph = withoutHeaderRoute(live, spec);
  targetRoute(graph, spec);
  graph = replaceRoute(graph, clone(baseRoute));
  const referenced = graph.routes.some(
    (r) => r.mirror?.cluster === spec.canaryCluster || (r.action.kind === 'forward' && r.action.clusters.some((c) => c.cluster === spec.canaryCluster)),
  );
  if (lastGoodClusters && !lastGoodClusters.includes(spec.canaryCluster) && !referenced) {
    graph = { ...graph, clusters: graph.clusters.filter((c) => c.name !== spec.canaryCluster) };
  }
  return graph;
}

/** The forward clusters of the target route in a graph (empty when it does not forward). */
export function routeWeights(graph: RouteGraph, routeName: string): { cluster: string; weight: number }[] {
  const r = graph.routes.find((x) => x.name === routeName);
  return r && r.action.kind === 'forward' ? r.action.clusters.map((c) => ({ cluster: c.cluster, weight: c.weight })) : [];
}

/** Node groups whose listeners serve a virtual host that lists the route. */
export function nodeGroupsServingRoute(graph: RouteGraph, routeName: string): string[] {
  const vhosts = new Set(graph.virtualHosts.filter((v) => v.routes.includes(routeName)).map((v) => v.name));
  const listeners = new Set(graph.listeners.filter((l) => l.virtualHosts.some((v) => vhosts.has(v))).map((l) => l.name));
  return graph.nodeGroups.filter((g) => g.listeners.some((l) => listeners.has(l))).map((g) => g.name).sort();
}

/**
 * Everything of `graph` a rollout of `spec.route` can change (the route, its header route and where they sit
 * in the virtual hosts, the stable and canary cluster definitions), as canonical JSON: two graphs with the
 * same footprint serve the rollout's traffic the same way. Used to see that a step is already live (a
 * retried attempt whose first try committed) without comparing whole graphs.
 */
export function trafficFootprint(graph: RouteGraph, spec: Targets): string {
  const header = headerRouteName(spec.route);
  const names = new Set([spec.route, header]);
  return canonicalJson({
    routes: graph.routes.filter((r) => names.has(r.name)),
    placement: graph.virtualHosts.map((v) => v.routes.filter((r) => names.has(r))),
    clusters: graph.clusters.filter((c) => c.name === spec.stableCluster || c.name === spec.canaryCluster),
  });
}
