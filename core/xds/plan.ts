/**
 * The xDS-level plan between two compilations of a route graph: per node group, the snapshot version before
 * and after, and per resource type the resources added, removed and changed (matched by resource name,
 * compared by content hash). Node groups that appear or disappear are listed too (a disappearing group is
 * published as an empty snapshot, so all its resources are removed). Pure: no I/O.
 */
import { contentHash, PUSH_ORDER, resourceName, type ResourceKind, type SnapshotResources, type XdsSnapshot } from './snapshot';

export interface ResourceChange {
  type: ResourceKind;
  name: string;
  change: 'added' | 'removed' | 'changed';
}

export interface NodeGroupPlan {
  nodeGroup: string;
  /** null: the group has no snapshot on that side. */
  versionBefore: string | null;
  versionAfter: string | null;
  changes: ResourceChange[];
  /** Per type: how many resources are added, removed, changed. */
  counts: Record<ResourceKind, { added: number; removed: number; changed: number }>;
}

export interface XdsPlan {
  nodeGroups: NodeGroupPlan[];
  /** True when at least one node group's version changes. */
  changed: boolean;
}

export function planSnapshots(before: readonly XdsSnapshot[], after: readonly XdsSnapshot[]): XdsPlan {
  const a = new Map(before.map((s) => [s.nodeGroup, s] as const));
  const b = new Map(after.map((s) => [s.nodeGroup, s] as const));
  const groups = [...new Set([...a.keys(), ...b.keys()])].sort();
  const nodeGroups = groups.map((nodeGroup): NodeGroupPlan => {
    const x = a.get(nodeGroup);
    const y = b.get(nodeGroup);
    const changes = diffResources(x?.resources, y?.resources);
    const counts = {} as NodeGroupPlan['counts'];
    for (const type of PUSH_ORDER) {
      const of = changes.filter((c) => c.type === type);
      counts[type] = {
        added: of.filter((c) => c.change === 'added').length,
        removed: of.filter((c) => c.change === 'removed').length,
        changed: of.filter((c) => c.change === 'changed').length,
      };
    }
    return { nodeGroup, versionBefore: x?.version ?? null, versionAfter: y?.version ?? null, changes, counts };
  });
  return { nodeGroups, changed: nodeGroups.some((g) => g.versionBefore !== g.versionAfter) };
}

function diffResources(a: SnapshotResources | undefined, b: SnapshotResources | undefined): ResourceChange[] {
  const out: ResourceChange[] = [];
  for (const type of PUSH_ORDER) {
    const x = new Map((a?.[type] ?? []).map((r) => [resourceName(r), contentHash(r)] as const));
    const y = new Map((b?.[type] ?? []).map((r) => [resourceName(r), contentHash(r)] as const));
    for (const name of [...new Set([...x.keys(), ...y.keys()])].sort()) {
      const hx = x.get(name);
      const hy = y.get(name);
      if (hx === undefined) out.push({ type, name, change: 'added' });
      else if (hy === undefined) out.push({ type, name, change: 'removed' });
      else if (hx !== hy) out.push({ type, name, change: 'changed' });
    }
  }
  return out;
}
