/**
 * The ext_authz hot path's wire format: envoy.service.auth.v3.CheckRequest decoded straight into the fields
 * the policy input needs (core/policy/request.ts CheckRequestLike), and CheckResponse bytes encoded once per
 * distinct decision.
 *
 * Why not proto-loader's deserializer: it decodes every field of the message into protobufjs objects and then
 * converts the whole tree with toObject (metadata, TLS session, labels, …) — under Envoy at 1,000 req/s that
 * was the largest share of the server's own JavaScript per Check. Here protobufjs's Reader walks the message
 * once and skips what the input does not use; field numbers are those of Envoy's
 * envoy/service/auth/v3/{external_auth,attribute_context}.proto and envoy/config/core/v3/{address,base}.proto.
 * check-codec.test.ts decodes the same bytes with proto-loader and compares the resulting policy inputs.
 *
 * Responses: most decisions are one of a few constants (allow without headers, the policy's deny), so their
 * bytes are encoded by the proto serializer once and reused (a small bounded cache keyed by the decision).
 */
import protobuf from 'protobufjs';
import type { CheckRequestLike, RequestDecision } from '../../core/policy/request';

const { Reader } = protobuf;
type ReaderT = protobuf.Reader;

type Peer = NonNullable<NonNullable<CheckRequestLike['attributes']>['source']>;
type HttpRequest = NonNullable<NonNullable<NonNullable<CheckRequestLike['attributes']>['request']>['http']>;

const WIRE_LEN = 2;

/** Calls `field(tag >>> 3, wireType)` for each field of the length-delimited message at the reader's position. */
function eachField(r: ReaderT, end: number, field: (no: number, wire: number) => boolean): void {
  while (r.pos < end) {
    const tag = r.uint32();
    if (!field(tag >>> 3, tag & 7)) r.skipType(tag & 7);
  }
}

/**
 * A length-delimited key = 1, value = 2 message at the reader's position: a map<string, string> entry, or a
 * config.core.v3.HeaderValue (whose raw_value = 3 carries the value as bytes).
 */
function readKeyValue(r: ReaderT): [string, string] {
  const end = r.uint32() + r.pos;
  let key = '';
  let value = '';
  eachField(r, end, (no, wire) => {
    if (wire !== WIRE_LEN) return false;
    if (no === 1) key = r.string();
    else if (no === 2) value = r.string();
    else if (no === 3) value = Buffer.from(r.bytes()).toString('utf8');
    else return false;
    return true;
  });
  return [key, value];
}

function readStringMapEntry(r: ReaderT, into: Record<string, string>): void {
  const [key, value] = readKeyValue(r);
  into[key] = value;
}

/** config.core.v3.HeaderMap: repeated HeaderValue headers = 1. */
function readHeaderMap(r: ReaderT, into: Record<string, string>): void {
  const end = r.uint32() + r.pos;
  eachField(r, end, (no, wire) => {
    if (no !== 1 || wire !== WIRE_LEN) return false;
    const [key, value] = readKeyValue(r);
    // As Envoy joins repeated headers in the `headers` map.
    into[key] = key in into ? `${into[key]},${value}` : value;
    return true;
  });
}

/** AttributeContext.Peer: address = 1 (Address.socket_address = 1: address = 2, port_value = 3), principal = 4. */
function readPeer(r: ReaderT): Peer {
  const end = r.uint32() + r.pos;
  const peer: Peer = {};
  eachField(r, end, (no, wire) => {
    if (no === 4 && wire === WIRE_LEN) {
      peer.principal = r.string();
      return true;
    }
    if (no !== 1 || wire !== WIRE_LEN) return false;
    const aEnd = r.uint32() + r.pos;
    eachField(r, aEnd, (ano, awire) => {
      if (ano !== 1 || awire !== WIRE_LEN) return false;
      const sEnd = r.uint32() + r.pos;
      const socket: { address?: string; port_value?: number } = {};
      eachField(r, sEnd, (sno, swire) => {
        if (sno === 2 && swire === WIRE_LEN) socket.address = r.string();
        else if (sno === 3 && swire === 0) socket.port_value = r.uint32();
        else return false;
        return true;
      });
      peer.address = { socket_address: socket };
      return true;
    });
    return true;
  });
  return peer;
}

function readHttp(r: ReaderT): HttpRequest {
  const end = r.uint32() + r.pos;
  const http: HttpRequest = {};
  eachField(r, end, (no, wire) => {
    if (no === 9 && wire === 0) {
      http.size = r.int64().toString();
      return true;
    }
    if (wire !== WIRE_LEN) return false;
    switch (no) {
      case 1: http.id = r.string(); break;
      case 2: http.method = r.string(); break;
      case 3: readStringMapEntry(r, (http.headers ??= {})); break;
      case 4: http.path = r.string(); break;
      case 5: http.host = r.string(); break;
      case 6: http.scheme = r.string(); break;
      case 7: http.query = r.string(); break;
      case 8: http.fragment = r.string(); break;
      case 10: http.protocol = r.string(); break;
      case 11: http.body = r.string(); break;
      // raw_body (pack_as_bytes): the input carries the body as a string either way.
      case 12: http.body = Buffer.from(r.bytes()).toString('utf8'); break;
      case 13: readHeaderMap(r, (http.headers ??= {})); break;
      default: return false;
    }
    return true;
  });
  return http;
}

/** Decodes the fields of a CheckRequest that buildRequestInput reads; everything else is skipped. */
export function decodeCheckRequest(bytes: Uint8Array): CheckRequestLike {
  const r = Reader.create(bytes);
  const attributes: NonNullable<CheckRequestLike['attributes']> = {};
  eachField(r, bytes.length, (no, wire) => {
    if (no !== 1 || wire !== WIRE_LEN) return false;
    const aEnd = r.uint32() + r.pos;
    eachField(r, aEnd, (ano, awire) => {
      if (awire !== WIRE_LEN) return false;
      if (ano === 1) attributes.source = readPeer(r);
      else if (ano === 2) attributes.destination = readPeer(r);
      else if (ano === 10) readStringMapEntry(r, (attributes.context_extensions ??= {}));
      else if (ano === 4) {
        const rEnd = r.uint32() + r.pos;
        const request: NonNullable<(typeof attributes)['request']> = {};
        eachField(r, rEnd, (rno, rwire) => {
          if (rwire !== WIRE_LEN) return false;
          if (rno === 2) request.http = readHttp(r);
          else if (rno === 1) {
            // google.protobuf.Timestamp: seconds = 1 (int64), nanos = 2 (int32)
            const tEnd = r.uint32() + r.pos;
            const time: { seconds?: string; nanos?: number } = {};
            eachField(r, tEnd, (tno, twire) => {
              if (twire !== 0) return false;
              if (tno === 1) time.seconds = r.int64().toString();
              else if (tno === 2) time.nanos = r.int32();
              else return false;
              return true;
            });
            request.time = time;
          } else return false;
          return true;
        });
        attributes.request = request;
      } else return false;
      return true;
    });
    return true;
  });
  return { attributes };
}

/**
 * CheckResponse bytes for `decision`, from `serialize` (the proto serializer of checkResponseOf's object),
 * cached for decisions without headers (the common case: plain allow, the policy's deny status and body).
 */
export function createCheckResponseEncoder(serialize: (d: RequestDecision) => Buffer, maxCached = 256): (d: RequestDecision) => Buffer {
  const cache = new Map<string, Buffer>();
  return (d) => {
    const plain =
      d.requestHeadersToRemove.length === 0 && isEmpty(d.headers) && isEmpty(d.responseHeadersToAdd);
    if (!plain) return serialize(d);
    const key = d.allowed ? 'allow' : `deny:${d.httpStatus}:${d.body}`;
    let bytes = cache.get(key);
    if (bytes === undefined) {
      bytes = serialize(d);
      if (cache.size >= maxCached) cache.delete(cache.keys().next().value!);
      cache.set(key, bytes);
    }
    return bytes;
  };
}

function isEmpty(o: Record<string, string>): boolean {
  for (const _ in o) return false;
  return true;
}
