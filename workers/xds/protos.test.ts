/* eslint-disable @typescript-eslint/no-explicit-any -- the tests poke into Envoy resource JSON */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteGraphSchema } from '../../contracts/route-graph.schema';
import { compileSnapshots } from '../../core/xds/compile';
import { PUSH_ORDER, TYPE_URL } from '../../core/xds/snapshot';
import { richRouteGraph } from '../../test/fixtures/route-graphs';
import { loadXdsProtos, ProtoJsonError } from './protos';

const protos = loadXdsProtos();

describe('xDS protos', () => {
  it('encodes every resource the compiler produces and decodes it back', () => {
    for (const snapshot of compileSnapshots(RouteGraphSchema.parse(richRouteGraph()))) {
      for (const kind of PUSH_ORDER) {
        for (const resource of snapshot.resources[kind]) {
          const any = protos.encodeAny(resource);
          assert.equal(any.type_url, TYPE_URL[kind]);
          assert.ok(any.value.length > 0);
          const decoded = protos.decodeAny(any);
          assert.equal(decoded['@type'], TYPE_URL[kind]);
          assert.equal(decoded.name ?? decoded.cluster_name, resource.name ?? resource.cluster_name);
        }
      }
    }
  });

  it('converts proto3 JSON forms: durations, wrappers, enums, nested Any, camelCase names', () => {
    const any = protos.encodeAny({
      '@type': TYPE_URL.clusters,
      name: 'c',
      connectTimeout: '1.250s',
      lb_policy: 'LEAST_REQUEST',
      per_connection_buffer_limit_bytes: 1024,
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
    });
    const decoded = protos.decodeAny(any) as Record<string, any>;
    assert.deepEqual(decoded.connect_timeout, { seconds: '1', nanos: 250_000_000 });
    assert.equal(decoded.lb_policy, 'LEAST_REQUEST');
    assert.deepEqual(decoded.per_connection_buffer_limit_bytes, { value: 1024 });
    const opts = decoded.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    assert.equal(opts['@type'], 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions');
    assert.ok(opts.explicit_http_config.http2_protocol_options);
  });

  it('rejects unknown fields, enum names, types and oneof conflicts with a path', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ name: 'c', connect_timeout: '1s', bogus: true }, /^\$\.bogus: unknown field of envoy.config.cluster.v3.Cluster$/],
      [{ name: 'c', lb_policy: 'FASTEST' }, /^\$\.lb_policy: "FASTEST" is not a value/],
      [{ name: 'c', connect_timeout: '1 second' }, /^\$\.connect_timeout: expected a duration/],
      [{ name: 'c', type: 'EDS', cluster_type: { name: 'x' } }, /alternatives \(oneof cluster_discovery_type\)/],
      [{ name: 'c', circuit_breakers: { thresholds: [{ max_connections: -1 }] } }, /^\$\.circuit_breakers\.thresholds\[0\]\.max_connections: expected an unsigned 32-bit integer/],
    ];
    for (const [json, message] of bad) {
      assert.throws(() => protos.encodeAny({ '@type': TYPE_URL.clusters, ...json }), (err: unknown) => {
        assert.ok(err instanceof ProtoJsonError, String(err));
        assert.match(err.message, message);
        return true;
      });
    }
    assert.throws(() => protos.encodeAny({ '@type': 'type.googleapis.com/envoy.Nope' }), /unknown message type/);
  });

  it('round-trips DiscoveryRequest with node metadata and error_detail', () => {
    const bytes = protos.encodeDiscoveryRequest({
      node: { id: 'n', cluster: 'c', metadata: { tenant: 'demo', node_group: 'edge', n: 1, nested: { a: [true, null] } }, user_agent_name: 'envoy' },
      type_url: TYPE_URL.listeners,
      resource_names: ['a'],
      response_nonce: 'x-1',
      version_info: 'v',
      error_detail: { code: 3, message: 'boom' },
    });
    const req = protos.decodeDiscoveryRequest(bytes);
    assert.deepEqual(req.node, {
      id: 'n',
      cluster: 'c',
      metadata: { tenant: 'demo', node_group: 'edge', n: 1, nested: { a: [true, null] } },
      userAgent: 'envoy',
    });
    assert.deepEqual(
      { ...req, node: null },
      { version_info: 'v', node: null, resource_names: ['a'], type_url: TYPE_URL.listeners, response_nonce: 'x-1', error_detail: { code: 3, message: 'boom' } },
    );
    const plain = protos.decodeDiscoveryRequest(protos.encodeDiscoveryRequest({ type_url: TYPE_URL.clusters }));
    assert.equal(plain.error_detail, null);
    assert.equal(plain.node, null);
  });
});
