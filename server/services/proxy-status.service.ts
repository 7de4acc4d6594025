/**
 * Proxy status like `istioctl proxy-status`, and a config dump of what was sent to one proxy. Per proxy and
 * xDS type (CDS, LDS, EDS, RDS), versions being per type (the latest snapshot's version of that type; a type
 * the latest publish did not change keeps its version, and its proxies stay SYNCED without a new response):
 *   SYNCED   the last response sent is the latest snapshot's version of the type and the proxy ACKed it;
 *   NACKED   the proxy rejected the last response sent (its nonce) — with the proxy's error text;
 *   STALE    sent but not ACKed yet, or ACKed a version that is no longer the latest;
 *   NOT SENT nothing of this type was ever sent.
 */
import { PUSH_ORDER, TYPE_URL, type ResourceKind, type TypeVersions } from '../../core/xds/snapshot';
import { findProxyByIdOrNodeId, listProxies, type ProxyResourceStatus, type ProxyStatus } from '../db/proxy.repo';
import { findSnapshotByTypeVersion, listLatestSnapshotVersions } from '../db/snapshot.repo';
import type { DbTx } from '../db/tx';
import { notFound } from '../errors';

export const SHORT_TYPE: Record<ResourceKind, 'CDS' | 'EDS' | 'LDS' | 'RDS' | 'SDS'> = {
  clusters: 'CDS',
  endpoints: 'EDS',
  listeners: 'LDS',
  routes: 'RDS',
  secrets: 'SDS',
};

/** The types a proxy's status lists: the four always, SDS once the proxy was sent secrets. */
function statusKinds(p: ProxyStatus): ResourceKind[] {
  return PUSH_ORDER.filter((kind) => kind !== 'secrets' || p.resources.some((r) => r.typeUrl === TYPE_URL.secrets));
}

export type SyncStatus = 'SYNCED' | 'NACKED' | 'STALE' | 'NOT SENT';

export interface TypeStatus {
  type: 'CDS' | 'EDS' | 'LDS' | 'RDS' | 'SDS';
  typeUrl: string;
  status: SyncStatus;
  sentVersion: string;
  ackedVersion: string;
  sentAt: string | null;
  ackedAt: string | null;
  /** The latest snapshot's version of this type (what SYNCED means), or null. */
  latestVersion: string | null;
  /** The proxy's error text when NACKED (and the last NACK otherwise, if any). */
  error: string | null;
  nackVersion: string | null;
}

export interface ProxyStatusView {
  id: string;
  nodeId: string;
  nodeGroup: string;
  connected: boolean;
  replica: string;
  userAgent: string;
  lastSeenAt: string;
  /** The node group's latest snapshot version, or null. */
  latestVersion: string | null;
  types: TypeStatus[];
}

/** The node group's latest snapshot: its version and, per type, the version proxies are synced at. */
interface Latest {
  version: string;
  typeVersions: TypeVersions | undefined;
}

export function typeStatus(row: ProxyResourceStatus | undefined, latest: string | null): SyncStatus {
  if (row === undefined || row.sentVersion === '') return 'NOT SENT';
  if (row.nackError !== null && row.nackNonce !== null && row.nackNonce === row.sentNonce) return 'NACKED';
  if (row.ackedVersion === row.sentVersion && row.ackedVersion === latest) return 'SYNCED';
  return 'STALE';
}

function view(p: ProxyStatus, latest: Latest | undefined): ProxyStatusView {
  const byType = new Map(p.resources.map((r) => [r.typeUrl, r]));
  return {
    id: p.id,
    nodeId: p.nodeId,
    nodeGroup: p.nodeGroup,
    connected: p.connected,
    replica: p.replica,
    userAgent: p.userAgent,
    lastSeenAt: p.lastSeenAt.toISOString(),
    latestVersion: latest?.version ?? null,
    types: statusKinds(p).map((kind) => {
      const row = byType.get(TYPE_URL[kind]);
      // A snapshot stored before type versions: proxies were sent (and ACKed) the snapshot version.
      const latestType = latest === undefined ? null : (latest.typeVersions?.[kind] ?? latest.version);
      return {
        type: SHORT_TYPE[kind],
        typeUrl: TYPE_URL[kind],
        status: typeStatus(row, latestType),
        latestVersion: latestType,
        sentVersion: row?.sentVersion ?? '',
        ackedVersion: row?.ackedVersion ?? '',
        sentAt: row?.sentAt?.toISOString() ?? null,
        ackedAt: row?.ackedAt?.toISOString() ?? null,
        error: row?.nackError ?? null,
        nackVersion: row?.nackVersion ?? null,
      };
    }),
  };
}

export async function listProxyStatus(db: DbTx, tenantId: string): Promise<ProxyStatusView[]> {
  const [proxies, latest] = await Promise.all([listProxies(db, tenantId), listLatestSnapshotVersions(db, tenantId)]);
  const latestOf = new Map(latest.map((l) => [l.nodeGroup, l]));
  return proxies.map((p) => view(p, latestOf.get(p.nodeGroup)));
}

export interface ConfigDump {
  proxy: ProxyStatusView;
  /** Per type: the version last sent and the resources that version holds (proto3 JSON, as compiled). */
  types: { type: TypeStatus['type']; typeUrl: string; version: string; resources: unknown[] }[];
}

/** What was last sent to the proxy `idOrNodeId`, per type, from the stored snapshots. */
export async function proxyConfigDump(db: DbTx, tenantId: string, idOrNodeId: string): Promise<ConfigDump> {
  const p = await findProxyByIdOrNodeId(db, tenantId, idOrNodeId);
  if (p === null) throw notFound('proxy');
  const latest = (await listLatestSnapshotVersions(db, tenantId)).find((l) => l.nodeGroup === p.nodeGroup);
  const proxy = view(p, latest);
  const types: ConfigDump['types'] = [];
  for (const kind of statusKinds(p)) {
    const t = proxy.types.find((x) => x.typeUrl === TYPE_URL[kind])!;
    if (t.sentVersion === '') {
      types.push({ type: t.type, typeUrl: t.typeUrl, version: '', resources: [] });
      continue;
    }
    // The sent version is the type's version: any snapshot holding that content of the type will do.
    const snapshot = await findSnapshotByTypeVersion(db, { tenantId, nodeGroup: p.nodeGroup, typeUrl: t.typeUrl, version: t.sentVersion });
    types.push({ type: t.type, typeUrl: t.typeUrl, version: t.sentVersion, resources: snapshot?.resources[kind] ?? [] });
  }
  return { proxy, types };
}
