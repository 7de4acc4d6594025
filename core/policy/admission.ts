/**
 * Admission: the input a guardrail sees and how its answer is read. Pure.
 */
import type { RouteGraph } from '../../contracts/route-graph.schema';

export interface NamedDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface RouteGraphDiff {
  listeners: NamedDiff;
  virtualHosts: NamedDiff;
  routes: NamedDiff;
  clusters: NamedDiff;
  nodeGroups: NamedDiff;
}

const KINDS = ['listeners', 'virtualHosts', 'routes', 'clusters', 'nodeGroups'] as const;

/** What changes between the live graph (null: nothing live yet) and the proposed one, by object name. */
export function diffRouteGraphs(live: RouteGraph | null, proposed: RouteGraph): RouteGraphDiff {
  const out = {} as RouteGraphDiff;
  for (const kind of KINDS) {
    const before = new Map((live?.[kind] ?? []).map((o) => [o.name, JSON.stringify(o)]));
    const after = new Map(proposed[kind].map((o) => [o.name, JSON.stringify(o)]));
    const d: NamedDiff = { added: [], removed: [], changed: [] };
    for (const [name, json] of after) {
      const prev = before.get(name);
      if (prev === undefined) d.added.push(name);
      else if (prev !== json) d.changed.push(name);
    }
    for (const name of before.keys()) if (!after.has(name)) d.removed.push(name);
    for (const list of [d.added, d.removed, d.changed]) list.sort();
    out[kind] = d;
  }
  return out;
}

export interface AdmissionActor {
  type: 'user' | 'token' | 'system';
  id: string;
  name: string;
  /** The actor's role in the tenant, when known. */
  role?: string;
}

export interface AdmissionInput {
  revision: RouteGraph & { id?: string; number?: number; message?: string };
  diff: RouteGraphDiff;
  actor: AdmissionActor;
  tenant: { id: string; slug: string };
}

export interface PolicyReason {
  /** The policy that gave the reason. */
  policy: string;
  message: string;
}

export interface AdmissionDecision {
  allowed: boolean;
  /** Any reason refuses the revision. */
  denyReasons: PolicyReason[];
  /** Any reason means the revision needs an approval before it goes live. */
  approvalReasons: PolicyReason[];
  /** Policies that were evaluated (name and version id). */
  evaluated: { policy: string; versionId: string }[];
}

/**
 * A `deny` / `require_approval` value as reason messages: a set (array) of strings or of objects with
 * `msg` / `message`; a single string also works; undefined / false / empty = none.
 */
export function reasonMessages(value: unknown): string[] {
  if (value === undefined || value === null || value === false) return [];
  const items = Array.isArray(value) ? value : [value];
  const out: string[] = [];
  for (const item of items) {
    if (typeof item === 'string') out.push(item);
    else if (typeof item === 'object' && item !== null) {
      const o = item as Record<string, unknown>;
      const msg = o.msg ?? o.message;
      out.push(typeof msg === 'string' ? msg : JSON.stringify(item));
    } else if (item !== false) out.push(String(item));
  }
  return out.sort();
}
