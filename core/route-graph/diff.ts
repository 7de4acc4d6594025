/**
 * Graph-level diff between two route graphs: per object kind (listeners, virtual hosts, routes, clusters,
 * node groups), the objects added, removed and changed (matched by name), and for a changed object every
 * field that differs, with a path relative to the object (`action.clusters[1].weight`). Pure: no I/O.
 */
import type { RouteGraph } from '../../contracts/route-graph.schema';

export const GRAPH_OBJECT_KINDS = ['listeners', 'virtualHosts', 'routes', 'clusters', 'nodeGroups'] as const;
export type GraphObjectKind = (typeof GRAPH_OBJECT_KINDS)[number];

export interface FieldChange {
  /** Relative to the object: `action.clusters[1].weight`; '' would be the whole object. */
  path: string;
  /** undefined = the field was absent. */
  before?: unknown;
  after?: unknown;
}

export interface GraphObjectChange {
  kind: GraphObjectKind;
  name: string;
  change: 'added' | 'removed' | 'changed';
  /** For `changed`: every differing field. */
  fields: FieldChange[];
}

export interface GraphDiff {
  changes: GraphObjectChange[];
  summary: { added: number; removed: number; changed: number };
}

/** What changes when going from `before` to `after` (either may be empty: a graph with no objects). */
export function diffRouteGraphs(before: RouteGraph, after: RouteGraph): GraphDiff {
  const changes: GraphObjectChange[] = [];
  for (const kind of GRAPH_OBJECT_KINDS) {
    const a = new Map((before[kind] as { name: string }[]).map((o) => [o.name, o] as const));
    const b = new Map((after[kind] as { name: string }[]).map((o) => [o.name, o] as const));
    const names = [...new Set([...a.keys(), ...b.keys()])].sort();
    for (const name of names) {
      const x = a.get(name);
      const y = b.get(name);
      if (x === undefined) changes.push({ kind, name, change: 'added', fields: [] });
      else if (y === undefined) changes.push({ kind, name, change: 'removed', fields: [] });
      else {
        const fields = diffValues(x, y, '');
        if (fields.length > 0) changes.push({ kind, name, change: 'changed', fields });
      }
    }
  }
  const count = (c: GraphObjectChange['change']) => changes.filter((x) => x.change === c).length;
  return { changes, summary: { added: count('added'), removed: count('removed'), changed: count('changed') } };
}

/** Field-level differences of two JSON values (objects by key, arrays by index). */
export function diffValues(a: unknown, b: unknown, path: string): FieldChange[] {
  if (Object.is(a, b)) return [];
  if (Array.isArray(a) && Array.isArray(b)) {
    const out: FieldChange[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const p = `${path}[${i}]`;
      if (i >= a.length) out.push({ path: p, after: b[i] });
      else if (i >= b.length) out.push({ path: p, before: a[i] });
      else out.push(...diffValues(a[i], b[i], p));
    }
    return out;
  }
  if (isObject(a) && isObject(b)) {
    const out: FieldChange[] = [];
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const p = path === '' ? k : `${path}.${k}`;
      if (!(k in a) || a[k] === undefined) {
        if (b[k] !== undefined) out.push({ path: p, after: b[k] });
      } else if (!(k in b) || b[k] === undefined) out.push({ path: p, before: a[k] });
      else out.push(...diffValues(a[k], b[k], p));
    }
    return out;
  }
  return [{ path, before: a, after: b }];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
