/**
 * ACK/NACK state of a node group's connected proxies for one snapshot version, read from ProxyResourceState
 * (written by the xds replicas). Used by the awaitProxyAck activity.
 *
 * Versions are per type: the snapshot's version of a type (its type version, core/xds/snapshot.ts) is what
 * proxies are sent and ACK; a type the snapshot did not change keeps the version the proxy already ACKed.
 * Per proxy and xDS type, with V = the snapshot's version of that type:
 *   - ACKed when ackedVersion == V;
 *   - NACKed for this version when the NACK names V (nackVersion == V), or when the last response sent was
 *     V and the NACK answers its nonce (nackNonce == sentNonce): gRPC xDS clients report their previous
 *     version_info on a NACK, so the nonce is what identifies the rejection;
 *   - pending otherwise (no row yet, older version, or a NACK of another version).
 * A proxy is ACKed when every required type is ACKed, NACKed when any required type is NACKed.
 */
import {
  ALL_XDS_TYPE_URLS,
  XDS_TYPE_URLS,
  type AckSummary,
  type NackedProxy,
  type PendingProxy,
  type ProxyRef,
  type XdsTypeUrl,
} from '../../contracts/workflows.schema';
import { typeVersionsByUrl } from '../../core/xds/snapshot';
import type { Db } from './client';
import { parseTypeVersions } from './snapshot.repo';

export interface ProxyAckQuery {
  tenantId: string;
  nodeGroup: string;
  version: string;
  /** Types every proxy must ACK at `version`. */
  typeUrls: readonly string[];
  /** Per type URL, the version of that type in snapshot `version` (getSnapshotAckTarget); a type not listed must be ACKed at `version` itself. */
  typeVersions?: Readonly<Record<string, string>>;
}

export async function getProxyAckStatus(db: Db, q: ProxyAckQuery): Promise<AckSummary> {
  const proxies = await db.proxy.findMany({
    where: { tenantId: q.tenantId, nodeGroup: q.nodeGroup, connected: true },
    orderBy: { nodeId: 'asc' },
    select: {
      id: true,
      nodeId: true,
      resources: {
        where: { typeUrl: { in: [...q.typeUrls] } },
        select: {
          typeUrl: true,
          sentVersion: true,
          sentNonce: true,
          ackedVersion: true,
          nackVersion: true,
          nackNonce: true,
          nackError: true,
        },
      },
    },
  });

  const summary: AckSummary = { nodeGroup: q.nodeGroup, version: q.version, acked: [], pending: [], nacked: [] };
  for (const proxy of proxies) {
    const ref: ProxyRef = { proxyId: proxy.id, nodeId: proxy.nodeId };
    const byType = new Map(proxy.resources.map((r) => [r.typeUrl, r]));
    const pendingTypeUrls: string[] = [];
    let nack: NackedProxy | undefined;
    for (const typeUrl of q.typeUrls) {
      const row = byType.get(typeUrl);
      const version = q.typeVersions?.[typeUrl] ?? q.version;
      if (row?.ackedVersion === version) continue;
      const nackedThisVersion =
        row !== undefined &&
        row.nackError !== null &&
        (row.nackVersion === version || (row.nackNonce !== null && row.nackNonce === row.sentNonce && row.sentVersion === version));
      if (nackedThisVersion) {
        nack ??= { ...ref, typeUrl, error: row.nackError ?? '', nonce: row.nackNonce };
        continue;
      }
      pendingTypeUrls.push(typeUrl);
    }
    if (nack) summary.nacked.push(nack);
    else if (pendingTypeUrls.length > 0) summary.pending.push({ ...ref, pendingTypeUrls } satisfies PendingProxy);
    else summary.acked.push(ref);
  }
  return summary;
}

/**
 * The xDS types a stored snapshot holds resources of (those its proxies will ACK), or null when no snapshot
 * with this version exists for the node group.
 */
export async function getSnapshotTypeUrls(
  db: Db,
  q: { tenantId: string; nodeGroup: string; version: string },
): Promise<XdsTypeUrl[] | null> {
  return (await getSnapshotAckTarget(db, q))?.typeUrls ?? null;
}

/**
 * What proxies must ACK for a stored snapshot: its types (getSnapshotTypeUrls) and, per type URL, the type
 * version they carry; null when no snapshot with this version exists for the node group.
 */
export async function getSnapshotAckTarget(
  db: Db,
  q: { tenantId: string; nodeGroup: string; version: string },
): Promise<{ typeUrls: XdsTypeUrl[]; typeVersions: Record<string, string> | undefined } | null> {
  const snapshot = await db.snapshot.findUnique({
    where: { tenantId_nodeGroup_version: { tenantId: q.tenantId, nodeGroup: q.nodeGroup, version: q.version } },
    select: { resources: true, typeVersions: true },
  });
  if (!snapshot) return null;
  // A row without type versions was never served per type (xds stores them when it loads such a row):
  // its proxies ACKed the snapshot version.
  const typeVersions = parseTypeVersions(snapshot.typeVersions);
  return { typeUrls: typeUrlsInResources(snapshot.resources), typeVersions: typeVersions && typeVersionsByUrl(typeVersions) };
}

const SHORT_NAMES: Record<string, XdsTypeUrl> = {
  listener: XDS_TYPE_URLS.listener,
  listeners: XDS_TYPE_URLS.listener,
  lds: XDS_TYPE_URLS.listener,
  route: XDS_TYPE_URLS.route,
  routes: XDS_TYPE_URLS.route,
  routeconfigurations: XDS_TYPE_URLS.route,
  routeconfigs: XDS_TYPE_URLS.route,
  rds: XDS_TYPE_URLS.route,
  cluster: XDS_TYPE_URLS.cluster,
  clusters: XDS_TYPE_URLS.cluster,
  cds: XDS_TYPE_URLS.cluster,
  endpoint: XDS_TYPE_URLS.endpoint,
  endpoints: XDS_TYPE_URLS.endpoint,
  clusterloadassignments: XDS_TYPE_URLS.endpoint,
  loadassignments: XDS_TYPE_URLS.endpoint,
  eds: XDS_TYPE_URLS.endpoint,
  secret: XDS_TYPE_URLS.secret,
  secrets: XDS_TYPE_URLS.secret,
  sds: XDS_TYPE_URLS.secret,
};

function typeUrlOf(name: string): XdsTypeUrl | undefined {
  if ((ALL_XDS_TYPE_URLS as readonly string[]).includes(name)) return name as XdsTypeUrl;
  return SHORT_NAMES[name.toLowerCase()];
}

function nonEmpty(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v !== null && typeof v === 'object') return Object.keys(v).length > 0;
  return false;
}

/** Envoy subscribes to listeners and clusters as wildcards and the server always answers them (even empty). */
const ALWAYS_ACKED: readonly XdsTypeUrl[] = [XDS_TYPE_URLS.listener, XDS_TYPE_URLS.cluster];

/**
 * Which xDS types a proxy ACKs for a snapshot's `resources` JSON: listeners and clusters always (wildcard
 * subscriptions), routes and endpoints only when the snapshot has some (Envoy requests RDS/EDS only for names
 * it was given). Understands a map keyed by type URL or by a short name (`listeners`, `routes`, `clusters`,
 * `endpoints`, … as in core/xds/snapshot.ts), optionally under `resources`, or a flat array of resources
 * carrying `@type` / `typeUrl`. Unknown layouts fall back to all four types.
 */
export function typeUrlsInResources(resources: unknown): XdsTypeUrl[] {
  const found = new Set<XdsTypeUrl>(ALWAYS_ACKED);
  let recognized = false;
  const visit = (node: unknown, depth: number): void => {
    if (Array.isArray(node)) {
      for (const item of node) {
        if (item === null || typeof item !== 'object') continue;
        const tag = (item as Record<string, unknown>)['@type'] ?? (item as Record<string, unknown>).typeUrl;
        const t = typeof tag === 'string' ? typeUrlOf(tag) : undefined;
        if (t) {
          recognized = true;
          found.add(t);
        }
      }
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      const t = typeUrlOf(key);
      if (t) {
        recognized = true;
        if (nonEmpty(value)) found.add(t);
      } else if (depth === 0 && (key === 'resources' || key === 'byType' || key === 'types')) {
        visit(value, depth + 1);
      }
    }
  };
  visit(resources, 0);
  if (!recognized) return [...ALL_XDS_TYPE_URLS];
  return ALL_XDS_TYPE_URLS.filter((t) => found.has(t));
}
