/**
 * Client-side diff of two route graphs, for the visual diff: objects added, removed and changed (with the
 * changed fields as paths), and the edges (name references) added, removed and changed (weights).
 */
import type { RouteGraph } from '@/contracts/route-graph.schema';
import { graphToElements, type GraphEdgeInfo, type GraphKind, type GraphNodeInfo } from './route-graph-model';

export type ChangeKind = 'added' | 'removed' | 'changed';

export interface FieldChange {
  path: string;
  before: unknown;
  after: unknown;
}

export interface ObjectChange {
  id: string;
  kind: GraphKind;
  name: string;
  change: ChangeKind;
  fields: FieldChange[];
}

export interface EdgeChange {
  id: string;
  source: string;
  target: string;
  change: ChangeKind;
  before?: number;
  after?: number;
}

export interface GraphDiff {
  objects: ObjectChange[];
  edges: EdgeChange[];
  /** The union of both graphs' nodes and edges, each tagged with its change (or `same`). */
  nodes: (GraphNodeInfo & { change: ChangeKind | 'same' })[];
  links: (GraphEdgeInfo & { change: ChangeKind | 'same' })[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Leaf-level differences between two JSON values, as paths (`action.clusters[1].weight`). */
export function diffValues(before: unknown, after: unknown, path = '', out: FieldChange[] = []): FieldChange[] {
  if (Object.is(before, after)) return out;
  if (Array.isArray(before) && Array.isArray(after)) {
    const n = Math.max(before.length, after.length);
    for (let i = 0; i < n; i++) diffValues(before[i], after[i], `${path}[${i}]`, out);
    return out;
  }
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const k of keys) diffValues(before[k], after[k], path ? `${path}.${k}` : k, out);
    return out;
  }
  if (JSON.stringify(before) !== JSON.stringify(after)) out.push({ path: path || '(value)', before, after });
  return out;
}

function objectsById(g: RouteGraph): Map<string, { kind: GraphKind; name: string; value: unknown }> {
  const m = new Map<string, { kind: GraphKind; name: string; value: unknown }>();
  for (const x of g.nodeGroups) m.set(`ng:${x.name}`, { kind: 'nodeGroup', name: x.name, value: x });
  for (const x of g.listeners) m.set(`l:${x.name}`, { kind: 'listener', name: x.name, value: x });
  for (const x of g.virtualHosts) m.set(`vh:${x.name}`, { kind: 'virtualHost', name: x.name, value: x });
  for (const x of g.routes) m.set(`r:${x.name}`, { kind: 'route', name: x.name, value: x });
  for (const x of g.clusters) {
    const { endpoints, ...rest } = x;
    m.set(`c:${x.name}`, { kind: 'cluster', name: x.name, value: rest });
    endpoints.forEach((e, i) => m.set(`e:${x.name}#${i}`, { kind: 'endpoint', name: `${e.address}:${e.port}`, value: e }));
  }
  return m;
}

export function diffRouteGraphs(before: RouteGraph, after: RouteGraph): GraphDiff {
  const a = objectsById(before);
  const b = objectsById(after);
  const objects: ObjectChange[] = [];
  for (const [id, x] of b) {
    const old = a.get(id);
    if (!old) objects.push({ id, kind: x.kind, name: x.name, change: 'added', fields: [] });
    else {
      const fields = diffValues(old.value, x.value);
      if (fields.length) objects.push({ id, kind: x.kind, name: x.name, change: 'changed', fields });
    }
  }
  for (const [id, x] of a) if (!b.has(id)) objects.push({ id, kind: x.kind, name: x.name, change: 'removed', fields: [] });

  const ea = graphToElements(before);
  const eb = graphToElements(after);
  const edgesA = new Map(ea.edges.map((e) => [e.id, e]));
  const edgesB = new Map(eb.edges.map((e) => [e.id, e]));
  const edges: EdgeChange[] = [];
  const links: GraphDiff['links'] = [];
  for (const e of eb.edges) {
    const old = edgesA.get(e.id);
    if (!old) {
      edges.push({ id: e.id, source: e.source, target: e.target, change: 'added', ...(e.weight !== undefined ? { after: e.weight } : {}) });
      links.push({ ...e, change: 'added' });
    } else if (old.weight !== e.weight) {
      edges.push({ id: e.id, source: e.source, target: e.target, change: 'changed', ...(old.weight !== undefined ? { before: old.weight } : {}), ...(e.weight !== undefined ? { after: e.weight } : {}) });
      links.push({ ...e, change: 'changed' });
    } else links.push({ ...e, change: 'same' });
  }
  for (const e of ea.edges) {
    if (edgesB.has(e.id)) continue;
    edges.push({ id: e.id, source: e.source, target: e.target, change: 'removed', ...(e.weight !== undefined ? { before: e.weight } : {}) });
    links.push({ ...e, change: 'removed' });
  }

  const changeOf = new Map(objects.map((o) => [o.id, o.change]));
  const nodes: GraphDiff['nodes'] = eb.nodes.map((n) => ({ ...n, change: changeOf.get(n.id) ?? 'same' }));
  const inB = new Set(eb.nodes.map((n) => n.id));
  for (const n of ea.nodes) if (!inB.has(n.id)) nodes.push({ ...n, change: 'removed' });
  // Policy nodes are derived from bindings: a binding change shows as an edge change.
  return { objects, edges, nodes, links };
}
