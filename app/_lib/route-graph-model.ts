/**
 * The route graph as nodes and edges (for the graph editor and the visual diff), and the edits the editor
 * makes on it. Pure functions over `RouteGraph`: every edit returns a new graph (old ones stay valid, which
 * is what undo/redo keeps), or an error string saying why the edit is refused.
 *
 * Node ids: `ng:<name>` node group, `l:<name>` listener, `vh:<name>` virtual host, `r:<name>` route,
 * `c:<name>` cluster, `e:<cluster>#<index>` endpoint, `p:<name>` request policy (bound via `extAuthz`),
 * `xr:<id>` XDP rule set (a stored XDP policy version; not part of the route graph, see GraphOverlay).
 */
import type { Cluster, Endpoint, Listener, NodeGroup, Route, RouteGraph, VirtualHost } from '@/contracts/route-graph.schema';

export type GraphKind = 'nodeGroup' | 'listener' | 'virtualHost' | 'route' | 'cluster' | 'endpoint' | 'policy' | 'xdpRuleSet';
/** `xr-ng`: an XDP rule set published to a node group (outside the route graph). */
export type EdgeKind = 'ng-l' | 'l-vh' | 'vh-r' | 'r-c' | 'c-e' | 'x-p' | 'xr-ng';

export interface GraphNodeInfo {
  id: string;
  kind: GraphKind;
  /** The object's name (endpoints: `address:port`). */
  name: string;
  /** One line under the name (port, domains, match, endpoint count…). */
  detail: string;
}

export interface GraphEdgeInfo {
  id: string;
  kind: EdgeKind;
  source: string;
  target: string;
  /** Route → cluster edges: the weight. */
  weight?: number;
}

export const KIND_LABEL: Record<GraphKind, string> = {
  nodeGroup: 'Node group',
  listener: 'Listener',
  virtualHost: 'Virtual host',
  route: 'Route',
  cluster: 'Cluster',
  endpoint: 'Endpoint',
  policy: 'Request policy',
  xdpRuleSet: 'XDP rule set',
};

/** Left-to-right order of the kinds (the layered layout's columns). */
export const KIND_COLUMN: Record<GraphKind, number> = { xdpRuleSet: -1, nodeGroup: 0, listener: 1, virtualHost: 2, route: 3, policy: 4, cluster: 4, endpoint: 5 };

const PREFIX: Record<Exclude<GraphKind, 'endpoint'>, string> = { nodeGroup: 'ng', listener: 'l', virtualHost: 'vh', route: 'r', cluster: 'c', policy: 'p', xdpRuleSet: 'xr' };

export function nodeId(kind: Exclude<GraphKind, 'endpoint'>, name: string): string {
  return `${PREFIX[kind]}:${name}`;
}
export function endpointId(cluster: string, index: number): string {
  return `e:${cluster}#${index}`;
}

export function parseNodeId(id: string): { kind: GraphKind; name: string; cluster?: string; index?: number } | null {
  const colon = id.indexOf(':');
  if (colon < 0) return null;
  const p = id.slice(0, colon);
  const rest = id.slice(colon + 1);
  if (p === 'e') {
    const hash = rest.lastIndexOf('#');
    if (hash < 0) return null;
    return { kind: 'endpoint', name: rest, cluster: rest.slice(0, hash), index: Number(rest.slice(hash + 1)) };
  }
  const kind = (Object.entries(PREFIX) as [GraphKind, string][]).find(([, v]) => v === p)?.[0];
  return kind ? { kind, name: rest } : null;
}

export function edgeId(kind: EdgeKind, source: string, target: string): string {
  return `${kind}|${source}|${target}`;
}

export function emptyGraph(): RouteGraph {
  return { listeners: [], virtualHosts: [], routes: [], clusters: [], nodeGroups: [] };
}

export function describeRouteMatch(r: Route): string {
  const m = r.match;
  const base = m.path !== undefined ? `= ${m.path}` : m.prefix !== undefined ? `${m.prefix}*` : m.regex !== undefined ? `~ ${m.regex}` : 'any';
  const extra = m.headers.length + m.queryParameters.length;
  const action = r.action.kind === 'forward' ? '' : r.action.kind === 'redirect' ? ' → redirect' : ` → ${r.action.status}`;
  return `${base}${extra ? ` +${extra} match` : ''}${action}`;
}

/**
 * What the editor shows beside the route graph: the tenant's request policies (so an unbound one can be
 * connected by drawing an edge) and its XDP rule sets. An XDP rule set is a stored XDP policy version of a
 * node group; it is not part of any route-graph revision: its edge to a node group means "this version is
 * the group's desired XDP state" (published by pushXdpPolicyWorkflow, acknowledged by the group's agents).
 */
export interface GraphOverlay {
  requestPolicies: readonly string[];
  xdpRuleSets: readonly { id: string; nodeGroup: string; name: string; detail: string; published: boolean }[];
}

/**
 * Every node and edge of the graph (plus the overlay's policy nodes), in a stable order. Dangling references
 * get no edge (validation reports them).
 */
export function graphToElements(g: RouteGraph, overlay?: GraphOverlay): { nodes: GraphNodeInfo[]; edges: GraphEdgeInfo[] } {
  const nodes: GraphNodeInfo[] = [];
  const edges: GraphEdgeInfo[] = [];
  const has = new Set<string>();
  const push = (n: GraphNodeInfo) => {
    if (has.has(n.id)) return;
    has.add(n.id);
    nodes.push(n);
  };
  for (const ng of g.nodeGroups) push({ id: nodeId('nodeGroup', ng.name), kind: 'nodeGroup', name: ng.name, detail: `${ng.kind ?? 'envoy'} · ${ng.listeners.length} listener${ng.listeners.length === 1 ? '' : 's'}` });
  for (const l of g.listeners) push({ id: nodeId('listener', l.name), kind: 'listener', name: l.name, detail: `${l.address}:${l.port} ${l.protocol}${l.tls ? ' tls' : ''}` });
  for (const vh of g.virtualHosts) push({ id: nodeId('virtualHost', vh.name), kind: 'virtualHost', name: vh.name, detail: vh.domains.join(', ') });
  for (const r of g.routes) push({ id: nodeId('route', r.name), kind: 'route', name: r.name, detail: describeRouteMatch(r) });
  for (const c of g.clusters) {
    push({ id: nodeId('cluster', c.name), kind: 'cluster', name: c.name, detail: `${c.lbPolicy} · ${c.endpoints.length} endpoint${c.endpoints.length === 1 ? '' : 's'}` });
    c.endpoints.forEach((e, i) => {
      const id = endpointId(c.name, i);
      push({ id, kind: 'endpoint', name: `${e.address}:${e.port}`, detail: `weight ${e.weight}${e.locality.zone ? ` · ${e.locality.zone}` : ''}` });
      edges.push({ id: edgeId('c-e', nodeId('cluster', c.name), id), kind: 'c-e', source: nodeId('cluster', c.name), target: id });
    });
  }
  const policies = new Set<string>();
  for (const x of [...g.virtualHosts, ...g.routes]) if (x.extAuthz && 'policy' in x.extAuthz) policies.add(x.extAuthz.policy);
  for (const p of overlay?.requestPolicies ?? []) policies.add(p);
  for (const p of [...policies].sort()) push({ id: nodeId('policy', p), kind: 'policy', name: p, detail: 'ext_authz' });
  for (const x of overlay?.xdpRuleSets ?? []) push({ id: nodeId('xdpRuleSet', x.id), kind: 'xdpRuleSet', name: x.name, detail: x.detail });

  const link = (kind: EdgeKind, source: string, target: string, weight?: number) => {
    if (!has.has(source) || !has.has(target)) return;
    const id = edgeId(kind, source, target);
    edges.push(weight === undefined ? { id, kind, source, target } : { id, kind, source, target, weight });
  };
  for (const ng of g.nodeGroups) for (const l of ng.listeners) link('ng-l', nodeId('nodeGroup', ng.name), nodeId('listener', l));
  for (const l of g.listeners) for (const vh of l.virtualHosts) link('l-vh', nodeId('listener', l.name), nodeId('virtualHost', vh));
  for (const vh of g.virtualHosts) {
    for (const r of vh.routes) link('vh-r', nodeId('virtualHost', vh.name), nodeId('route', r));
    if (vh.extAuthz && 'policy' in vh.extAuthz) link('x-p', nodeId('virtualHost', vh.name), nodeId('policy', vh.extAuthz.policy));
  }
  for (const r of g.routes) {
    if (r.action.kind === 'forward') for (const wc of r.action.clusters) link('r-c', nodeId('route', r.name), nodeId('cluster', wc.cluster), wc.weight);
    if (r.extAuthz && 'policy' in r.extAuthz) link('x-p', nodeId('route', r.name), nodeId('policy', r.extAuthz.policy));
  }
  for (const x of overlay?.xdpRuleSets ?? []) if (x.published) link('xr-ng', nodeId('xdpRuleSet', x.id), nodeId('nodeGroup', x.nodeGroup));
  // Edges point at existing nodes only; de-duplicate (a name listed twice is a validation issue, one edge).
  const seen = new Set<string>();
  return { nodes, edges: edges.filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true))) };
}

// ------------------------------------------------------------------------------------------------ edits

export type EditResult = { ok: true; graph: RouteGraph } | { ok: false; error: string };
const ok = (graph: RouteGraph): EditResult => ({ ok: true, graph });
const refuse = (error: string): EditResult => ({ ok: false, error });

function uniqueName(taken: Set<string>, base: string): string {
  const clean = base.replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 55) || 'x';
  if (!taken.has(clean)) return clean;
  for (let i = 2; ; i++) if (!taken.has(`${clean}-${i}`)) return `${clean}-${i}`;
}

export function namesOf(g: RouteGraph, kind: Exclude<GraphKind, 'endpoint' | 'policy' | 'xdpRuleSet'>): Set<string> {
  const list = kind === 'nodeGroup' ? g.nodeGroups : kind === 'listener' ? g.listeners : kind === 'virtualHost' ? g.virtualHosts : kind === 'route' ? g.routes : g.clusters;
  return new Set(list.map((x) => x.name));
}

export function newListener(name: string, port: number): Listener {
  return { name, address: '0.0.0.0', port, protocol: 'auto', virtualHosts: [] };
}
export function newVirtualHost(name: string): VirtualHost {
  return { name, domains: ['*'], routes: [] };
}
export function newRoute(name: string): Route {
  return { name, match: { prefix: '/', headers: [], queryParameters: [] }, action: { kind: 'forward', clusters: [] } };
}
export function newCluster(name: string): Cluster {
  return { name, lbPolicy: 'roundRobin', connectTimeoutMs: 1000, endpoints: [] };
}
export function newEndpoint(address = '127.0.0.1', port = 8080): Endpoint {
  return { address, port, weight: 1, locality: { region: '', zone: '' }, priority: 0 };
}
export function newNodeGroup(name: string): NodeGroup {
  return { name, listeners: [] };
}

/** Adds an object with a fresh name; endpoints need the cluster they belong to. */
export function addObject(g: RouteGraph, kind: GraphKind, opts: { cluster?: string } = {}): { ok: true; graph: RouteGraph; id: string } | { ok: false; error: string } {
  switch (kind) {
    case 'listener': {
      const name = uniqueName(namesOf(g, 'listener'), 'listener');
      const used = new Set(g.listeners.map((l) => l.port));
      let port = 8080;
      while (used.has(port)) port++;
      return { ok: true, graph: { ...g, listeners: [...g.listeners, newListener(name, port)] }, id: nodeId('listener', name) };
    }
    case 'virtualHost': {
      const name = uniqueName(namesOf(g, 'virtualHost'), 'vhost');
      return { ok: true, graph: { ...g, virtualHosts: [...g.virtualHosts, newVirtualHost(name)] }, id: nodeId('virtualHost', name) };
    }
    case 'route': {
      const name = uniqueName(namesOf(g, 'route'), 'route');
      return { ok: true, graph: { ...g, routes: [...g.routes, newRoute(name)] }, id: nodeId('route', name) };
    }
    case 'cluster': {
      const name = uniqueName(namesOf(g, 'cluster'), 'cluster');
      return { ok: true, graph: { ...g, clusters: [...g.clusters, newCluster(name)] }, id: nodeId('cluster', name) };
    }
    case 'nodeGroup': {
      const name = uniqueName(namesOf(g, 'nodeGroup'), g.nodeGroups.some((n) => n.name === 'default') ? 'group' : 'default');
      return { ok: true, graph: { ...g, nodeGroups: [...g.nodeGroups, newNodeGroup(name)] }, id: nodeId('nodeGroup', name) };
    }
    case 'endpoint': {
      const c = g.clusters.find((x) => x.name === opts.cluster);
      if (!c) return { ok: false, error: 'select the cluster the endpoint belongs to first' };
      const clusters = g.clusters.map((x) => (x === c ? { ...x, endpoints: [...x.endpoints, newEndpoint()] } : x));
      return { ok: true, graph: { ...g, clusters }, id: endpointId(c.name, c.endpoints.length) };
    }
    case 'policy':
      return { ok: false, error: 'create request policies in the Rego editor (Policies); they appear here to be connected' };
    case 'xdpRuleSet':
      return { ok: false, error: 'XDP rule sets are created through the XDP API or a playbook; they appear here to be published to node groups' };
  }
}

const ALLOWED: Partial<Record<`${GraphKind}>${GraphKind}`, EdgeKind>> = {
  'nodeGroup>listener': 'ng-l',
  'listener>virtualHost': 'l-vh',
  'virtualHost>route': 'vh-r',
  'route>cluster': 'r-c',
  'cluster>endpoint': 'c-e',
  'route>policy': 'x-p',
  'virtualHost>policy': 'x-p',
  'xdpRuleSet>nodeGroup': 'xr-ng',
};

/** What an edge from `source` to `target` would mean, or why it is not allowed. */
export function connectionKind(sourceId: string, targetId: string): { ok: true; kind: EdgeKind } | { ok: false; error: string } {
  const s = parseNodeId(sourceId);
  const t = parseNodeId(targetId);
  if (!s || !t) return { ok: false, error: 'unknown node' };
  // Drawn the other way round: accept it (the direction is implied by the kinds).
  const kind = ALLOWED[`${s.kind}>${t.kind}`] ?? ALLOWED[`${t.kind}>${s.kind}`];
  if (!kind) return { ok: false, error: `a ${KIND_LABEL[s.kind].toLowerCase()} cannot be connected to a ${KIND_LABEL[t.kind].toLowerCase()}` };
  return { ok: true, kind };
}

/** Connects two nodes by adding the name reference; route → cluster adds a weighted cluster. */
export function connect(g: RouteGraph, sourceId: string, targetId: string): EditResult {
  const ck = connectionKind(sourceId, targetId);
  if (!ck.ok) return refuse(ck.error);
  let s = parseNodeId(sourceId)!;
  let t = parseNodeId(targetId)!;
  if (!ALLOWED[`${s.kind}>${t.kind}`]) [s, t] = [t, s];
  switch (ck.kind) {
    case 'ng-l':
      return ok({ ...g, nodeGroups: g.nodeGroups.map((x) => (x.name === s.name && !x.listeners.includes(t.name) ? { ...x, listeners: [...x.listeners, t.name] } : x)) });
    case 'l-vh':
      return ok({ ...g, listeners: g.listeners.map((x) => (x.name === s.name && !x.virtualHosts.includes(t.name) ? { ...x, virtualHosts: [...x.virtualHosts, t.name] } : x)) });
    case 'vh-r':
      return ok({ ...g, virtualHosts: g.virtualHosts.map((x) => (x.name === s.name && !x.routes.includes(t.name) ? { ...x, routes: [...x.routes, t.name] } : x)) });
    case 'r-c': {
      const r = g.routes.find((x) => x.name === s.name);
      if (!r) return refuse('unknown route');
      if (r.action.kind !== 'forward') return refuse(`route ${r.name} ${r.action.kind === 'redirect' ? 'redirects' : 'responds directly'}; switch its action to "forward" first`);
      if (r.action.clusters.some((c) => c.cluster === t.name)) return refuse(`route ${r.name} already forwards to ${t.name}`);
      const weight = r.action.clusters.length === 0 ? 100 : 0;
      return ok(replaceRoute(g, { ...r, action: { kind: 'forward', clusters: [...r.action.clusters, { cluster: t.name, weight }] } }));
    }
    case 'x-p':
      if (s.kind === 'route') return ok({ ...g, routes: g.routes.map((x) => (x.name === s.name ? { ...x, extAuthz: { policy: t.name } } : x)) });
      return ok({ ...g, virtualHosts: g.virtualHosts.map((x) => (x.name === s.name ? { ...x, extAuthz: { policy: t.name } } : x)) });
    case 'c-e':
      return refuse('an endpoint belongs to one cluster; add a new endpoint to the other cluster instead');
    case 'xr-ng':
      return refuse('an XDP rule set is not part of the route graph: it is published to a node group by its own workflow');
  }
}

function replaceRoute(g: RouteGraph, r: Route): RouteGraph {
  return { ...g, routes: g.routes.map((x) => (x.name === r.name ? r : x)) };
}

/** Removes the reference an edge stands for. */
export function disconnect(g: RouteGraph, id: string): RouteGraph {
  const [kind, source, target] = id.split('|') as [EdgeKind, string, string];
  const s = parseNodeId(source);
  const t = parseNodeId(target);
  if (!s || !t) return g;
  switch (kind) {
    case 'ng-l':
      return { ...g, nodeGroups: g.nodeGroups.map((x) => (x.name === s.name ? { ...x, listeners: x.listeners.filter((n) => n !== t.name) } : x)) };
    case 'l-vh':
      return { ...g, listeners: g.listeners.map((x) => (x.name === s.name ? { ...x, virtualHosts: x.virtualHosts.filter((n) => n !== t.name) } : x)) };
    case 'vh-r':
      return { ...g, virtualHosts: g.virtualHosts.map((x) => (x.name === s.name ? { ...x, routes: x.routes.filter((n) => n !== t.name) } : x)) };
    case 'r-c':
      return {
        ...g,
        routes: g.routes.map((x) =>
          x.name === s.name && x.action.kind === 'forward' ? { ...x, action: { kind: 'forward', clusters: x.action.clusters.filter((c) => c.cluster !== t.name) } } : x,
        ),
      };
    case 'x-p': {
      const drop = <T extends { name: string; extAuthz?: unknown }>(x: T): T => {
        if (x.name !== s.name) return x;
        const { extAuthz: _drop, ...rest } = x;
        return rest as T;
      };
      return s.kind === 'route' ? { ...g, routes: g.routes.map(drop) } : { ...g, virtualHosts: g.virtualHosts.map(drop) };
    }
    case 'c-e':
      return removeNodes(g, [target]);
    case 'xr-ng':
      return g; // not in the route graph: a group's XDP state changes only by publishing another version
  }
}

/** Removes objects and every reference to them (endpoints: from their cluster; policies: their bindings). */
export function removeNodes(g: RouteGraph, ids: string[]): RouteGraph {
  const gone = { nodeGroup: new Set<string>(), listener: new Set<string>(), virtualHost: new Set<string>(), route: new Set<string>(), cluster: new Set<string>(), policy: new Set<string>(), xdpRuleSet: new Set<string>() };
  const endpoints = new Map<string, Set<number>>();
  for (const id of ids) {
    const p = parseNodeId(id);
    if (!p) continue;
    if (p.kind === 'endpoint') {
      const set = endpoints.get(p.cluster!) ?? new Set<number>();
      set.add(p.index!);
      endpoints.set(p.cluster!, set);
    } else gone[p.kind].add(p.name);
  }
  const unbind = <T extends { extAuthz?: Route['extAuthz'] }>(x: T): T => {
    if (x.extAuthz && 'policy' in x.extAuthz && gone.policy.has(x.extAuthz.policy)) {
      const { extAuthz: _drop, ...rest } = x;
      return rest as T;
    }
    return x;
  };
  return {
    nodeGroups: g.nodeGroups.filter((x) => !gone.nodeGroup.has(x.name)).map((x) => ({ ...x, listeners: x.listeners.filter((n) => !gone.listener.has(n)) })),
    listeners: g.listeners.filter((x) => !gone.listener.has(x.name)).map((x) => ({ ...x, virtualHosts: x.virtualHosts.filter((n) => !gone.virtualHost.has(n)) })),
    virtualHosts: g.virtualHosts.filter((x) => !gone.virtualHost.has(x.name)).map((x) => unbind({ ...x, routes: x.routes.filter((n) => !gone.route.has(n)) })),
    routes: g.routes
      .filter((x) => !gone.route.has(x.name))
      .map((x) => {
        const y = unbind(x);
        if (y.action.kind !== 'forward' || !y.action.clusters.some((c) => gone.cluster.has(c.cluster))) return y;
        return { ...y, action: { kind: 'forward' as const, clusters: y.action.clusters.filter((c) => !gone.cluster.has(c.cluster)) } };
      }),
    clusters: g.clusters
      .filter((x) => !gone.cluster.has(x.name))
      .map((x) => {
        const drop = endpoints.get(x.name);
        return drop ? { ...x, endpoints: x.endpoints.filter((_, i) => !drop.has(i)) } : x;
      }),
  };
}

/** Sets the weight of a route → cluster reference. */
export function setWeight(g: RouteGraph, route: string, cluster: string, weight: number): RouteGraph {
  const w = Math.max(0, Math.min(10_000, Math.round(Number.isFinite(weight) ? weight : 0)));
  return {
    ...g,
    routes: g.routes.map((r) =>
      r.name === route && r.action.kind === 'forward'
        ? { ...r, action: { kind: 'forward', clusters: r.action.clusters.map((c) => (c.cluster === cluster ? { ...c, weight: w } : c)) } }
        : r,
    ),
  };
}

/** Renames an object and every reference to it. */
export function renameObject(g: RouteGraph, kind: Exclude<GraphKind, 'endpoint'>, from: string, to: string): EditResult {
  if (from === to) return ok(g);
  if (kind === 'xdpRuleSet') return refuse('an XDP rule set is not part of the route graph');
  if (kind !== 'policy' && namesOf(g, kind).has(to)) return refuse(`another ${KIND_LABEL[kind].toLowerCase()} is already called ${to}`);
  const r = (n: string) => (n === from ? to : n);
  const rebind = <T extends { extAuthz?: Route['extAuthz'] }>(x: T): T => (x.extAuthz && 'policy' in x.extAuthz && x.extAuthz.policy === from ? { ...x, extAuthz: { policy: to } } : x);
  switch (kind) {
    case 'nodeGroup':
      return ok({ ...g, nodeGroups: g.nodeGroups.map((x) => (x.name === from ? { ...x, name: to } : x)) });
    case 'listener':
      return ok({ ...g, listeners: g.listeners.map((x) => (x.name === from ? { ...x, name: to } : x)), nodeGroups: g.nodeGroups.map((x) => ({ ...x, listeners: x.listeners.map(r) })) });
    case 'virtualHost':
      return ok({ ...g, virtualHosts: g.virtualHosts.map((x) => (x.name === from ? { ...x, name: to } : x)), listeners: g.listeners.map((x) => ({ ...x, virtualHosts: x.virtualHosts.map(r) })) });
    case 'route':
      return ok({ ...g, routes: g.routes.map((x) => (x.name === from ? { ...x, name: to } : x)), virtualHosts: g.virtualHosts.map((x) => ({ ...x, routes: x.routes.map(r) })) });
    case 'cluster':
      return ok({
        ...g,
        clusters: g.clusters.map((x) => (x.name === from ? { ...x, name: to } : x)),
        routes: g.routes.map((x) => {
          const y = x.mirror?.cluster === from ? { ...x, mirror: { ...x.mirror, cluster: to } } : x;
          return y.action.kind === 'forward' ? { ...y, action: { kind: 'forward' as const, clusters: y.action.clusters.map((c) => ({ ...c, cluster: r(c.cluster) })) } } : y;
        }),
      });
    case 'policy':
      return ok({ ...g, routes: g.routes.map(rebind), virtualHosts: g.virtualHosts.map(rebind) });
  }
}

// ------------------------------------------------------------------------------------------ the objects

export type GraphObject =
  | { kind: 'nodeGroup'; value: NodeGroup }
  | { kind: 'listener'; value: Listener }
  | { kind: 'virtualHost'; value: VirtualHost }
  | { kind: 'route'; value: Route }
  | { kind: 'cluster'; value: Cluster }
  | { kind: 'endpoint'; value: Endpoint; cluster: string; index: number }
  | { kind: 'policy'; value: { name: string } };

export function findObject(g: RouteGraph, id: string): GraphObject | null {
  const p = parseNodeId(id);
  if (!p) return null;
  switch (p.kind) {
    case 'nodeGroup': {
      const v = g.nodeGroups.find((x) => x.name === p.name);
      return v ? { kind: p.kind, value: v } : null;
    }
    case 'listener': {
      const v = g.listeners.find((x) => x.name === p.name);
      return v ? { kind: p.kind, value: v } : null;
    }
    case 'virtualHost': {
      const v = g.virtualHosts.find((x) => x.name === p.name);
      return v ? { kind: p.kind, value: v } : null;
    }
    case 'route': {
      const v = g.routes.find((x) => x.name === p.name);
      return v ? { kind: p.kind, value: v } : null;
    }
    case 'cluster': {
      const v = g.clusters.find((x) => x.name === p.name);
      return v ? { kind: p.kind, value: v } : null;
    }
    case 'endpoint': {
      const v = g.clusters.find((x) => x.name === p.cluster)?.endpoints[p.index!];
      return v ? { kind: p.kind, value: v, cluster: p.cluster!, index: p.index! } : null;
    }
    case 'policy':
      return { kind: 'policy', value: { name: p.name } };
    case 'xdpRuleSet':
      return null; // not in the route graph
  }
}

/**
 * Replaces an object (same kind) by a new value; a changed name is renamed everywhere first.
 * Endpoints: replaced in their cluster.
 */
export function replaceObject(g: RouteGraph, id: string, value: unknown): EditResult {
  const current = findObject(g, id);
  if (!current) return refuse('the object no longer exists');
  if (current.kind === 'endpoint') {
    return ok({
      ...g,
      clusters: g.clusters.map((c) => (c.name === current.cluster ? { ...c, endpoints: c.endpoints.map((e, i) => (i === current.index ? (value as Endpoint) : e)) } : c)),
    });
  }
  if (current.kind === 'policy') {
    const to = (value as { name?: unknown }).name;
    return typeof to === 'string' ? renameObject(g, 'policy', current.value.name, to) : refuse('a policy needs a name');
  }
  const next = value as { name?: unknown };
  if (typeof next !== 'object' || next === null || typeof next.name !== 'string') return refuse('the object needs a "name"');
  let graph = g;
  if (next.name !== current.value.name) {
    const renamed = renameObject(g, current.kind, current.value.name, next.name);
    if (!renamed.ok) return renamed;
    graph = renamed.graph;
  }
  const name = next.name;
  switch (current.kind) {
    case 'nodeGroup':
      return ok({ ...graph, nodeGroups: graph.nodeGroups.map((x) => (x.name === name ? (value as NodeGroup) : x)) });
    case 'listener':
      return ok({ ...graph, listeners: graph.listeners.map((x) => (x.name === name ? (value as Listener) : x)) });
    case 'virtualHost':
      return ok({ ...graph, virtualHosts: graph.virtualHosts.map((x) => (x.name === name ? (value as VirtualHost) : x)) });
    case 'route':
      return ok({ ...graph, routes: graph.routes.map((x) => (x.name === name ? (value as Route) : x)) });
    case 'cluster':
      return ok({ ...graph, clusters: graph.clusters.map((x) => (x.name === name ? (value as Cluster) : x)) });
  }
}

/** The node id a validation issue path (`routes[3].action…`, `clusters[1].endpoints[0].port`) is about. */
export function nodeIdOfIssuePath(g: RouteGraph, path: string): string | null {
  const m = /^(listeners|virtualHosts|routes|clusters|nodeGroups)\[(\d+)\](?:\.endpoints\[(\d+)\])?/.exec(path);
  if (!m) return null;
  const i = Number(m[2]);
  switch (m[1]) {
    case 'listeners':
      return g.listeners[i] ? nodeId('listener', g.listeners[i].name) : null;
    case 'virtualHosts':
      return g.virtualHosts[i] ? nodeId('virtualHost', g.virtualHosts[i].name) : null;
    case 'routes':
      return g.routes[i] ? nodeId('route', g.routes[i].name) : null;
    case 'nodeGroups':
      return g.nodeGroups[i] ? nodeId('nodeGroup', g.nodeGroups[i].name) : null;
    case 'clusters': {
      const c = g.clusters[i];
      if (!c) return null;
      return m[3] !== undefined && c.endpoints[Number(m[3])] ? endpointId(c.name, Number(m[3])) : nodeId('cluster', c.name);
    }
  }
  return null;
}

// --------------------------------------------------------------------------------------- copy and paste

export interface GraphClipboard {
  listeners: Listener[];
  virtualHosts: VirtualHost[];
  routes: Route[];
  clusters: Cluster[];
  nodeGroups: NodeGroup[];
  /** Endpoints copied without their cluster: pasted into the selected cluster. */
  endpoints: Endpoint[];
}

export function copyNodes(g: RouteGraph, ids: string[]): GraphClipboard {
  const clip: GraphClipboard = { listeners: [], virtualHosts: [], routes: [], clusters: [], nodeGroups: [], endpoints: [] };
  const set = new Set(ids);
  for (const id of ids) {
    const o = findObject(g, id);
    if (!o) continue;
    if (o.kind === 'endpoint') {
      if (!set.has(nodeId('cluster', o.cluster))) clip.endpoints.push(o.value);
    } else if (o.kind === 'listener') clip.listeners.push(o.value);
    else if (o.kind === 'virtualHost') clip.virtualHosts.push(o.value);
    else if (o.kind === 'route') clip.routes.push(o.value);
    else if (o.kind === 'cluster') clip.clusters.push(o.value);
    else if (o.kind === 'nodeGroup') clip.nodeGroups.push(o.value);
  }
  return clip;
}

/**
 * Pastes copies with fresh names ("-copy"); references between pasted objects point at the copies,
 * references to other objects stay. Listener copies get a free port. Endpoints go into `intoCluster`.
 */
export function pasteNodes(g: RouteGraph, clip: GraphClipboard, intoCluster?: string): { graph: RouteGraph; ids: string[] } {
  const ids: string[] = [];
  const maps = { l: new Map<string, string>(), vh: new Map<string, string>(), r: new Map<string, string>(), c: new Map<string, string>(), ng: new Map<string, string>() };
  const take = (taken: Set<string>, map: Map<string, string>, name: string) => {
    const n = uniqueName(taken, `${name.slice(0, 50)}-copy`);
    taken.add(n);
    map.set(name, n);
    return n;
  };
  const tl = namesOf(g, 'listener');
  const tv = namesOf(g, 'virtualHost');
  const tr = namesOf(g, 'route');
  const tc = namesOf(g, 'cluster');
  const tn = namesOf(g, 'nodeGroup');
  for (const x of clip.listeners) take(tl, maps.l, x.name);
  for (const x of clip.virtualHosts) take(tv, maps.vh, x.name);
  for (const x of clip.routes) take(tr, maps.r, x.name);
  for (const x of clip.clusters) take(tc, maps.c, x.name);
  for (const x of clip.nodeGroups) take(tn, maps.ng, x.name);
  const m = (map: Map<string, string>) => (n: string) => map.get(n) ?? n;
  const ports = new Set(g.listeners.map((l) => l.port));
  const listeners = clip.listeners.map((x) => {
    let port = x.port;
    while (ports.has(port)) port = port >= 65535 ? 1024 : port + 1;
    ports.add(port);
    const name = maps.l.get(x.name)!;
    ids.push(nodeId('listener', name));
    return { ...x, name, port, virtualHosts: x.virtualHosts.map(m(maps.vh)) };
  });
  const virtualHosts = clip.virtualHosts.map((x) => {
    const name = maps.vh.get(x.name)!;
    ids.push(nodeId('virtualHost', name));
    return { ...x, name, routes: x.routes.map(m(maps.r)) };
  });
  const routes = clip.routes.map((x) => {
    const name = maps.r.get(x.name)!;
    ids.push(nodeId('route', name));
    const action = x.action.kind === 'forward' ? { kind: 'forward' as const, clusters: x.action.clusters.map((c) => ({ ...c, cluster: m(maps.c)(c.cluster) })) } : x.action;
    return { ...x, name, action };
  });
  const clusters = clip.clusters.map((x) => {
    const name = maps.c.get(x.name)!;
    ids.push(nodeId('cluster', name));
    return { ...x, name };
  });
  const nodeGroups = clip.nodeGroups.map((x) => {
    const name = maps.ng.get(x.name)!;
    ids.push(nodeId('nodeGroup', name));
    return { ...x, name, listeners: x.listeners.map(m(maps.l)) };
  });
  let existing = g.clusters;
  if (clip.endpoints.length > 0 && intoCluster) {
    existing = g.clusters.map((c) => {
      if (c.name !== intoCluster) return c;
      clip.endpoints.forEach((_, i) => ids.push(endpointId(c.name, c.endpoints.length + i)));
      return { ...c, endpoints: [...c.endpoints, ...clip.endpoints] };
    });
  }
  return {
    graph: {
      listeners: [...g.listeners, ...listeners],
      virtualHosts: [...g.virtualHosts, ...virtualHosts],
      routes: [...g.routes, ...routes],
      clusters: [...existing, ...clusters],
      nodeGroups: [...g.nodeGroups, ...nodeGroups],
    },
    ids,
  };
}
