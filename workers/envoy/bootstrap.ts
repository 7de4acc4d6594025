/**
 * Envoy bootstrap for a proxy managed by ProxyShard: everything but the `xds` cluster comes over ADS
 * (state-of-the-world or delta gRPC, v3). The node metadata tells the xds server which tenant and node group the
 * proxy belongs to.
 */
import { isIpAddress } from '../../core/route-graph/ip-address';

export interface EnvoyBootstrapOptions {
  /** node.id: unique per proxy within the tenant. */
  nodeId: string;
  /** Tenant slug (node.metadata.tenant). */
  tenant: string;
  /** Node group name (node.metadata.node_group). */
  nodeGroup: string;
  xdsHost: string;
  xdsPort: number;
  adminPort: number;
  /** node.cluster (Envoy's service cluster); default "proxyshard". */
  nodeCluster?: string;
  /** More static clusters (e.g. the ext_authz server's, extAuthzBootstrapCluster). */
  extraClusters?: Record<string, unknown>[];
  /** Admin interface address; default 127.0.0.1 (the admin API is unauthenticated). */
  adminAddress?: string;
  /** xDS flavour: `GRPC` = state of the world (default), `DELTA_GRPC` = incremental. */
  apiType?: 'GRPC' | 'DELTA_GRPC';
  /**
   * mTLS to xds (XDS_TLS_* on the server): the CA bundle the xds server certificate must chain to, the name
   * it must carry (SNI and SAN check), and this proxy's client certificate chain and key (PEM, inline).
   */
  xdsTls?: { caPem: string; serverName: string; certChainPem?: string; privateKeyPem?: string };
}

export type EnvoyBootstrap = Record<string, unknown>;

export function envoyBootstrap(opts: EnvoyBootstrapOptions): EnvoyBootstrap {
  const ads = { ads: {}, resource_api_version: 'V3' };
  return {
    node: {
      id: opts.nodeId,
      cluster: opts.nodeCluster ?? 'proxyshard',
      metadata: { tenant: opts.tenant, node_group: opts.nodeGroup },
    },
    admin: {
      address: { socket_address: { address: opts.adminAddress ?? '127.0.0.1', port_value: opts.adminPort } },
    },
    dynamic_resources: {
      ads_config: {
        api_type: opts.apiType ?? 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }],
        set_node_on_first_message_only: true,
      },
      cds_config: ads,
      lds_config: ads,
    },
    static_resources: {
      clusters: [
        {
          name: 'xds',
          type: isIpAddress(opts.xdsHost) ? 'STATIC' : 'STRICT_DNS',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: 'xds',
            endpoints: [
              { lb_endpoints: [{ endpoint: { address: { socket_address: { address: opts.xdsHost, port_value: opts.xdsPort } } } }] },
            ],
          },
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: {
                // gRPC needs HTTP/2; keepalives notice a vanished control plane.
                http2_protocol_options: {
                  connection_keepalive: { interval: '30s', timeout: '5s' },
                },
              },
            },
          },
        },
        ...(opts.extraClusters ?? []),
      ].map((c) => (c.name === 'xds' && opts.xdsTls !== undefined ? { ...c, transport_socket: xdsTransportSocket(opts.xdsTls) } : c)),
    },
  };
}

/** UpstreamTlsContext of the static xds cluster: verify the server against the CA and its name; present the client chain. */
function xdsTransportSocket(tls: NonNullable<EnvoyBootstrapOptions['xdsTls']>): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: tls.serverName,
      common_tls_context: {
        // gRPC over TLS needs ALPN h2; the tenant CA's keys are P-384.
        alpn_protocols: ['h2'],
        tls_params: { ecdh_curves: ['X25519', 'P-256', 'P-384'], tls_maximum_protocol_version: 'TLSv1_3' },
        validation_context: {
          trusted_ca: { inline_string: tls.caPem },
          match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: tls.serverName } }],
        },
        ...(tls.certChainPem !== undefined && tls.privateKeyPem !== undefined
          ? { tls_certificates: [{ certificate_chain: { inline_string: tls.certChainPem }, private_key: { inline_string: tls.privateKeyPem } }] }
          : {}),
      },
    },
  };
}
