/**
 * Playbook steps as pure transformations: route graph → route graph (shift weight / priority, drain, outlier
 * detection, health check, local rate limit), XDP policy spec → spec (add rules), what a step touches and
 * how `restore` puts it back, parameter substitution, and the plan of a whole playbook (what the dry run
 * shows and what the run's activities apply: the same functions). Pure: no I/O.
 */
import type {
  GraphChange,
  GraphStep,
  LocalityRef,
  PlaybookParams,
  PlaybookSpec,
  PushXdpRulesStep,
  TouchedObjects,
  XdpRulesBefore,
} from '../../contracts/playbook.schema';
import type { Cluster, Endpoint, Route, RouteGraph } from '../../contracts/route-graph.schema';
import type { XdpPolicySpec } from '../../contracts/xdp.schema';
import { contentHash } from '../xds/snapshot';

/** A step that cannot apply to this graph (names the step's field). */
export class PlaybookStepError extends Error {
  override readonly name = 'PlaybookStepError';
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

// ---------------------------------------------------------------- parameters

/**
 * Replaces `${name}` in every string of `raw` by the parameter; a string that is exactly `${name}` takes the
 * parameter's value (so numbers stay numbers). Unknown names are left as is (schema validation reports them).
 */
export function substituteParams(raw: unknown, params: PlaybookParams): unknown {
  if (typeof raw === 'string') {
    const whole = /^\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}$/.exec(raw);
    if (whole && params[whole[1]!] !== undefined) return params[whole[1]!];
    return raw.replace(/\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g, (m, name: string) => (params[name] !== undefined ? String(params[name]) : m));
  }
  if (Array.isArray(raw)) return raw.map((x) => substituteParams(x, params));
  if (raw !== null && typeof raw === 'object') {
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, substituteParams(v, params)]));
  }
  return raw;
}

/** `${name}` references left in a playbook after substitution (each a missing parameter). */
export function missingParams(raw: unknown): string[] {
  const out = new Set<string>();
  const walk = (v: unknown) => {
    if (typeof v === 'string') for (const m of v.matchAll(/\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g)) out.add(m[1]!);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(raw);
  return [...out].sort();
}

// ---------------------------------------------------------------- touched objects

function forwardingRoutes(graph: RouteGraph, cluster: string): Route[] {
  return graph.routes.filter((r) => r.action.kind === 'forward' && r.action.clusters.some((c) => c.cluster === cluster));
}

/** Names of the routes and clusters a step changes (computed on the graph before the step). */
export function touchedBy(graph: RouteGraph, step: GraphStep): { routes: string[]; clusters: string[] } {
  switch (step.kind) {
    case 'shiftWeight':
      return step.between.level === 'clusters' ? { routes: [step.between.route], clusters: [] } : { routes: [], clusters: [step.between.cluster] };
    case 'drain':
      if (step.endpoints === undefined && step.locality === undefined) return { routes: forwardingRoutes(graph, step.cluster).map((r) => r.name).sort(), clusters: [] };
      return { routes: [], clusters: [step.cluster] };
    case 'setRateLimit':
      return { routes: [step.route], clusters: [] };
    case 'shiftPriority':
    case 'setOutlierDetection':
    case 'setHealthCheck':
      return { routes: [], clusters: [step.cluster] };
  }
}

export function captureTouched(graph: RouteGraph, names: { routes: string[]; clusters: string[] }): TouchedObjects {
  const routes: TouchedObjects['routes'] = {};
  const clusters: TouchedObjects['clusters'] = {};
  for (const n of names.routes) routes[n] = clone(graph.routes.find((r) => r.name === n) ?? null);
  for (const n of names.clusters) clusters[n] = clone(graph.clusters.find((c) => c.name === n) ?? null);
  return { routes, clusters };
}

/** The live graph with the touched objects put back as they were (compensation `restore`). */
export function restoreTouched(live: RouteGraph, before: TouchedObjects): RouteGraph {
  const graph = clone(live);
  for (const [name, route] of Object.entries(before.routes)) {
    if (route === null) {
      graph.routes = graph.routes.filter((r) => r.name !== name);
      graph.virtualHosts = graph.virtualHosts.map((v) => ({ ...v, routes: v.routes.filter((r) => r !== name) }));
    } else if (graph.routes.some((r) => r.name === name)) {
      graph.routes = graph.routes.map((r) => (r.name === name ? clone(route) : r));
    } else {
      graph.routes.push(clone(route));
    }
  }
  for (const [name, cluster] of Object.entries(before.clusters)) {
    if (cluster === null) graph.clusters = graph.clusters.filter((c) => c.name !== name);
    else if (graph.clusters.some((c) => c.name === name)) graph.clusters = graph.clusters.map((c) => (c.name === name ? clone(cluster) : c));
    else graph.clusters.push(clone(cluster));
  }
  return graph;
}

// ---------------------------------------------------------------- graph steps

function routeOf(graph: RouteGraph, name: string, path: string): Route {
  const r = graph.routes.find((x) => x.name === name);
  if (!r) throw new PlaybookStepError(`route ${name} is not in the live route graph`, path);
  return r;
}

function clusterOf(graph: RouteGraph, name: string, path: string): Cluster {
  const c = graph.clusters.find((x) => x.name === name);
  if (!c) throw new PlaybookStepError(`cluster ${name} is not in the live route graph`, path);
  return c;
}

function inLocality(ep: Endpoint, loc: LocalityRef): boolean {
  return ep.locality.region === loc.region && (loc.zone === undefined || ep.locality.zone === loc.zone);
}

/**
 * Endpoints after moving share `f` of locality `from`'s traffic to locality `to` (Envoy balances by endpoint
 * weight within the highest priority that has healthy endpoints). `to`'s endpoints join `from`'s priority P
 * (a standby `to` is promoted); `from` keeps (1 - f) of its weight, `to` gains the rest in proportion to its
 * endpoints' weights; once all is moved (f = 1), `from` becomes standby: the priority after every other
 * endpoint's, used only if `to` fails. Weights are scaled up (≤ 128) to keep the split precise.
 */
function shiftLocalityEndpoints(base: Endpoint[], from: LocalityRef, to: LocalityRef, f: number): Endpoint[] {
  const isFrom = (e: Endpoint) => inLocality(e, from);
  const isTo = (e: Endpoint) => !isFrom(e) && inLocality(e, to);
  const p = Math.min(...base.filter(isFrom).map((e) => e.priority));
  const sumFrom = base.filter((e) => isFrom(e) && e.priority === p).reduce((s, e) => s + e.weight, 0);
  const sumToAtP = base.filter((e) => isTo(e) && e.priority === p).reduce((s, e) => s + e.weight, 0);
  const sumTo = base.filter(isTo).reduce((s, e) => s + e.weight, 0);
  const scale = Math.max(1, Math.floor(128 / Math.max(1, sumFrom + sumToAtP)));
  const moved = sumFrom * scale * f;
  const toWeight = (e: Endpoint) => {
    const own = e.priority === p ? e.weight * scale : 0;
    return Math.min(128, Math.max(1, Math.round(own + (moved * e.weight) / sumTo)));
  };
  const shifted = base.map((e): Endpoint => {
    if (isTo(e)) return { ...clone(e), weight: toWeight(e), priority: p };
    if (isFrom(e) && e.priority === p && f < 1) return { ...clone(e), weight: Math.max(1, Math.round(e.weight * scale * (1 - f))) };
    if (isFrom(e)) return clone(e);
    return e.priority === p ? { ...clone(e), weight: e.weight * scale } : clone(e);
  });
  if (f < 1) return shifted;
  const standby = Math.min(10, Math.max(...shifted.filter((e) => !isFrom(e)).map((e) => e.priority)) + 1);
  // `to` alone at P now: its own weights again (a fail-back to the original localities restores the cluster).
  const alone = !base.some((e) => !isFrom(e) && !isTo(e) && e.priority === p);
  return base.map((e, i) => {
    if (isFrom(e) && e.priority === p) return { ...clone(e), priority: standby };
    if (isTo(e) && alone) return { ...clone(e), priority: p };
    return shifted[i]!;
  });
}

/** Share of `from`'s traffic moved after increment k of n (0..1). */
export function shiftFraction(percent: number, increment: number, increments: number): number {
  return (percent / 100) * (Math.min(increment, increments) / increments);
}

function replaceRoute(graph: RouteGraph, route: Route): RouteGraph {
  return { ...graph, routes: graph.routes.map((r) => (r.name === route.name ? route : r)) };
}

function replaceCluster(graph: RouteGraph, cluster: Cluster): RouteGraph {
  return { ...graph, clusters: graph.clusters.map((c) => (c.name === cluster.name ? cluster : c)) };
}

/** Moves `weight` from one cluster entry to the others in proportion to their weights (largest remainder). */
function redistribute(clusters: { cluster: string; weight: number }[], drained: string): { cluster: string; weight: number }[] {
  const gone = clusters.find((c) => c.cluster === drained)?.weight ?? 0;
  const others = clusters.filter((c) => c.cluster !== drained);
  const total = others.reduce((s, c) => s + c.weight, 0);
  const shares = others.map((c) => (total === 0 ? gone / others.length : (gone * c.weight) / total));
  const floors = shares.map(Math.floor);
  let left = gone - floors.reduce((s, x) => s + x, 0);
  const order = shares.map((s, i) => ({ i, r: s - Math.floor(s) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    floors[i]! += 1;
    left -= 1;
  }
  return others.map((c, i) => ({ cluster: c.cluster, weight: c.weight + floors[i]! }));
}

/**
 * The graph after increment `increment` (1-based) of a graph step, computed from the live graph and the
 * touched objects as they were before the step's first increment (`before`): increments are relative to the
 * step's start, so applying increment k twice gives the same graph.
 */
export function applyGraphStep(live: RouteGraph, step: GraphStep, increment: number, before: TouchedObjects): RouteGraph {
  let graph = clone(live);
  switch (step.kind) {
    case 'shiftWeight': {
      const f = shiftFraction(step.percent, increment, step.increments);
      const b = step.between;
      if (b.level === 'clusters') {
        const base = before.routes[b.route] ?? routeOf(graph, b.route, 'between.route');
        if (base.action.kind !== 'forward') throw new PlaybookStepError(`route ${b.route} does not forward to clusters`, 'between.route');
        clusterOf(graph, b.to, 'between.to');
        const from = base.action.clusters.find((c) => c.cluster === b.from);
        if (!from) throw new PlaybookStepError(`route ${b.route} does not send traffic to ${b.from}`, 'between.from');
        const moved = Math.round(from.weight * f);
        let clusters = base.action.clusters.map((c) => ({ ...c }));
        if (!clusters.some((c) => c.cluster === b.to)) clusters.push({ cluster: b.to, weight: 0 });
        clusters = clusters.map((c) => (c.cluster === b.from ? { ...c, weight: c.weight - moved } : c.cluster === b.to ? { ...c, weight: c.weight + moved } : c));
        const current = routeOf(graph, b.route, 'between.route');
        graph = replaceRoute(graph, { ...clone(current), action: { kind: 'forward', clusters } });
      } else {
        const base = before.clusters[b.cluster] ?? clusterOf(graph, b.cluster, 'between.cluster');
        if (!base.endpoints.some((e) => inLocality(e, b.from))) throw new PlaybookStepError(`cluster ${b.cluster} has no endpoint in region ${b.from.region}`, 'between.from');
        if (!base.endpoints.some((e) => inLocality(e, b.to))) throw new PlaybookStepError(`cluster ${b.cluster} has no endpoint in region ${b.to.region}`, 'between.to');
        graph = replaceCluster(graph, { ...clone(clusterOf(graph, b.cluster, 'between.cluster')), endpoints: shiftLocalityEndpoints(base.endpoints, b.from, b.to, f) });
        return graph;
      }
      return graph;
    }
    case 'shiftPriority': {
      const base = before.clusters[step.cluster] ?? clusterOf(graph, step.cluster, 'cluster');
      if (!base.endpoints.some((e) => inLocality(e, step.to))) throw new PlaybookStepError(`cluster ${step.cluster} has no endpoint in region ${step.to.region}`, 'to');
      const endpoints = base.endpoints.map((e) => ({ ...clone(e), priority: inLocality(e, step.to) ? 0 : Math.min(10, e.priority + 1) }));
      return replaceCluster(graph, { ...clone(clusterOf(graph, step.cluster, 'cluster')), endpoints });
    }
    case 'drain': {
      const cluster = clusterOf(graph, step.cluster, 'cluster');
      if (step.endpoints === undefined && step.locality === undefined) {
        for (const name of Object.keys(before.routes)) {
          const route = routeOf(graph, name, 'cluster');
          if (route.action.kind !== 'forward') continue;
          if (!route.action.clusters.some((c) => c.cluster !== step.cluster)) {
            throw new PlaybookStepError(`route ${name} sends all its traffic to ${step.cluster}: nowhere to drain it to`, 'cluster');
          }
          graph = replaceRoute(graph, { ...clone(route), action: { kind: 'forward', clusters: redistribute(route.action.clusters, step.cluster) } });
        }
        return graph;
      }
      const drop = (e: Endpoint) =>
        (step.endpoints?.some((x) => x.address === e.address && x.port === e.port) ?? false) || (step.locality !== undefined && inLocality(e, step.locality));
      const endpoints = cluster.endpoints.filter((e) => !drop(e));
      if (endpoints.length === cluster.endpoints.length) throw new PlaybookStepError(`no endpoint of ${step.cluster} matches`, step.endpoints ? 'endpoints' : 'locality');
      if (endpoints.length === 0) throw new PlaybookStepError(`draining these endpoints would leave ${step.cluster} without any`, step.endpoints ? 'endpoints' : 'locality');
      return replaceCluster(graph, { ...clone(cluster), endpoints });
    }
    case 'setOutlierDetection': {
      const cluster = clone(clusterOf(graph, step.cluster, 'cluster'));
      if (step.outlierDetection === null) delete cluster.outlierDetection;
      else cluster.outlierDetection = clone(step.outlierDetection);
      return replaceCluster(graph, cluster);
    }
    case 'setHealthCheck': {
      const cluster = clone(clusterOf(graph, step.cluster, 'cluster'));
      if (step.healthCheck === null) delete cluster.healthCheck;
      else cluster.healthCheck = clone(step.healthCheck);
      return replaceCluster(graph, cluster);
    }
    case 'setRateLimit': {
      const route = clone(routeOf(graph, step.route, 'route'));
      if (step.rateLimit === null) delete route.rateLimit;
      else route.rateLimit = clone(step.rateLimit);
      return replaceRoute(graph, route);
    }
  }
}

/** How many publishes a graph step makes. */
export function incrementsOf(step: GraphStep): number {
  return step.kind === 'shiftWeight' ? step.increments : 1;
}

/**
 * One change applied to the live graph: a step increment (`before` = the touched objects at the step's start,
 * captured from `live` on the first increment) or a restore. Returns the new graph and `before`.
 */
export function applyGraphChange(live: RouteGraph, change: GraphChange): { graph: RouteGraph; before: TouchedObjects } {
  if (change.kind === 'restore') {
    const names = { routes: Object.keys(change.before.routes), clusters: Object.keys(change.before.clusters) };
    return { graph: restoreTouched(live, change.before), before: captureTouched(live, names) };
  }
  const before = change.before ?? captureTouched(live, touchedBy(live, change.step));
  return { graph: applyGraphStep(live, change.step, change.increment, before), before };
}

// ---------------------------------------------------------------- XDP

/** The group's spec with the step's rules added (same name: replaced in place). */
export function addXdpRules(current: XdpPolicySpec | null, step: PushXdpRulesStep): XdpPolicySpec {
  if (current === null && step.interfaces === undefined) {
    throw new PlaybookStepError(`node group ${step.nodeGroup} has no XDP policy yet: name its interfaces`, 'interfaces');
  }
  const spec: XdpPolicySpec = current
    ? clone(current)
    : { program: 'guard', attachMode: 'generic', interfaces: [...step.interfaces!], countOnly: false, protectedCidrs: [], rules: [] };
  for (const rule of step.rules) {
    const i = spec.rules.findIndex((r) => r.name === rule.name);
    if (i >= 0) spec.rules[i] = clone(rule);
    else spec.rules.push(clone(rule));
  }
  return spec;
}

export function captureXdpRules(current: XdpPolicySpec | null, names: readonly string[]): XdpRulesBefore {
  return { hadPolicy: current !== null, names: [...names], rules: clone((current?.rules ?? []).filter((r) => names.includes(r.name))) };
}

/** The group's spec with the named rules put back as they were (removed when they did not exist). */
export function restoreXdpRules(current: XdpPolicySpec, before: XdpRulesBefore): XdpPolicySpec {
  const spec = clone(current);
  spec.rules = spec.rules.filter((r) => !before.names.includes(r.name) || before.rules.some((b) => b.name === r.name));
  spec.rules = spec.rules.map((r) => clone(before.rules.find((b) => b.name === r.name) ?? r));
  for (const b of before.rules) if (!spec.rules.some((r) => r.name === b.name)) spec.rules.push(clone(b));
  return spec;
}

// ---------------------------------------------------------------- plan

export type PlannedAction =
  | { key: string; stepIndex: number; kind: 'graph'; graph: RouteGraph; graphHash: string; changed: boolean }
  | { key: string; stepIndex: number; kind: 'xdp'; nodeGroup: string; spec: XdpPolicySpec }
  | { key: string; stepIndex: number; kind: 'gate'; step: string };

/** Idempotency key of a step's increment (`s<step>.<increment>`) and of its compensation (`c<step>`). */
export function changeKey(stepIndex: number, increment: number): string {
  return `s${stepIndex}.${increment}`;
}
export function compensationKey(stepIndex: number): string {
  return `c${stepIndex}`;
}

/**
 * Every change the playbook makes, in order, starting from the live graph and the node groups' current XDP
 * specs (what the dry run shows). The run computes each change with the same functions from the graph live
 * at that moment: with nothing else changing meanwhile, both are identical.
 */
export function planPlaybook(spec: PlaybookSpec, live: RouteGraph, xdp: Record<string, XdpPolicySpec | null>): PlannedAction[] {
  const out: PlannedAction[] = [];
  let graph = live;
  const groups: Record<string, XdpPolicySpec | null> = { ...xdp };
  spec.steps.forEach((step, i) => {
    if (step.kind === 'pushXdpRules') {
      const next = addXdpRules(groups[step.nodeGroup] ?? null, step);
      groups[step.nodeGroup] = next;
      out.push({ key: changeKey(i, 1), stepIndex: i, kind: 'xdp', nodeGroup: step.nodeGroup, spec: next });
      return;
    }
    if (step.kind === 'wait' || step.kind === 'approval' || step.kind === 'verify' || step.kind === 'notify') {
      out.push({ key: `s${i}`, stepIndex: i, kind: 'gate', step: step.kind });
      return;
    }
    const before = captureTouched(graph, touchedBy(graph, step));
    for (let k = 1; k <= incrementsOf(step); k++) {
      const next = applyGraphStep(graph, step, k, before);
      const changed = contentHash(next) !== contentHash(graph);
      graph = next;
      out.push({ key: changeKey(i, k), stepIndex: i, kind: 'graph', graph, graphHash: contentHash(graph), changed });
    }
  });
  return out;
}
