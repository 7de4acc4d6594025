/**
 * The xds replica's in-memory view of published snapshots: per (tenant, node group) the latest snapshot,
 * with every resource already encoded as google.protobuf.Any (encoded once, sent to many proxies).
 * Streams subscribe to their (tenant, node group) and are told when its version changes.
 */
import { createHash } from 'node:crypto';
import { PUSH_ORDER, resourceName, type ResourceKind, type SnapshotResources, type TypeVersions } from '../../core/xds/snapshot';
import type { EncodedAny, XdsProtos } from './protos';

export interface CachedSnapshot {
  tenantId: string;
  nodeGroup: string;
  version: string;
  /** Per type: the version_info of its responses (a hash of that type's content, core/xds/snapshot.ts). */
  typeVersions: TypeVersions;
  /** Per type: resource name → encoded resource, in snapshot order. */
  resources: Record<ResourceKind, Map<string, EncodedAny>>;
  /** Per type: resource name → version of that one resource (hash of its encoding), for delta xDS. */
  resourceVersions: Record<ResourceKind, Map<string, string>>;
  /** Per type: resource name → the resource's JSON text, to reuse the encoding when the next snapshot has it unchanged. */
  sources: Record<ResourceKind, Map<string, string>>;
}

/** The delta-xDS version of one encoded resource: equal bytes, equal version, on every replica. */
export function resourceVersion(any: EncodedAny): string {
  return createHash('sha256').update(any.type_url).update('\u0000').update(any.value).digest('hex').slice(0, 32);
}

export type SnapshotListener = (snapshot: CachedSnapshot) => void;

/** Streams told about a new snapshot per turn of the event loop. */
const FANOUT_SLICE = 64;

const key = (tenantId: string, nodeGroup: string) => `${tenantId}\u0000${nodeGroup}`;

export class SnapshotCache {
  private readonly snapshots = new Map<string, CachedSnapshot>();
  private readonly listeners = new Map<string, Set<SnapshotListener>>();

  constructor(private readonly protos: XdsProtos) {}

  /**
   * Encodes and stores a snapshot; listeners hear about it when the version differs from the cached one.
   * A resource whose JSON equals the previous snapshot's resource of that name keeps its encoding (a
   * publish usually changes a few resources of many). Throws (and keeps the previous snapshot) when a
   * resource cannot be encoded.
   */
  set(input: { tenantId: string; nodeGroup: string; version: string; typeVersions: TypeVersions; resources: SnapshotResources }): boolean {
    const k = key(input.tenantId, input.nodeGroup);
    const previous = this.snapshots.get(k);
    if (previous?.version === input.version) return false;
    const resources = {} as CachedSnapshot['resources'];
    const resourceVersions = {} as CachedSnapshot['resourceVersions'];
    const sources = {} as CachedSnapshot['sources'];
    for (const kind of PUSH_ORDER) {
      const encoded = new Map<string, EncodedAny>();
      const versions = new Map<string, string>();
      const texts = new Map<string, string>();
      input.resources[kind].forEach((r, i) => {
        const name = resourceName(r);
        const text = JSON.stringify(r);
        texts.set(name, text);
        const same = previous?.sources[kind].get(name) === text ? previous.resources[kind].get(name) : undefined;
        if (same !== undefined) {
          encoded.set(name, same);
          versions.set(name, previous!.resourceVersions[kind].get(name)!);
          return;
        }
        try {
          const any = this.protos.encodeAny(r);
          encoded.set(name, any);
          versions.set(name, resourceVersion(any));
        } catch (err) {
          throw new Error(`snapshot ${input.version} of node group ${input.nodeGroup}: ${kind}[${i}]: ${(err as Error).message}`, {
            cause: err,
          });
        }
      });
      resources[kind] = encoded;
      resourceVersions[kind] = versions;
      sources[kind] = texts;
    }
    const snapshot: CachedSnapshot = {
      tenantId: input.tenantId,
      nodeGroup: input.nodeGroup,
      version: input.version,
      typeVersions: input.typeVersions,
      resources,
      resourceVersions,
      sources,
    };
    this.snapshots.set(k, snapshot);
    this.notify(k, snapshot, [...(this.listeners.get(k) ?? [])], 0);
    return true;
  }

  /**
   * Tells listeners[from…] about `snapshot`, FANOUT_SLICE at a time, yielding to the event loop in between:
   * a push to thousands of streams is not one long task, so the first proxies' responses go out (and their
   * ACKs are read) while the rest are still being written. Stops when a newer snapshot took over (its own
   * round reaches everyone).
   */
  private notify(k: string, snapshot: CachedSnapshot, listeners: SnapshotListener[], from: number): void {
    if (this.snapshots.get(k) !== snapshot) return;
    const end = Math.min(listeners.length, from + FANOUT_SLICE);
    for (let i = from; i < end; i++) listeners[i]!(snapshot);
    if (end < listeners.length) setImmediate(() => this.notify(k, snapshot, listeners, end));
  }

  get(tenantId: string, nodeGroup: string): CachedSnapshot | undefined {
    return this.snapshots.get(key(tenantId, nodeGroup));
  }

  get size(): number {
    return this.snapshots.size;
  }

  /** Calls `listener` on every new version of (tenant, node group); returns the unsubscribe function. */
  subscribe(tenantId: string, nodeGroup: string, listener: SnapshotListener): () => void {
    const k = key(tenantId, nodeGroup);
    let set = this.listeners.get(k);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(k, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(k);
    };
  }
}
