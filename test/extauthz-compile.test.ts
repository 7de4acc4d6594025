/**
 * The xDS compiler's ext_authz output: the filter only on listeners with a bound virtual host or route,
 * before the router; per-route ExtAuthzPerRoute naming the policy (route over virtual host) or disabled;
 * failure mode and tenant passed through; every resource encodes with Envoy's own protos.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteGraph } from '../contracts/route-graph.schema';
import { validateRouteGraph } from '../contracts/route-graph.validate';
import { buildRequestInput, interpretRequestResult, parsePathAndQuery } from '../core/policy/request';
import { compileSnapshots } from '../core/xds/compile';
import { loadXdsProtos, type ProtoJsonMessage } from '../workers/xds/protos';

function graph(): RouteGraph {
  const r = (name: string, prefix: string, extra: object = {}) => ({
    name,
    match: { prefix, headers: [], queryParameters: [] },
    action: { kind: 'forward', clusters: [{ cluster: 'c', weight: 1 }] },
    ...extra,
  });
  const v = validateRouteGraph({
    listeners: [
      { name: 'bound', port: 10000, virtualHosts: ['api'], extAuthz: { failureModeAllow: true, timeoutMs: 100 } },
      { name: 'plain', port: 10001, virtualHosts: ['site'] },
    ],
    virtualHosts: [
      { name: 'api', domains: ['api.example.com'], routes: ['health', 'admin', 'rest'], extAuthz: { policy: 'api-policy' } },
      { name: 'site', domains: ['*'], routes: ['home'] },
    ],
    routes: [
      r('health', '/healthz', { extAuthz: { disabled: true } }),
      r('admin', '/admin', { extAuthz: { policy: 'admin-policy' }, rateLimit: { requestsPerFill: 1, fillIntervalMs: 1000, burst: 1 } }),
      r('rest', '/'),
      r('home', '/'),
    ],
    clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: 8080 }] }],
    nodeGroups: [{ name: 'default', listeners: ['bound', 'plain'] }],
  });
  assert.ok(v.ok, JSON.stringify(!v.ok && v.issues));
  return v.graph;
}

type Json = Record<string, unknown>;

describe('ext_authz in compiled snapshots', () => {
  it('adds the filter where policies are bound and configures each route', () => {
    const [snap] = compileSnapshots(graph(), { tenant: 'acme' });
    const listener = (name: string) => snap!.resources.listeners.find((l) => l.name === name) as Json;
    const filters = (l: Json) =>
      ((((l.filter_chains as Json[])[0]!.filters as Json[])[0]!.typed_config as Json).http_filters as Json[]).map((f) => f.name);
    assert.deepEqual(filters(listener('bound')), ['envoy.filters.http.local_ratelimit', 'envoy.filters.http.ext_authz', 'envoy.filters.http.router']);
    assert.deepEqual(filters(listener('plain')), ['envoy.filters.http.local_ratelimit', 'envoy.filters.http.router']);
    const hcm = (((listener('bound').filter_chains as Json[])[0]!.filters as Json[])[0]!.typed_config as Json).http_filters as Json[];
    assert.deepEqual(hcm[1]!.typed_config, {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      grpc_service: { envoy_grpc: { cluster_name: 'proxyshard-extauthz' }, timeout: '0.100s' },
      transport_api_version: 'V3',
      failure_mode_allow: true,
    });

    const routes = ((snap!.resources.routes.find((r) => r.name === 'bound') as Json).virtual_hosts as Json[])[0]!.routes as Json[];
    const perRoute = (name: string) => (routes.find((r) => r.name === name)!.typed_per_filter_config as Json)['envoy.filters.http.ext_authz'];
    const type = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
    assert.deepEqual(perRoute('health'), { '@type': type, disabled: true });
    assert.deepEqual(perRoute('admin'), {
      '@type': type,
      check_settings: { context_extensions: { policy: 'admin-policy', route: 'admin', virtual_host: 'api', listener: 'bound', tenant: 'acme' } },
    });
    assert.ok((routes.find((r) => r.name === 'admin')!.typed_per_filter_config as Json)['envoy.filters.http.local_ratelimit'], 'rate limit kept');
    assert.deepEqual(perRoute('rest'), {
      '@type': type,
      check_settings: { context_extensions: { policy: 'api-policy', route: 'rest', virtual_host: 'api', listener: 'bound', tenant: 'acme' } },
    });
    const siteRoutes = ((snap!.resources.routes.find((r) => r.name === 'plain') as Json).virtual_hosts as Json[])[0]!.routes as Json[];
    assert.equal(siteRoutes[0]!.typed_per_filter_config, undefined, 'no per-route config without the filter');

    const protos = loadXdsProtos();
    for (const r of [...snap!.resources.listeners, ...snap!.resources.routes]) protos.encodeAny(r as ProtoJsonMessage);
  });

  it('leaves graphs without bindings unchanged', () => {
    const g = graph();
    for (const vh of g.virtualHosts) delete vh.extAuthz;
    for (const r of g.routes) delete r.extAuthz;
    const [snap] = compileSnapshots(g);
    assert.ok(!JSON.stringify(snap!.resources).includes('ext_authz'));
  });
});

describe('request input and results', () => {
  it('parses path and query like the OPA-Envoy plugin', () => {
    assert.deepEqual(parsePathAndQuery('/'), { parsedPath: [''], parsedQuery: {} });
    assert.deepEqual(parsePathAndQuery('/a/b%20c/?x=1&x=2&y&z=a+b#frag'), { parsedPath: ['a', 'b c', ''], parsedQuery: { x: ['1', '2'], y: [''], z: ['a b'] } });
    const input = buildRequestInput({
      attributes: {
        source: { address: { socket_address: { address: '10.0.0.1', port_value: 5000 } } },
        request: { http: { method: 'POST', path: '/p', headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' } },
        context_extensions: { policy: 'x' },
      },
    });
    assert.deepEqual(input.attributes.source.address.socketAddress, { address: '10.0.0.1', portValue: 5000 });
    assert.equal(input.attributes.request.http.headers['content-type'], 'application/json');
    assert.deepEqual(input.parsed_body, { a: 1 });
    assert.deepEqual(input.attributes.contextExtensions, { policy: 'x' });
  });

  it('reads boolean and object results; anything else denies', () => {
    assert.equal(interpretRequestResult(true).allowed, true);
    assert.deepEqual(interpretRequestResult(undefined), { allowed: false, headers: {}, responseHeadersToAdd: {}, requestHeadersToRemove: [], httpStatus: 403, body: '' });
    assert.equal(interpretRequestResult('yes').allowed, false);
    assert.deepEqual(interpretRequestResult({ allowed: false, http_status: 429, body: { error: 'slow down' }, headers: { 'retry-after': 5 } }), {
      allowed: false,
      headers: { 'retry-after': '5' },
      responseHeadersToAdd: {},
      requestHeadersToRemove: [],
      httpStatus: 429,
      body: '{"error":"slow down"}',
    });
    assert.equal(interpretRequestResult({ allowed: false, http_status: 99 }).httpStatus, 403);
  });
});
