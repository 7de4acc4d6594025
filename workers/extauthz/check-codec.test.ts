/**
 * The hot-path CheckRequest decoder against proto-loader's full decoder of Envoy's own protos: for the same
 * bytes, the policy input built from either is the same (fields the input does not use are skipped, even
 * when present); header_map (Envoy's encode_raw_headers) lands in the headers. And cached CheckResponse bytes
 * decode to the response of the decision.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { buildRequestInput, interpretRequestResult, type CheckRequestLike, type RequestDecision } from '../../core/policy/request';
import { createCheckResponseEncoder, decodeCheckRequest } from './check-codec';
import { checkResponseOf, loadExtAuthzProtos } from './extauthz.server';

const def = loadExtAuthzProtos() as unknown as { envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } } };
const Check = def.envoy.service.auth.v3.Authorization.service.Check!;

const peer = (address: string, port: number, extra: Record<string, unknown> = {}) => ({ address: { socket_address: { address, port_value: port } }, ...extra });

const requests: Record<string, unknown>[] = [
  {},
  { attributes: {} },
  {
    attributes: {
      source: peer('127.0.0.1', 43210, { principal: 'spiffe://a/b', service: 'svc', labels: { a: 'b' }, certificate: 'PEM' }),
      destination: peer('::1', 10000),
      request: {
        time: { seconds: '1763890000', nanos: 123456789 },
        http: {
          id: '1234567890123',
          method: 'POST',
          headers: { ':authority': 'example.test', ':path': '/a/b%20c?x=1&x=2&y', 'content-type': 'application/json', 'x-ünïcode': 'välue ✓', authorization: 'Bearer abc' },
          path: '/a/b%20c?x=1&x=2&y',
          host: 'example.test',
          scheme: 'https',
          query: 'x=1&x=2&y',
          fragment: 'frag',
          size: '17',
          protocol: 'HTTP/2',
          body: '{"hello":"world"}',
        },
      },
      context_extensions: { policy: 'p', tenant: 't', route: 'r', virtual_host: 'vh' },
      metadata_context: { filter_metadata: { 'envoy.filters.http.jwt_authn': { fields: { sub: { string_value: 'alice' } } } } },
      route_metadata_context: { filter_metadata: { x: { fields: { y: { number_value: 1 } } } } },
      tls_session: { sni: 'example.test' },
    },
  },
  { attributes: { request: { http: { method: 'GET', path: '/', size: '-1' } }, context_extensions: { policy: '' } } },
  { attributes: { request: { time: { seconds: '0', nanos: 5 } }, destination: { address: { pipe: { path: '/tmp/sock' } } } } },
];

test('the decoded CheckRequest gives the same policy input as proto-loader decoding the same bytes', () => {
  for (const req of requests) {
    const bytes = Check.requestSerialize(req);
    const full = Check.requestDeserialize(bytes) as CheckRequestLike;
    assert.deepEqual(buildRequestInput(decodeCheckRequest(bytes)), buildRequestInput(full), JSON.stringify(req));
  }
});

test('header_map (raw headers) is read into the headers; raw_body into the body', () => {
  const bytes = Check.requestSerialize({
    attributes: {
      request: {
        http: {
          method: 'GET',
          path: '/',
          header_map: { headers: [{ key: 'x-a', raw_value: Buffer.from('1') }, { key: 'x-a', raw_value: Buffer.from('2') }, { key: 'x-b', value: 'v' }] },
          raw_body: Buffer.from('raw'),
        },
      },
    },
  });
  const input = buildRequestInput(decodeCheckRequest(bytes));
  assert.deepEqual(input.attributes.request.http.headers, { 'x-a': '1,2', 'x-b': 'v' });
  assert.equal(input.attributes.request.http.body, 'raw');
});

test('truncated bytes are refused, not half-read', () => {
  const bytes = Check.requestSerialize(requests[2]!);
  assert.throws(() => decodeCheckRequest(bytes.subarray(0, bytes.length - 7)));
});

test('cached CheckResponse bytes decode to the response of each decision', () => {
  const serialize = (d: RequestDecision) => Check.responseSerialize(checkResponseOf(d));
  const encode = createCheckResponseEncoder(serialize, 2);
  const decisions = [
    interpretRequestResult(true),
    interpretRequestResult(false),
    interpretRequestResult({ allowed: false, http_status: 401, body: 'who are you?' }),
    interpretRequestResult({ allowed: true, headers: { 'x-user': 'alice' } }),
    interpretRequestResult({ allowed: false, http_status: 429, body: 'slow down' }),
    interpretRequestResult(true),
  ];
  for (const d of decisions) {
    const bytes = encode(d);
    assert.deepEqual(Check.responseDeserialize(bytes), Check.responseDeserialize(serialize(d)));
    assert.equal(encode(d).equals(bytes), true);
  }
  // Same decision, same bytes object (so the transport can reuse its framing).
  assert.equal(encode(interpretRequestResult(true)), encode(interpretRequestResult(true)));
});
