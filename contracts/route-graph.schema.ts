/**
 * The route graph an operator draws: listeners → virtual hosts → routes → clusters → endpoints,
 * plus node groups that decide which proxies receive which listeners. Objects reference each other
 * by name; `core/route-graph` validates the references.
 */
import { z } from 'zod';
import { CertificateNameSchema } from './certificate.schema';

/** Resource names end up in Envoy resource names and URLs: keep them boring. */
export const ResourceNameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'lowercase letters, digits and "-", starting and ending with a letter or digit');

const PortSchema = z.number().int().min(1).max(65535);
const DurationMsSchema = z.number().int().min(1).max(3_600_000);

export const HeaderMatchSchema = z.strictObject({
  name: z.string().min(1).max(256),
  exact: z.string().max(4096).optional(),
  prefix: z.string().max(4096).optional(),
  regex: z.string().max(4096).optional(),
  present: z.boolean().optional(),
  invert: z.boolean().default(false),
});

export const QueryParameterMatchSchema = z.strictObject({
  name: z.string().min(1).max(256),
  exact: z.string().max(4096).optional(),
  regex: z.string().max(4096).optional(),
  present: z.boolean().optional(),
});

export const RouteMatchSchema = z.strictObject({
  prefix: z.string().startsWith('/').max(4096).optional(),
  path: z.string().startsWith('/').max(4096).optional(),
  regex: z.string().min(1).max(4096).optional(),
  headers: z.array(HeaderMatchSchema).max(32).default([]),
  queryParameters: z.array(QueryParameterMatchSchema).max(32).default([]),
});

export const WeightedClusterSchema = z.strictObject({
  cluster: ResourceNameSchema,
  weight: z.number().int().min(0).max(10_000),
});

export const RouteActionSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('forward'),
    clusters: z.array(WeightedClusterSchema).min(1).max(64),
  }),
  z.strictObject({
    kind: z.literal('redirect'),
    host: z.string().max(253).optional(),
    path: z.string().startsWith('/').max(4096).optional(),
    https: z.boolean().default(false),
    status: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)]).default(302),
  }),
  z.strictObject({
    kind: z.literal('directResponse'),
    status: z.number().int().min(100).max(599),
    body: z.string().max(65_536).default(''),
  }),
]);

export const RetryPolicySchema = z.strictObject({
  retryOn: z.array(z.enum(['5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-4xx', 'refused-stream', 'retriable-status-codes'])).min(1),
  retriableStatusCodes: z.array(z.number().int().min(100).max(599)).default([]),
  numRetries: z.number().int().min(0).max(10).default(1),
  perTryTimeoutMs: DurationMsSchema.optional(),
  backoffBaseMs: DurationMsSchema.optional(),
  backoffMaxMs: DurationMsSchema.optional(),
});

export const HeaderChangeSchema = z.strictObject({
  add: z.array(z.strictObject({ name: z.string().min(1).max(256), value: z.string().max(4096), append: z.boolean().default(false) })).max(32).default([]),
  remove: z.array(z.string().min(1).max(256)).max(32).default([]),
});

/**
 * Request-policy binding (issue 4) of a virtual host or route: `{ policy }` names a request policy of the
 * tenant, enforced by Envoy's ext_authz filter; `{ disabled: true }` exempts a route under a bound virtual
 * host. A route's own setting wins over its virtual host's.
 */
export const ExtAuthzBindingSchema = z.union([
  z.strictObject({ policy: ResourceNameSchema }),
  z.strictObject({ disabled: z.literal(true) }),
]);

export const RouteSchema = z.strictObject({
  name: ResourceNameSchema,
  match: RouteMatchSchema,
  action: RouteActionSchema,
  timeoutMs: DurationMsSchema.optional(),
  retry: RetryPolicySchema.optional(),
  requestHeaders: HeaderChangeSchema.optional(),
  responseHeaders: HeaderChangeSchema.optional(),
  mirror: z.strictObject({ cluster: ResourceNameSchema, percent: z.number().min(0).max(100) }).optional(),
  rateLimit: z
    .strictObject({ requestsPerFill: z.number().int().min(1), fillIntervalMs: DurationMsSchema, burst: z.number().int().min(1) })
    .optional(),
  extAuthz: ExtAuthzBindingSchema.optional(),
});

export const VirtualHostSchema = z.strictObject({
  name: ResourceNameSchema,
  domains: z.array(z.string().min(1).max(253)).min(1).max(64),
  /** Route names, in match order. */
  routes: z.array(ResourceNameSchema).max(1000),
  extAuthz: ExtAuthzBindingSchema.optional(),
});

export const ListenerSchema = z.strictObject({
  name: ResourceNameSchema,
  address: z.string().min(1).max(64).default('0.0.0.0'),
  port: PortSchema,
  protocol: z.enum(['http1', 'http2', 'auto']).default('auto'),
  /**
   * TLS termination (issue 8): `certificate` names a certificate of the tenant (served over SDS, rotated without
   * a restart); `requireClientCertificate` makes it mTLS: clients must present a certificate the tenant's CA
   * signed and that its CRL does not list.
   */
  tls: z.strictObject({ certificate: CertificateNameSchema, requireClientCertificate: z.boolean().default(false) }).optional(),
  /** Virtual host names served on this listener. */
  virtualHosts: z.array(ResourceNameSchema).min(1).max(100),
  /**
   * ext_authz settings of this listener. The filter is added whenever a virtual host or route of the listener
   * is bound to a request policy; without this object it fails closed with a 250 ms timeout.
   */
  extAuthz: z
    .strictObject({
      /** Let requests through when the ext_authz server cannot be reached or errs (default: deny). */
      failureModeAllow: z.boolean().default(false),
      timeoutMs: DurationMsSchema.default(250),
    })
    .optional(),
});

export const LocalitySchema = z.strictObject({
  region: z.string().max(128).default(''),
  zone: z.string().max(128).default(''),
});

export const EndpointSchema = z.strictObject({
  address: z.string().min(1).max(253),
  port: PortSchema,
  weight: z.number().int().min(1).max(128).default(1),
  locality: LocalitySchema.default({ region: '', zone: '' }),
  priority: z.number().int().min(0).max(10).default(0),
});

export const ClusterSchema = z.strictObject({
  name: ResourceNameSchema,
  lbPolicy: z.enum(['roundRobin', 'leastRequest', 'ringHash', 'maglev']).default('roundRobin'),
  connectTimeoutMs: DurationMsSchema.default(1000),
  endpoints: z.array(EndpointSchema).max(1000),
  healthCheck: z
    .strictObject({
      path: z.string().startsWith('/').default('/healthz'),
      intervalMs: DurationMsSchema.default(5000),
      timeoutMs: DurationMsSchema.default(1000),
      healthyThreshold: z.number().int().min(1).default(1),
      unhealthyThreshold: z.number().int().min(1).default(3),
    })
    .optional(),
  circuitBreakers: z
    .strictObject({
      maxConnections: z.number().int().min(1).optional(),
      maxPendingRequests: z.number().int().min(1).optional(),
      maxRequests: z.number().int().min(1).optional(),
      maxRetries: z.number().int().min(0).optional(),
    })
    .optional(),
  outlierDetection: z
    .strictObject({
      consecutive5xx: z.number().int().min(1).default(5),
      intervalMs: DurationMsSchema.default(10_000),
      baseEjectionTimeMs: DurationMsSchema.default(30_000),
      maxEjectionPercent: z.number().int().min(0).max(100).default(10),
    })
    .optional(),
  /**
   * TLS to the endpoints (issue 8): `sni` sent in the ClientHello; `certificate` (a certificate of the tenant,
   * over SDS) is presented as client certificate (mTLS); `trust` = `tenant` verifies the upstream's certificate
   * against the tenant's CA bundle and CRL (with `sni` as the expected name when given), `none` does not verify.
   */
  upstreamTls: z
    .strictObject({
      sni: z.string().max(253).optional(),
      certificate: CertificateNameSchema.optional(),
      trust: z.enum(['tenant', 'none']).default('tenant'),
    })
    .optional(),
});

export const NodeGroupSchema = z.strictObject({
  name: ResourceNameSchema,
  /** Listener names delivered to proxies of this group. */
  listeners: z.array(ResourceNameSchema).max(100),
  /**
   * Who the members are. `envoy` (default): listeners bind their address and port. `grpc`: proxyless gRPC
   * clients (`@grpc/grpc-js-xds`, grpc-go, …); each listener is delivered as an API listener of the same
   * name, so a channel to `xds:///<listener name>` is routed by its virtual hosts, routes and clusters
   * (address, port and protocol are not used).
   */
  kind: z.enum(['envoy', 'grpc']).optional(),
});

export const RouteGraphSchema = z.strictObject({
  listeners: z.array(ListenerSchema).max(1000).default([]),
  virtualHosts: z.array(VirtualHostSchema).max(1000).default([]),
  routes: z.array(RouteSchema).max(20_000).default([]),
  clusters: z.array(ClusterSchema).max(5000).default([]),
  nodeGroups: z.array(NodeGroupSchema).max(100).default([]),
});

export type RouteGraph = z.infer<typeof RouteGraphSchema>;
export type RouteGraphInput = z.input<typeof RouteGraphSchema>;
export type Listener = z.infer<typeof ListenerSchema>;
export type VirtualHost = z.infer<typeof VirtualHostSchema>;
export type Route = z.infer<typeof RouteSchema>;
export type RouteAction = z.infer<typeof RouteActionSchema>;
export type Cluster = z.infer<typeof ClusterSchema>;
export type Endpoint = z.infer<typeof EndpointSchema>;
export type NodeGroup = z.infer<typeof NodeGroupSchema>;
export type ExtAuthzBinding = z.infer<typeof ExtAuthzBindingSchema>;

/** The node group a proxy joins when its node metadata names none. */
export const DEFAULT_NODE_GROUP = 'default';
