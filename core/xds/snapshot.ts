/**
 * An xDS snapshot: the complete set of Envoy v3 resources one node group receives, as plain proto3-JSON
 * objects carrying `@type`, plus its content-hash version. Immutable once built: same content, same version.
 * Also the consistency check every snapshot passes before it is published.
 */
import { canonicalJson } from '../canonical-json';
import { sha256Hex } from '../hash/sha256';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Lowercase hex SHA-256 of the canonical JSON of `value`: equal content, equal hash. */
export function contentHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

export const TYPE_URL = {
  listeners: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routes: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  clusters: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoints: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  secrets: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

/**
 * How a snapshot row stores a Secret that holds a private key: a reference (`name`, `certificate` name,
 * `certificateId`, `serial`), never the key. The xds process resolves it into a real Secret (decrypting the
 * key) when it loads the snapshot; core/xds/secrets.ts builds and reads these.
 */
export const SECRET_REF_TYPE = 'proxyshard/CertificateSecretRef';

export type ResourceKind = keyof typeof TYPE_URL;

/**
 * The order in which updates go out on an ADS stream: secrets first (a rotated certificate reaches the
 * listeners and clusters already using it), a cluster before its endpoints, a listener before its routes.
 */
export const PUSH_ORDER: readonly ResourceKind[] = ['secrets', 'clusters', 'endpoints', 'listeners', 'routes'];

export const HCM_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const LOCAL_RATE_LIMIT_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';

export function resourceKindOfTypeUrl(typeUrl: string): ResourceKind | undefined {
  for (const kind of PUSH_ORDER) if (TYPE_URL[kind] === typeUrl) return kind;
  return undefined;
}

/** One Envoy resource in proto3-JSON form (snake_case field names, `@type` naming its message). */
export type XdsResource = { '@type': string } & { [field: string]: JsonValue };

export interface SnapshotResources {
  listeners: XdsResource[];
  routes: XdsResource[];
  clusters: XdsResource[];
  endpoints: XdsResource[];
  /** SDS: trust bundles inline (public material), certificates with keys as SECRET_REF_TYPE references. */
  secrets: XdsResource[];
}

export interface XdsSnapshot {
  nodeGroup: string;
  /** The content hash of the snapshot: of its type versions, which hash `resources` per type. */
  version: string;
  /** Per type, the version_info its xDS responses carry: see typeVersions. */
  typeVersions: TypeVersions;
  resources: SnapshotResources;
}

/**
 * Per resource type, the version of that type's content: sha256 of the canonical JSON of its resource list.
 * This, not the snapshot version, is the version_info a type's xDS responses carry and proxies ACK, so a
 * snapshot that changes only routes pushes only RDS (as go-control-plane's per-type snapshot versions do);
 * equal content, equal version, on every replica. The snapshot version still names the whole snapshot.
 */
export type TypeVersions = Record<ResourceKind, string>;

export function emptyResources(): SnapshotResources {
  return { listeners: [], routes: [], clusters: [], endpoints: [], secrets: [] };
}

/** The content version of a snapshot's resources (see snapshotVersions). */
export function snapshotVersion(resources: SnapshotResources): string {
  return snapshotVersions(resources).version;
}

/**
 * The version of every type (sha256 of the canonical JSON of that type's resources) and the snapshot version,
 * the content hash of those type versions: the content is serialized and hashed once, and equal content still
 * gives equal versions. (Before type versions existed the snapshot version hashed the resources directly; a
 * republish after the upgrade stores a new version for the same content, and pushes nothing, since the type
 * versions proxies hold are unchanged.)
 */
export function snapshotVersions(resources: SnapshotResources): { version: string; typeVersions: TypeVersions } {
  const typeVersions = {} as TypeVersions;
  for (const kind of PUSH_ORDER) typeVersions[kind] = contentHash(resources[kind]);
  return { version: contentHash(typeVersions), typeVersions };
}

/** The type URL → version map a Snapshot row stores (ProxyResourceState rows are keyed by type URL). */
export function typeVersionsByUrl(typeVersions: TypeVersions): Record<string, string> {
  return Object.fromEntries(PUSH_ORDER.map((kind) => [TYPE_URL[kind], typeVersions[kind]]));
}

/** The xDS resource name: `name`, or `cluster_name` for a ClusterLoadAssignment. */
export function resourceName(resource: XdsResource): string {
  const name = resource['@type'] === TYPE_URL.endpoints ? resource.cluster_name : resource.name;
  return typeof name === 'string' ? name : '';
}

/**
 * Problems that would leave proxies with a half-working config: every EDS name (ClusterLoadAssignment) is
 * used by an EDS cluster and every EDS cluster has one; every RDS name is used by a listener and every
 * listener's RDS name exists; every cluster a route sends to (or mirrors to) exists; names are unique per
 * type and each resource has the `@type` of its type. Empty list = consistent.
 */
export function checkSnapshotConsistency(snapshot: Pick<XdsSnapshot, 'resources'> & Partial<XdsSnapshot>): string[] {
  const problems: string[] = [];
  const r = snapshot.resources;
  const names = {} as Record<ResourceKind, Set<string>>;
  for (const kind of PUSH_ORDER) {
    const seen = new Set<string>();
    for (const res of r[kind]) {
      const name = resourceName(res);
      const refOk = kind === 'secrets' && res['@type'] === SECRET_REF_TYPE;
      if (res['@type'] !== TYPE_URL[kind] && !refOk) problems.push(`${kind}: "${name}" has @type ${String(res['@type'])}, expected ${TYPE_URL[kind]}`);
      if (name === '') problems.push(`${kind}: a resource has no name`);
      else if (seen.has(name)) problems.push(`${kind}: duplicate name "${name}"`);
      seen.add(name);
    }
    names[kind] = seen;
  }

  // CDS ↔ EDS
  const edsNames = new Set<string>();
  for (const cluster of r.clusters) {
    if (cluster.type !== 'EDS') continue;
    const eds = asObject(cluster.eds_cluster_config);
    const serviceName = typeof eds?.service_name === 'string' && eds.service_name !== '' ? eds.service_name : resourceName(cluster);
    edsNames.add(serviceName);
    if (!names.endpoints.has(serviceName)) {
      problems.push(`cluster "${resourceName(cluster)}" uses EDS name "${serviceName}", which has no ClusterLoadAssignment`);
    }
  }
  for (const name of names.endpoints) {
    if (!edsNames.has(name)) problems.push(`ClusterLoadAssignment "${name}" is not used by any EDS cluster`);
  }

  // LDS ↔ RDS
  const rdsNames = new Set<string>();
  for (const listener of r.listeners) {
    for (const hcm of httpConnectionManagers(listener)) {
      const rds = asObject(hcm.rds);
      if (rds === undefined) continue;
      const name = typeof rds.route_config_name === 'string' ? rds.route_config_name : '';
      rdsNames.add(name);
      if (!names.routes.has(name)) {
        problems.push(`listener "${resourceName(listener)}" uses RDS name "${name}", which has no RouteConfiguration`);
      }
    }
  }
  for (const name of names.routes) {
    if (!rdsNames.has(name)) problems.push(`RouteConfiguration "${name}" is not used by any listener`);
  }

  // LDS/CDS ↔ SDS
  const sdsNames = new Set<string>();
  for (const res of [...r.listeners, ...r.clusters]) {
    for (const name of sdsSecretNames(res)) {
      sdsNames.add(name);
      if (!names.secrets.has(name)) problems.push(`"${resourceName(res)}" uses SDS secret "${name}", which is not in the snapshot`);
    }
  }
  for (const name of names.secrets) {
    if (!sdsNames.has(name)) problems.push(`Secret "${name}" is not used by any listener or cluster`);
  }

  // Routes → clusters
  for (const rc of r.routes) {
    for (const cluster of clustersReferencedByRouteConfiguration(rc)) {
      if (!names.clusters.has(cluster)) {
        problems.push(`RouteConfiguration "${resourceName(rc)}" sends traffic to cluster "${cluster}", which is not in CDS`);
      }
    }
  }
  return problems;
}

function asObject(v: JsonValue | undefined): { [k: string]: JsonValue } | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
}

function asArray(v: JsonValue | undefined): JsonValue[] {
  return Array.isArray(v) ? v : [];
}

function httpConnectionManagers(listener: XdsResource): { [k: string]: JsonValue }[] {
  const out: { [k: string]: JsonValue }[] = [];
  const api = asObject(asObject(listener.api_listener)?.api_listener);
  if (api?.['@type'] === HCM_TYPE_URL) out.push(api);
  for (const chain of asArray(listener.filter_chains)) {
    for (const filter of asArray(asObject(chain)?.filters)) {
      const typed = asObject(asObject(filter)?.typed_config);
      if (typed?.['@type'] === HCM_TYPE_URL) out.push(typed);
    }
  }
  return out;
}

/** Every SDS secret name a listener's or cluster's transport sockets reference (sds_secret_config(s) at any depth). */
function sdsSecretNames(resource: JsonValue): string[] {
  const out: string[] = [];
  const walk = (v: JsonValue | undefined): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
      return;
    }
    const o = asObject(v);
    if (o === undefined) return;
    for (const [k, x] of Object.entries(o)) {
      if (k === 'tls_certificate_sds_secret_configs') for (const c of asArray(x)) pushName(c);
      else if (k === 'validation_context_sds_secret_config') pushName(x);
      else walk(x);
    }
  };
  const pushName = (c: JsonValue | undefined) => {
    const name = asObject(c)?.name;
    if (typeof name === 'string') out.push(name);
  };
  walk(resource);
  return out;
}

function clustersReferencedByRouteConfiguration(rc: XdsResource): Set<string> {
  const out = new Set<string>();
  for (const vh of asArray(rc.virtual_hosts)) {
    for (const route of asArray(asObject(vh)?.routes)) {
      const action = asObject(asObject(route)?.route);
      if (action === undefined) continue;
      if (typeof action.cluster === 'string') out.add(action.cluster);
      for (const wc of asArray(asObject(action.weighted_clusters)?.clusters)) {
        const name = asObject(wc)?.name;
        if (typeof name === 'string') out.add(name);
      }
      for (const mirror of asArray(action.request_mirror_policies)) {
        const name = asObject(mirror)?.cluster;
        if (typeof name === 'string') out.add(name);
      }
    }
  }
  return out;
}
