/**
 * Route graph → one xDS snapshot per node group (Envoy v3, proto3-JSON with `@type`):
 *   listener  → Listener (HttpConnectionManager, routes over RDS/ADS) + RouteConfiguration of the same name
 *   cluster   → Cluster (type EDS over ADS) + ClusterLoadAssignment of the same name
 * A node group receives its listeners, their route configurations, and exactly the clusters (and
 * endpoints) those routes forward or mirror to. Resource lists are sorted by name, so equal graphs give
 * equal snapshots and equal versions. Pure: no I/O.
 *
 * TLS (issue 8): a listener with `tls` gets a DownstreamTlsContext and a cluster with `upstreamTls` an
 * UpstreamTlsContext; both name their certificate and the tenant's trust as SDS Secrets over ADS, which go
 * into the same snapshot (certificates as references to the version to serve, see ./secrets.ts), so a
 * rotation is a new snapshot version and never a listener drain.
 *
 * Expects a graph that passed `validateRouteGraph` (contracts/route-graph.validate.ts); what cannot be compiled (a
 * certificate the tenant does not have, dangling names) throws a CompileError with field paths rather than
 * producing a snapshot Envoy would reject.
 */
import type {
  Cluster,
  Listener,
  Route,
  RouteGraph,
  VirtualHost,
} from '../../contracts/route-graph.schema';
import type { ValidationIssue } from '../route-graph/validate';
import { certificateSecretName, certificateSecretRef, sdsSecretConfig, TENANT_TRUST_SECRET, trustSecret, type TlsInventory } from './secrets';
import {
  HCM_TYPE_URL,
  LOCAL_RATE_LIMIT_TYPE_URL,
  ROUTER_TYPE_URL,
  TYPE_URL,
  snapshotVersions,
  type JsonValue,
  type SnapshotResources,
  type XdsResource,
  type XdsSnapshot,
} from './snapshot';

export class CompileError extends Error {
  readonly code = 'COMPILE_FAILED';
  constructor(readonly issues: ValidationIssue[]) {
    super(`cannot compile route graph: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'CompileError';
  }
}

export interface CompileOptions {
  /** Compile only these node groups (default: all in the graph). */
  nodeGroups?: readonly string[];
  /**
   * Tenant slug passed to the ext_authz server in each bound route's context extensions (`tenant`), so it
   * picks that tenant's request policy; without it the server looks the policy up by name alone.
   */
  tenant?: string;
  /**
   * The tenant's certificates and trust (issue 8). A listener or cluster naming a certificate that is not
   * here fails to compile with the field's path; without it, any TLS reference fails.
   */
  tls?: TlsInventory;
}

/** Envoy's default cap on direct-response bodies; larger bodies raise the cap on their RouteConfiguration. */
const ENVOY_DEFAULT_MAX_DIRECT_RESPONSE_BODY = 4096;
const LOCAL_RATE_LIMIT_FILTER = 'envoy.filters.http.local_ratelimit';
const ADS_CONFIG_SOURCE = { ads: {}, resource_api_version: 'V3' } as const;
const EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';
const EXT_AUTHZ_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const EXT_AUTHZ_PER_ROUTE_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
/** The cluster Envoy reaches the ext_authz server through (static, in the bootstrap). */
export const EXT_AUTHZ_CLUSTER = 'proxyshard-extauthz';
const DEFAULT_EXT_AUTHZ_TIMEOUT_MS = 250;
const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';
const DOWNSTREAM_TLS_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TLS_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
/**
 * The tenant CA issues ECDSA P-384 keys; Envoy's default groups are X25519 and P-256 only, which leaves a
 * TLS 1.2 peer with a P-384 certificate without a shared cipher. TLS 1.3 upstream (Envoy defaults to 1.2).
 */
const TLS_PARAMS = { ecdh_curves: ['X25519', 'P-256', 'P-384'], tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' };

export function compileSnapshots(graph: RouteGraph, opts: CompileOptions = {}): XdsSnapshot[] {
  const listeners = byName(graph.listeners);
  const virtualHosts = byName(graph.virtualHosts);
  const routes = byName(graph.routes);
  const clusters = byName(graph.clusters);
  const issues: ValidationIssue[] = [];
  const fail = (path: string, message: string) => issues.push({ path, message });

  const wanted = opts.nodeGroups === undefined ? undefined : new Set(opts.nodeGroups);
  const groups = graph.nodeGroups.filter((g) => wanted === undefined || wanted.has(g.name));

  const snapshots: XdsSnapshot[] = [];
  for (const group of groups) {
    const resources: SnapshotResources = { listeners: [], routes: [], clusters: [], endpoints: [], secrets: [] };
    const clusterNames = new Set<string>();
    const secrets = new Map<string, XdsResource>();
    /** The SDS name of `certificate` (adding its Secret to the snapshot), or undefined (an issue at `path`). */
    const certificateSecret = (certificate: string, path: string): string | undefined => {
      const version = opts.tls?.certificates.get(certificate);
      if (version === undefined) {
        fail(path, `unknown certificate "${certificate}" (the tenant has no certificate of that name)`);
        return undefined;
      }
      const name = certificateSecretName(certificate);
      secrets.set(name, certificateSecretRef(certificate, version));
      return name;
    };
    /** The SDS name of the tenant's trust (CA bundle + CRL), or undefined (an issue at `path`). */
    const trust = (path: string): string | undefined => {
      if (opts.tls?.trust === undefined) {
        fail(path, 'the tenant has no certificate authority to verify peers with');
        return undefined;
      }
      secrets.set(TENANT_TRUST_SECRET, trustSecret(opts.tls.trust));
      return TENANT_TRUST_SECRET;
    };
    for (const listenerName of new Set(group.listeners)) {
      const listener = listeners.get(listenerName);
      if (listener === undefined) {
        fail(`nodeGroups[${graph.nodeGroups.indexOf(group)}].listeners`, `unknown listener "${listenerName}"`);
        continue;
      }
      let tlsContext: { [k: string]: JsonValue } | undefined;
      const tls = listener.item.tls;
      if (tls !== undefined) {
        const path = `listeners[${listener.index}].tls`;
        if (group.kind === 'grpc') {
          fail(path, `TLS is not supported on listeners of node group "${group.name}" (proxyless gRPC clients take no SDS certificates)`);
          continue;
        }
        const cert = certificateSecret(tls.certificate, `${path}.certificate`);
        const validation = tls.requireClientCertificate ? trust(`${path}.requireClientCertificate`) : undefined;
        if (cert === undefined || (tls.requireClientCertificate && validation === undefined)) continue;
        tlsContext = downstreamTlsContext(listener.item, cert, validation);
      }
      const hosts: VirtualHost[] = [];
      for (const vhName of listener.item.virtualHosts) {
        const vh = virtualHosts.get(vhName);
        if (vh === undefined) fail(`listeners[${listener.index}].virtualHosts`, `unknown virtual host "${vhName}"`);
        else hosts.push(vh.item);
      }
      // Request policies (issue 4): Envoy listeners with a bound virtual host or route get ext_authz.
      const extAuthz = group.kind !== 'grpc' && usesExtAuthz(hosts, (name) => routes.get(name)?.item);
      const routeConfig = compileRouteConfiguration(
        listener.item,
        hosts,
        (name) => {
          const route = routes.get(name);
          if (route === undefined) fail('virtualHosts', `unknown route "${name}"`);
          return route?.item;
        },
        extAuthz ? { tenant: opts.tenant } : undefined,
      );
      for (const name of routeConfig.clusters) clusterNames.add(name);
      resources.listeners.push(group.kind === 'grpc' ? compileApiListener(listener.item) : compileListener(listener.item, extAuthz, tlsContext));
      resources.routes.push(routeConfig.resource);
    }
    for (const name of clusterNames) {
      const cluster = clusters.get(name);
      if (cluster === undefined) {
        fail('routes', `unknown cluster "${name}"`);
        continue;
      }
      let tlsContext: { [k: string]: JsonValue } | undefined;
      const upstreamTls = cluster.item.upstreamTls;
      if (upstreamTls !== undefined) {
        const path = `clusters[${cluster.index}].upstreamTls`;
        const cert = upstreamTls.certificate === undefined ? undefined : certificateSecret(upstreamTls.certificate, `${path}.certificate`);
        const validation = upstreamTls.trust === 'tenant' ? trust(`${path}.trust`) : undefined;
        if ((upstreamTls.certificate !== undefined && cert === undefined) || (upstreamTls.trust === 'tenant' && validation === undefined)) continue;
        tlsContext = upstreamTlsContext(upstreamTls.sni, cert, validation);
      }
      resources.clusters.push(compileCluster(cluster.item, tlsContext));
      resources.endpoints.push(compileClusterLoadAssignment(cluster.item));
    }
    resources.secrets = [...secrets.values()];
    sortResources(resources);
    snapshots.push({ nodeGroup: group.name, ...snapshotVersions(resources), resources });
  }
  if (issues.length > 0) throw new CompileError(dedupe(issues));
  return snapshots.sort((a, b) => compare(a.nodeGroup, b.nodeGroup));
}

// ---------------------------------------------------------------------------------------------- listeners

/** Whether any virtual host or route served by the listener is bound to a request policy. */
function usesExtAuthz(hosts: readonly VirtualHost[], lookupRoute: (name: string) => Route | undefined): boolean {
  const bound = (b: { policy: string } | { disabled: true } | undefined) => b !== undefined && 'policy' in b;
  return hosts.some((vh) => bound(vh.extAuthz) || vh.routes.some((r) => bound(lookupRoute(r)?.extAuthz)));
}

function compileListener(listener: Listener, extAuthz = false, tlsContext?: { [k: string]: JsonValue }): XdsResource {
  const hcm: { [k: string]: JsonValue } = {
    '@type': HCM_TYPE_URL,
    stat_prefix: listener.name,
    codec_type: { http1: 'HTTP1', http2: 'HTTP2', auto: 'AUTO' }[listener.protocol],
    rds: { route_config_name: listener.name, config_source: ADS_CONFIG_SOURCE },
    http_filters: [
      // Always present (inactive without a per-route token bucket), so adding a rate limit to a route only
      // changes RDS and never drains the listener.
      { name: LOCAL_RATE_LIMIT_FILTER, typed_config: { '@type': LOCAL_RATE_LIMIT_TYPE_URL, stat_prefix: 'local_rate_limit' } },
      // ext_authz only where a request policy is bound; routes that are not bound disable it per route.
      ...(extAuthz ? [extAuthzFilter(listener)] : []),
      { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE_URL } },
    ],
  };
  return {
    '@type': TYPE_URL.listeners,
    name: listener.name,
    address: { socket_address: { address: listener.address, port_value: listener.port } },
    filter_chains: [
      {
        filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }],
        ...(tlsContext !== undefined ? { transport_socket: { name: TLS_TRANSPORT_SOCKET, typed_config: tlsContext } } : {}),
      },
    ],
  };
}

/** DownstreamTlsContext: the certificate over SDS; with `validation`, client certificates are required and verified. */
function downstreamTlsContext(listener: Listener, certificateSecret: string, validationSecret: string | undefined): { [k: string]: JsonValue } {
  const common: { [k: string]: JsonValue } = {
    tls_certificate_sds_secret_configs: [sdsSecretConfig(certificateSecret)],
    alpn_protocols: listener.protocol === 'http1' ? ['http/1.1'] : ['h2', 'http/1.1'],
    tls_params: TLS_PARAMS,
  };
  if (validationSecret !== undefined) common.validation_context_sds_secret_config = sdsSecretConfig(validationSecret);
  const out: { [k: string]: JsonValue } = { '@type': DOWNSTREAM_TLS_TYPE_URL, common_tls_context: common };
  if (validationSecret !== undefined) out.require_client_certificate = true;
  return out;
}

/**
 * UpstreamTlsContext: SNI; the client certificate over SDS (mTLS); with `validation`, the upstream's chain is
 * verified against the tenant's trust and, when an SNI is given, its DNS SAN must match it.
 */
function upstreamTlsContext(sni: string | undefined, certificateSecret: string | undefined, validationSecret: string | undefined): { [k: string]: JsonValue } {
  const common: { [k: string]: JsonValue } = { tls_params: TLS_PARAMS };
  if (certificateSecret !== undefined) common.tls_certificate_sds_secret_configs = [sdsSecretConfig(certificateSecret)];
  if (validationSecret !== undefined) {
    if (sni !== undefined) {
      common.combined_validation_context = {
        default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: sni } }] },
        validation_context_sds_secret_config: sdsSecretConfig(validationSecret),
      };
    } else {
      common.validation_context_sds_secret_config = sdsSecretConfig(validationSecret);
    }
  }
  const out: { [k: string]: JsonValue } = { '@type': UPSTREAM_TLS_TYPE_URL, common_tls_context: common };
  if (sni !== undefined) out.sni = sni;
  return out;
}

/**
 * For proxyless gRPC clients: a Listener with only `api_listener` (no address), the HttpConnectionManager
 * taking its routes from RDS, with the router as its only filter (gRPC clients refuse filters they do not
 * implement unless optional).
 */
function compileApiListener(listener: Listener): XdsResource {
  const hcm: { [k: string]: JsonValue } = {
    '@type': HCM_TYPE_URL,
    stat_prefix: listener.name,
    rds: { route_config_name: listener.name, config_source: ADS_CONFIG_SOURCE },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE_URL } }],
  };
  return { '@type': TYPE_URL.listeners, name: listener.name, api_listener: { api_listener: hcm } };
}

// ------------------------------------------------------------------------------------------------- routes

function extAuthzFilter(listener: Listener): { [k: string]: JsonValue } {
  return {
    name: EXT_AUTHZ_FILTER,
    typed_config: {
      '@type': EXT_AUTHZ_TYPE_URL,
      grpc_service: {
        envoy_grpc: { cluster_name: EXT_AUTHZ_CLUSTER },
        timeout: duration(listener.extAuthz?.timeoutMs ?? DEFAULT_EXT_AUTHZ_TIMEOUT_MS),
      },
      transport_api_version: 'V3',
      failure_mode_allow: listener.extAuthz?.failureModeAllow ?? false,
    },
  };
}

function compileRouteConfiguration(
  listener: Listener,
  hosts: readonly VirtualHost[],
  lookupRoute: (name: string) => Route | undefined,
  extAuthz?: { tenant: string | undefined },
): { resource: XdsResource; clusters: Set<string> } {
  const clusters = new Set<string>();
  let maxBody = 0;
  const virtualHosts = hosts.map((vh) => ({
    name: vh.name,
    domains: [...vh.domains],
    routes: vh.routes.flatMap((routeName) => {
      const route = lookupRoute(routeName);
      if (route === undefined) return [];
      if (route.action.kind === 'forward') for (const wc of route.action.clusters) clusters.add(wc.cluster);
      if (route.mirror !== undefined) clusters.add(route.mirror.cluster);
      if (route.action.kind === 'directResponse') maxBody = Math.max(maxBody, utf8Length(route.action.body));
      const compiled = compileRoute(route);
      if (extAuthz !== undefined) addExtAuthzPerRoute(compiled, listener, vh, route, extAuthz.tenant);
      return [compiled];
    }),
  }));
  const resource: XdsResource = { '@type': TYPE_URL.routes, name: listener.name, virtual_hosts: virtualHosts };
  if (maxBody > ENVOY_DEFAULT_MAX_DIRECT_RESPONSE_BODY) resource.max_direct_response_body_size_bytes = maxBody;
  return { resource, clusters };
}

function compileRoute(route: Route): { [k: string]: JsonValue } {
  const out: { [k: string]: JsonValue } = { name: route.name, match: compileMatch(route) };
  const action = route.action;
  switch (action.kind) {
    case 'forward': {
      const ra: { [k: string]: JsonValue } = {};
      if (action.clusters.length === 1) {
        ra.cluster = action.clusters[0]!.cluster;
      } else {
        ra.weighted_clusters = { clusters: action.clusters.map((c) => ({ name: c.cluster, weight: c.weight })) };
      }
      if (route.timeoutMs !== undefined) ra.timeout = duration(route.timeoutMs);
      if (route.retry !== undefined) {
        const r = route.retry;
        const policy: { [k: string]: JsonValue } = { retry_on: r.retryOn.join(','), num_retries: r.numRetries };
        if (r.perTryTimeoutMs !== undefined) policy.per_try_timeout = duration(r.perTryTimeoutMs);
        if (r.retriableStatusCodes.length > 0) policy.retriable_status_codes = [...r.retriableStatusCodes];
        if (r.backoffBaseMs !== undefined) {
          policy.retry_back_off = {
            base_interval: duration(r.backoffBaseMs),
            ...(r.backoffMaxMs !== undefined ? { max_interval: duration(r.backoffMaxMs) } : {}),
          };
        }
        ra.retry_policy = policy;
      }
      if (route.mirror !== undefined) {
        ra.request_mirror_policies = [
          {
            cluster: route.mirror.cluster,
            runtime_fraction: {
              default_value: { numerator: Math.round(route.mirror.percent * 10_000), denominator: 'MILLION' },
            },
          },
        ];
      }
      out.route = ra;
      break;
    }
    case 'redirect': {
      const redirect: { [k: string]: JsonValue } = {
        response_code: { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' }[
          action.status
        ],
      };
      if (action.host !== undefined) redirect.host_redirect = action.host;
      if (action.path !== undefined) redirect.path_redirect = action.path;
      if (action.https) redirect.https_redirect = true;
      out.redirect = redirect;
      break;
    }
    case 'directResponse':
      out.direct_response = {
        status: action.status,
        ...(action.body !== '' ? { body: { inline_string: action.body } } : {}),
      };
      break;
  }
  if (route.requestHeaders !== undefined) {
    if (route.requestHeaders.add.length > 0) out.request_headers_to_add = headersToAdd(route.requestHeaders.add);
    if (route.requestHeaders.remove.length > 0) out.request_headers_to_remove = [...route.requestHeaders.remove];
  }
  if (route.responseHeaders !== undefined) {
    if (route.responseHeaders.add.length > 0) out.response_headers_to_add = headersToAdd(route.responseHeaders.add);
    if (route.responseHeaders.remove.length > 0) out.response_headers_to_remove = [...route.responseHeaders.remove];
  }
  if (route.rateLimit !== undefined) {
    const rl = route.rateLimit;
    const always = (key: string) => ({ runtime_key: key, default_value: { numerator: 100, denominator: 'HUNDRED' } });
    out.typed_per_filter_config = {
      [LOCAL_RATE_LIMIT_FILTER]: {
        '@type': LOCAL_RATE_LIMIT_TYPE_URL,
        stat_prefix: 'local_rate_limit',
        token_bucket: { max_tokens: rl.burst, tokens_per_fill: rl.requestsPerFill, fill_interval: duration(rl.fillIntervalMs) },
        filter_enabled: always('local_rate_limit_enabled'),
        filter_enforced: always('local_rate_limit_enforced'),
      },
    };
  }
  return out;
}

/** ExtAuthzPerRoute: the bound policy (the route's setting over its virtual host's) or `disabled`. */
function addExtAuthzPerRoute(out: { [k: string]: JsonValue }, listener: Listener, vh: VirtualHost, route: Route, tenant: string | undefined): void {
  const binding = route.extAuthz ?? vh.extAuthz;
  const perRoute: { [k: string]: JsonValue } = { '@type': EXT_AUTHZ_PER_ROUTE_TYPE_URL };
  if (binding !== undefined && 'policy' in binding) {
    const context: { [k: string]: JsonValue } = { policy: binding.policy, route: route.name, virtual_host: vh.name, listener: listener.name };
    if (tenant !== undefined) context.tenant = tenant;
    perRoute.check_settings = { context_extensions: context };
  } else {
    perRoute.disabled = true;
  }
  const existing = out.typed_per_filter_config;
  const base = typeof existing === 'object' && existing !== null && !Array.isArray(existing) ? existing : {};
  out.typed_per_filter_config = { ...base, [EXT_AUTHZ_FILTER]: perRoute };
}

function compileMatch(route: Route): { [k: string]: JsonValue } {
  const m = route.match;
  const match: { [k: string]: JsonValue } = {};
  if (m.path !== undefined) match.path = m.path;
  else if (m.regex !== undefined) match.safe_regex = { regex: m.regex };
  else match.prefix = m.prefix ?? '/';
  if (m.headers.length > 0) {
    match.headers = m.headers.map((h) => {
      const hm: { [k: string]: JsonValue } = { name: h.name };
      let invert = h.invert;
      if (h.exact !== undefined) hm.string_match = { exact: h.exact };
      else if (h.prefix !== undefined) hm.string_match = { prefix: h.prefix };
      else if (h.regex !== undefined) hm.string_match = { safe_regex: { regex: h.regex } };
      else {
        // "present: false" = header absent = inverted presence; no matcher at all = present.
        hm.present_match = true;
        if (h.present === false) invert = !invert;
      }
      if (invert) hm.invert_match = true;
      return hm;
    });
  }
  if (m.queryParameters.length > 0) {
    match.query_parameters = m.queryParameters.map((q): JsonValue => {
      if (q.exact !== undefined) return { name: q.name, string_match: { exact: q.exact } };
      if (q.regex !== undefined) return { name: q.name, string_match: { safe_regex: { regex: q.regex } } };
      return { name: q.name, present_match: true };
    });
  }
  return match;
}

function headersToAdd(headers: readonly { name: string; value: string; append: boolean }[]): JsonValue[] {
  return headers.map((h) => ({
    header: { key: h.name, value: h.value },
    append_action: h.append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD',
  }));
}

// ----------------------------------------------------------------------------------------------- clusters

const LB_POLICY = { roundRobin: 'ROUND_ROBIN', leastRequest: 'LEAST_REQUEST', ringHash: 'RING_HASH', maglev: 'MAGLEV' } as const;

function compileCluster(cluster: Cluster, tlsContext?: { [k: string]: JsonValue }): XdsResource {
  const out: XdsResource = {
    '@type': TYPE_URL.clusters,
    name: cluster.name,
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE },
    connect_timeout: duration(cluster.connectTimeoutMs),
    lb_policy: LB_POLICY[cluster.lbPolicy],
  };
  if (tlsContext !== undefined) out.transport_socket = { name: TLS_TRANSPORT_SOCKET, typed_config: tlsContext };
  const hc = cluster.healthCheck;
  if (hc !== undefined) {
    out.health_checks = [
      {
        timeout: duration(hc.timeoutMs),
        interval: duration(hc.intervalMs),
        healthy_threshold: hc.healthyThreshold,
        unhealthy_threshold: hc.unhealthyThreshold,
        http_health_check: { path: hc.path },
      },
    ];
  }
  const cb = cluster.circuitBreakers;
  if (cb !== undefined) {
    const threshold: { [k: string]: JsonValue } = { priority: 'DEFAULT' };
    if (cb.maxConnections !== undefined) threshold.max_connections = cb.maxConnections;
    if (cb.maxPendingRequests !== undefined) threshold.max_pending_requests = cb.maxPendingRequests;
    if (cb.maxRequests !== undefined) threshold.max_requests = cb.maxRequests;
    if (cb.maxRetries !== undefined) threshold.max_retries = cb.maxRetries;
    out.circuit_breakers = { thresholds: [threshold] };
  }
  const od = cluster.outlierDetection;
  if (od !== undefined) {
    out.outlier_detection = {
      consecutive_5xx: od.consecutive5xx,
      interval: duration(od.intervalMs),
      base_ejection_time: duration(od.baseEjectionTimeMs),
      max_ejection_percent: od.maxEjectionPercent,
    };
  }
  return out;
}

function compileClusterLoadAssignment(cluster: Cluster): XdsResource {
  // One LocalityLbEndpoints per (priority, region, zone), in a stable order.
  const groups = new Map<string, { priority: number; region: string; zone: string; endpoints: JsonValue[]; weightSum: number }>();
  for (const ep of cluster.endpoints) {
    const key = JSON.stringify([ep.priority, ep.locality.region, ep.locality.zone]);
    let group = groups.get(key);
    if (group === undefined) {
      group = { priority: ep.priority, region: ep.locality.region, zone: ep.locality.zone, endpoints: [], weightSum: 0 };
      groups.set(key, group);
    }
    group.weightSum += ep.weight;
    group.endpoints.push({
      endpoint: { address: { socket_address: { address: ep.address, port_value: ep.port } } },
      load_balancing_weight: ep.weight,
    });
  }
  const localities = [...groups.values()]
    .sort((a, b) => a.priority - b.priority || compare(a.region, b.region) || compare(a.zone, b.zone))
    .map((g) => {
      // Always set (empty when unknown): gRPC xDS clients reject a LocalityLbEndpoints without locality.
      const out: { [k: string]: JsonValue } = {
        locality: { ...(g.region !== '' ? { region: g.region } : {}), ...(g.zone !== '' ? { zone: g.zone } : {}) },
      };
      if (g.priority !== 0) out.priority = g.priority;
      // gRPC xDS clients skip localities without a weight; Envoy ignores it unless locality-weighted LB is on.
      // The sum of the endpoint weights keeps gRPC's split across localities proportional to the endpoints.
      out.load_balancing_weight = g.weightSum;
      out.lb_endpoints = g.endpoints;
      return out;
    });
  return { '@type': TYPE_URL.endpoints, cluster_name: cluster.name, endpoints: localities };
}

// ---------------------------------------------------------------------------------------------- helpers

/** Milliseconds as a proto3-JSON Duration ("5s", "1.500s"). */
export function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(3)}s`;
}

function byName<T extends { name: string }>(items: readonly T[]): Map<string, { item: T; index: number }> {
  const map = new Map<string, { item: T; index: number }>();
  items.forEach((item, index) => {
    if (!map.has(item.name)) map.set(item.name, { item, index });
  });
  return map;
}

function sortResources(r: SnapshotResources): void {
  const key = (x: XdsResource) => String(x.name ?? x.cluster_name);
  for (const list of [r.listeners, r.routes, r.clusters, r.endpoints, r.secrets]) list.sort((a, b) => compare(key(a), key(b)));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
