/* eslint-disable @typescript-eslint/no-explicit-any -- the tests poke into Envoy resource JSON */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteGraphSchema, type RouteGraph, type RouteGraphInput } from '../../contracts/route-graph.schema';
import { richRouteGraph } from '../../test/fixtures/route-graphs';
import { demoRouteGraph } from '../demo-graph';
import { CompileError, compileSnapshots, duration, type CompileOptions } from './compile';
import { checkSnapshotConsistency, contentHash, HCM_TYPE_URL, PUSH_ORDER, SECRET_REF_TYPE, TYPE_URL, type XdsResource, type XdsSnapshot } from './snapshot';

const TRUST = { caBundlePem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', crlPem: '-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n' };

const parse = (g: RouteGraphInput): RouteGraph => RouteGraphSchema.parse(g);

function only(snapshots: XdsSnapshot[], nodeGroup: string): XdsSnapshot {
  const s = snapshots.find((x) => x.nodeGroup === nodeGroup);
  assert.ok(s, `no snapshot for ${nodeGroup}`);
  return s;
}

function named(list: XdsResource[], name: string): Record<string, any> {
  const r = list.find((x) => x.name === name || x.cluster_name === name);
  assert.ok(r, `no resource ${name}`);
  return r as Record<string, any>;
}

function route(snapshot: XdsSnapshot, routeConfig: string, vhost: string, routeName: string): Record<string, any> {
  const rc = named(snapshot.resources.routes, routeConfig);
  const vh = (rc.virtual_hosts as any[]).find((v) => v.name === vhost);
  const r = (vh.routes as any[]).find((x) => x.name === routeName);
  assert.ok(r, `no route ${routeName}`);
  return r;
}

describe('compileSnapshots', () => {
  it('compiles the demo graph into LDS/RDS/CDS/EDS resources over ADS', () => {
    const [snapshot, ...rest] = compileSnapshots(demoRouteGraph({ listenerPort: 10000, upstreamPorts: [18081, 18082] }));
    assert.equal(rest.length, 0);
    assert.ok(snapshot);
    assert.equal(snapshot.nodeGroup, 'default');
    assert.match(snapshot.version, /^[0-9a-f]{64}$/);
    const { listeners, routes, clusters, endpoints } = snapshot.resources;
    assert.deepEqual([listeners.length, routes.length, clusters.length, endpoints.length], [1, 1, 1, 1]);

    const listener = listeners[0] as Record<string, any>;
    assert.equal(listener['@type'], TYPE_URL.listeners);
    assert.deepEqual(listener.address, { socket_address: { address: '0.0.0.0', port_value: 10000 } });
    const hcm = listener.filter_chains[0].filters[0].typed_config;
    assert.equal(hcm['@type'], HCM_TYPE_URL);
    assert.deepEqual(hcm.rds, { route_config_name: 'demo', config_source: { ads: {}, resource_api_version: 'V3' } });
    assert.equal(hcm.http_filters.at(-1).name, 'envoy.filters.http.router');

    assert.deepEqual(route(snapshot, 'demo', 'demo', 'demo-root'), {
      name: 'demo-root',
      match: { prefix: '/' },
      route: { cluster: 'demo-upstreams' },
    });
    assert.deepEqual(clusters[0], {
      '@type': TYPE_URL.clusters,
      name: 'demo-upstreams',
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
      connect_timeout: '1s',
      lb_policy: 'ROUND_ROBIN',
    });
    const ports = (endpoints[0] as any).endpoints[0].lb_endpoints.map((e: any) => e.endpoint.address.socket_address.port_value);
    assert.deepEqual(ports, [18081, 18082]);
    assert.deepEqual(checkSnapshotConsistency(snapshot), []);
  });

  it('gives equal content an equal version and changed content a new one', () => {
    const graph = parse(richRouteGraph());
    const a = compileSnapshots(graph);
    const reordered = { ...graph, clusters: [...graph.clusters].reverse(), routes: [...graph.routes].reverse() };
    const b = compileSnapshots(structuredClone(reordered));
    assert.deepEqual(a.map((s) => s.version), b.map((s) => s.version));

    const changed = structuredClone(graph);
    changed.clusters[0]!.endpoints[0]!.port = 9999;
    const c = compileSnapshots(changed);
    assert.notEqual(only(c, 'default').version, only(a, 'default').version);
    assert.equal(only(c, 'empty').version, only(a, 'empty').version, 'a node group the change does not touch keeps its version');
  });

  it('gives each node group its listeners and exactly the clusters their routes use', () => {
    const snapshots = compileSnapshots(parse(richRouteGraph()));
    assert.deepEqual(snapshots.map((s) => s.nodeGroup), ['default', 'empty', 'internal']);
    const def = only(snapshots, 'default');
    assert.deepEqual(def.resources.listeners.map((l) => l.name), ['web', 'web-v6']);
    assert.deepEqual(def.resources.routes.map((l) => l.name), ['web', 'web-v6']);
    assert.deepEqual(def.resources.clusters.map((c) => c.name), ['api', 'app', 'canary']);
    assert.deepEqual(def.resources.endpoints.map((c) => c.cluster_name), ['api', 'app', 'canary']);
    const internal = only(snapshots, 'internal');
    assert.deepEqual(internal.resources.clusters.map((c) => c.name), ['api', 'app', 'canary'], 'mirror and 0-weight clusters count');
    const empty = only(snapshots, 'empty');
    assert.deepEqual(empty.resources, { listeners: [], routes: [], clusters: [], endpoints: [], secrets: [] });
    for (const s of snapshots) assert.deepEqual(checkSnapshotConsistency(s), [], s.nodeGroup);

    assert.deepEqual(compileSnapshots(parse(richRouteGraph()), { nodeGroups: ['internal'] }).map((s) => s.nodeGroup), ['internal']);
  });

  it('maps route matches, actions, timeouts, retries, headers, mirrors and rate limits', () => {
    const s = only(compileSnapshots(parse(richRouteGraph())), 'default');
    const items = route(s, 'web', 'site', 'items');
    assert.deepEqual(items.match, {
      safe_regex: { regex: '^/items/[0-9]+$' },
      headers: [
        { name: 'x-exact', string_match: { exact: 'b' } },
        { name: 'x-prefix', string_match: { prefix: 'p' }, invert_match: true },
        { name: 'x-regex', string_match: { safe_regex: { regex: '(?i)abc' } } },
        { name: 'x-present', present_match: true },
        { name: 'x-absent', present_match: true, invert_match: true },
        { name: 'x-any', present_match: true },
      ],
      query_parameters: [
        { name: 'q', string_match: { exact: '1' } },
        { name: 'r', string_match: { safe_regex: { regex: '\\d+' } } },
        { name: 's', present_match: true },
      ],
    });
    assert.deepEqual(items.route, {
      cluster: 'app',
      timeout: '1.500s',
      retry_policy: {
        retry_on: '5xx,retriable-status-codes',
        num_retries: 2,
        per_try_timeout: '0.500s',
        retriable_status_codes: [503],
        retry_back_off: { base_interval: '0.025s', max_interval: '0.250s' },
      },
    });

    assert.deepEqual(route(s, 'web', 'site', 'old-path').redirect, {
      response_code: 'PERMANENT_REDIRECT',
      host_redirect: 'new.example.com',
      path_redirect: '/new',
      https_redirect: true,
    });
    assert.equal(route(s, 'web', 'site', 'big-page').direct_response.body.inline_string.length, 10_000);
    assert.equal(named(s.resources.routes, 'web').max_direct_response_body_size_bytes, 10_000);
    assert.equal(named(s.resources.routes, 'web-v6').max_direct_response_body_size_bytes, undefined);

    assert.deepEqual(route(s, 'web', 'api', 'split').route, {
      weighted_clusters: { clusters: [{ name: 'app', weight: 90 }, { name: 'api', weight: 10 }, { name: 'canary', weight: 0 }] },
    });
    const api = route(s, 'web', 'api', 'api');
    assert.deepEqual(api.route.request_mirror_policies, [
      { cluster: 'app', runtime_fraction: { default_value: { numerator: 125_000, denominator: 'MILLION' } } },
    ]);
    assert.deepEqual(api.request_headers_to_add, [
      { header: { key: 'x-added', value: 'v' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
      { header: { key: 'x-set', value: 'w' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    ]);
    assert.deepEqual(api.request_headers_to_remove, ['x-remove']);
    assert.deepEqual(api.response_headers_to_remove, ['server']);
    const rl = api.typed_per_filter_config['envoy.filters.http.local_ratelimit'];
    assert.deepEqual(rl.token_bucket, { max_tokens: 20, tokens_per_fill: 10, fill_interval: '1s' });

    const v6 = named(s.resources.listeners, 'web-v6');
    assert.equal(v6.filter_chains[0].filters[0].typed_config.codec_type, 'HTTP2');
  });

  it('maps cluster policies and endpoint weight, locality and priority', () => {
    const s = only(compileSnapshots(parse(richRouteGraph())), 'default');
    const app = named(s.resources.clusters, 'app');
    assert.deepEqual(app.health_checks, [
      { timeout: '1s', interval: '2.500s', healthy_threshold: 1, unhealthy_threshold: 3, http_health_check: { path: '/health' } },
    ]);
    assert.deepEqual(app.circuit_breakers, {
      thresholds: [{ priority: 'DEFAULT', max_connections: 100, max_pending_requests: 10, max_requests: 1000, max_retries: 3 }],
    });
    assert.deepEqual(app.outlier_detection, { consecutive_5xx: 3, interval: '10s', base_ejection_time: '30s', max_ejection_percent: 10 });
    assert.equal(named(s.resources.clusters, 'api').lb_policy, 'LEAST_REQUEST');
    assert.equal(named(s.resources.clusters, 'api').connect_timeout, '0.250s');
    assert.equal(named(s.resources.clusters, 'canary').lb_policy, 'RING_HASH');

    const cla = named(s.resources.endpoints, 'app');
    const ep = (address: string, port: number, weight: number) => ({
      endpoint: { address: { socket_address: { address, port_value: port } } },
      load_balancing_weight: weight,
    });
    assert.deepEqual(cla.endpoints, [
      { locality: {}, load_balancing_weight: 1, lb_endpoints: [ep('127.0.0.1', 9001, 1)] },
      { locality: { region: 'eu', zone: 'eu-1' }, load_balancing_weight: 5, lb_endpoints: [ep('127.0.0.2', 9002, 5)] },
      { locality: {}, priority: 1, load_balancing_weight: 1, lb_endpoints: [ep('127.0.0.3', 9003, 1)] },
    ]);
  });

  it('refuses TLS naming a certificate the tenant does not have, or trust without a CA, naming the field', () => {
    const g = richRouteGraph();
    g.listeners![0]!.tls = { certificate: 'web' };
    g.clusters![1]!.upstreamTls = { certificate: 'client' };
    const paths = (tls: CompileOptions['tls']) => {
      try {
        compileSnapshots(parse(g), { tls });
      } catch (err) {
        assert.ok(err instanceof CompileError);
        return err.issues.map((i) => i.path).sort();
      }
      return [];
    };
    assert.deepEqual(paths(undefined), ['clusters[1].upstreamTls.certificate', 'clusters[1].upstreamTls.trust', 'listeners[0].tls.certificate']);
    const certificates = new Map([['web', { id: 'c1', serial: '0a' }]]);
    assert.deepEqual(paths({ certificates }), ['clusters[1].upstreamTls.certificate', 'clusters[1].upstreamTls.trust']);
    assert.deepEqual(paths({ certificates, trust: TRUST }), ['clusters[1].upstreamTls.certificate']);
  });

  it('compiles TLS listeners and upstream mTLS to SDS references over ADS; key material never enters the snapshot', () => {
    const g = richRouteGraph();
    g.listeners![0]!.tls = { certificate: 'web', requireClientCertificate: true };
    g.clusters![1]!.upstreamTls = { certificate: 'client', sni: 'canary.internal' };
    const tls = {
      certificates: new Map([
        ['web', { id: 'c1', serial: '0a' }],
        ['client', { id: 'c2', serial: '0b' }],
      ]),
      trust: TRUST,
    };
    const s = only(compileSnapshots(parse(g), { tls }), 'default');
    assert.deepEqual(checkSnapshotConsistency(s), []);
    const ads = { ads: {}, resource_api_version: 'V3' };

    const listener = named(s.resources.listeners, g.listeners![0]!.name);
    const socket = listener.filter_chains[0].transport_socket;
    assert.equal(socket.name, 'envoy.transport_sockets.tls');
    assert.equal(socket.typed_config['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
    assert.equal(socket.typed_config.require_client_certificate, true);
    assert.deepEqual(socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs, [{ name: 'certificate/web', sds_config: ads }]);
    assert.deepEqual(socket.typed_config.common_tls_context.validation_context_sds_secret_config, { name: 'trust/tenant', sds_config: ads });

    const cluster = named(s.resources.clusters, g.clusters![1]!.name);
    const up = cluster.transport_socket.typed_config;
    assert.equal(up['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    assert.equal(up.sni, 'canary.internal');
    assert.deepEqual(up.common_tls_context.tls_certificate_sds_secret_configs, [{ name: 'certificate/client', sds_config: ads }]);
    assert.deepEqual(up.common_tls_context.combined_validation_context, {
      default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'canary.internal' } }] },
      validation_context_sds_secret_config: { name: 'trust/tenant', sds_config: ads },
    });

    assert.deepEqual(
      s.resources.secrets.map((x) => x.name),
      ['certificate/client', 'certificate/web', 'trust/tenant'],
    );
    assert.deepEqual(named(s.resources.secrets, 'certificate/web'), {
      '@type': SECRET_REF_TYPE,
      name: 'certificate/web',
      certificate: 'web',
      certificateId: 'c1',
      serial: '0a',
    });
    assert.deepEqual(named(s.resources.secrets, 'trust/tenant').validation_context, {
      trusted_ca: { inline_string: TRUST.caBundlePem },
      crl: { inline_string: TRUST.crlPem },
      only_verify_leaf_cert_crl: true,
    });
    assert.doesNotMatch(JSON.stringify(s), /PRIVATE KEY/);

    // A rotated certificate (new serial) is a new version with the same listeners and clusters.
    const rotated = only(compileSnapshots(parse(g), { tls: { ...tls, certificates: new Map([...tls.certificates, ['web', { id: 'c3', serial: '0c' }]]) } }), 'default');
    assert.notEqual(rotated.version, s.version);
    assert.deepEqual(rotated.resources.listeners, s.resources.listeners);
    assert.deepEqual(rotated.resources.clusters, s.resources.clusters);
  });

  it('versions each type by its content, and the snapshot by its type versions', () => {
    const s = only(compileSnapshots(parse(richRouteGraph())), 'default');
    for (const kind of PUSH_ORDER) assert.equal(s.typeVersions[kind], contentHash(s.resources[kind]), kind);
    assert.equal(s.version, contentHash(s.typeVersions));
    assert.equal(new Set(Object.values(s.typeVersions)).size, 5, 'five types, five different contents');

    // A route-only change: a new RDS version and snapshot version, the other types keep theirs.
    const g = richRouteGraph();
    g.routes!.find((r) => r.name === 'split')!.action = { kind: 'forward', clusters: [{ cluster: 'app', weight: 50 }, { cluster: 'api', weight: 50 }, { cluster: 'canary', weight: 0 }] };
    const t = only(compileSnapshots(parse(g)), 'default');
    assert.notEqual(t.version, s.version);
    assert.deepEqual(
      PUSH_ORDER.filter((kind) => t.typeVersions[kind] !== s.typeVersions[kind]),
      ['routes'],
    );
    // Same content, same versions.
    assert.deepEqual(only(compileSnapshots(parse(g)), 'default').typeVersions, t.typeVersions);
  });

  it('delivers the listeners of a grpc node group as API listeners (proxyless gRPC, xds:///<name>)', () => {
    const g = richRouteGraph();
    g.nodeGroups!.push({ name: 'grpc', kind: 'grpc', listeners: ['internal'] });
    const s = only(compileSnapshots(parse(g)), 'grpc');
    const l = s.resources.listeners[0]!;
    assert.equal(l.name, 'internal');
    assert.equal(l.address, undefined, 'an API listener binds nothing');
    const hcm = (l.api_listener as { api_listener: Record<string, unknown> }).api_listener;
    assert.equal(hcm['@type'], HCM_TYPE_URL);
    assert.deepEqual(hcm.rds, { route_config_name: 'internal', config_source: { ads: {}, resource_api_version: 'V3' } });
    assert.deepEqual((hcm.http_filters as { name: string }[]).map((f) => f.name), ['envoy.filters.http.router'], 'the router alone');
    assert.deepEqual(s.resources.routes.map((r) => r.name), ['internal']);
    assert.deepEqual(checkSnapshotConsistency(s), []);
    // The same listener in an Envoy group still binds its address.
    assert.ok(only(compileSnapshots(parse(g)), 'internal').resources.listeners[0]!.address);
  });

  it('formats durations as proto3 JSON', () => {
    assert.equal(duration(1000), '1s');
    assert.equal(duration(3_600_000), '3600s');
    assert.equal(duration(1), '0.001s');
    assert.equal(duration(1500), '1.500s');
  });
});

describe('checkSnapshotConsistency', () => {
  const snapshot = () => structuredClone(only(compileSnapshots(parse(richRouteGraph())), 'default'));

  it('finds EDS names without clusters and clusters without EDS', () => {
    const s = snapshot();
    s.resources.endpoints = s.resources.endpoints.filter((e) => e.cluster_name !== 'app');
    s.resources.endpoints.push({ '@type': TYPE_URL.endpoints, cluster_name: 'orphan', endpoints: [] });
    assert.deepEqual(checkSnapshotConsistency(s), [
      'cluster "app" uses EDS name "app", which has no ClusterLoadAssignment',
      'ClusterLoadAssignment "orphan" is not used by any EDS cluster',
    ]);
  });

  it('finds RDS names without listeners and listeners without RDS', () => {
    const s = snapshot();
    s.resources.routes = s.resources.routes.filter((r) => r.name !== 'web-v6');
    s.resources.routes.push({ '@type': TYPE_URL.routes, name: 'orphan', virtual_hosts: [] });
    assert.deepEqual(checkSnapshotConsistency(s), [
      'listener "web-v6" uses RDS name "web-v6", which has no RouteConfiguration',
      'RouteConfiguration "orphan" is not used by any listener',
    ]);
  });

  it('finds routes to clusters missing from CDS, duplicates and wrong @types', () => {
    const s = snapshot();
    s.resources.clusters = s.resources.clusters.filter((c) => c.name !== 'canary');
    s.resources.endpoints = s.resources.endpoints.filter((c) => c.cluster_name !== 'canary');
    s.resources.listeners.push({ ...s.resources.listeners[0]!, '@type': TYPE_URL.clusters });
    const problems = checkSnapshotConsistency(s);
    assert.ok(problems.includes('RouteConfiguration "web" sends traffic to cluster "canary", which is not in CDS'), problems.join('\n'));
    assert.ok(problems.includes('listeners: duplicate name "web"'), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('listeners: "web" has @type type.googleapis.com/envoy.config.cluster.v3.Cluster')), problems.join('\n'));
  });

  it('finds SDS names without a Secret and Secrets nobody uses', () => {
    const g = richRouteGraph();
    g.listeners![0]!.tls = { certificate: 'web' };
    const s = structuredClone(only(compileSnapshots(parse(g), { tls: { certificates: new Map([['web', { id: 'c1', serial: '01' }]]) } }), 'default'));
    s.resources.secrets = [{ '@type': TYPE_URL.secrets, name: 'orphan' }];
    assert.deepEqual(checkSnapshotConsistency(s), [
      `"${g.listeners![0]!.name}" uses SDS secret "certificate/web", which is not in the snapshot`,
      'Secret "orphan" is not used by any listener or cluster',
    ]);
  });
});
