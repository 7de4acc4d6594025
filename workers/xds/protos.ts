/**
 * Envoy's xDS protos, loaded at run time with protobufjs from the .proto files @grpc/grpc-js-xds ships
 * (deps/envoy-api, xds, googleapis, protoc-gen-validate), never hand-copied. Provides:
 *   - proto3-JSON → protobuf conversion for snapshot resources (Duration "1.5s", wrappers as plain
 *     numbers, Struct, nested `@type` Any), strict: unknown fields and enum names are errors with a path;
 *   - encoding of a resource into google.protobuf.Any;
 *   - DiscoveryRequest / DiscoveryResponse and their Delta* counterparts, (de)serialized for the ADS gRPC service.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import protobuf from 'protobufjs';

const PROTO_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  // ext_authz filter + ExtAuthzPerRoute (request policies, issue 4)
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  // SDS Secret, Downstream/UpstreamTlsContext (certificates, issue 8)
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
];

/** A google.protobuf.Any ready for DiscoveryResponse.resources. */
export interface EncodedAny {
  type_url: string;
  value: Uint8Array;
}

/** A DiscoveryRequest as the ADS server sees it (proto field names, defaults filled in). */
export interface DiscoveryRequest {
  version_info: string;
  node: DiscoveryNode | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail: { code: number; message: string } | null;
}

export interface DiscoveryNode {
  id: string;
  cluster: string;
  /** node.metadata as plain JSON. */
  metadata: Record<string, unknown>;
  /** "envoy/1.40.0", "gRPC Node Pure JS/1.14.1", … */
  userAgent: string;
}

/** A DiscoveryRequest to encode (clients, tests): `node` in proto3-JSON form (envoy.config.core.v3.Node). */
export type DiscoveryRequestInput = Omit<Partial<DiscoveryRequest>, 'node'> & { node?: Record<string, unknown> };

export interface DiscoveryResponse {
  version_info: string;
  resources: EncodedAny[];
  type_url: string;
  nonce: string;
}

/** A DeltaDiscoveryRequest as the ADS server sees it (incremental xDS). */
export interface DeltaDiscoveryRequest {
  node: DiscoveryNode | null;
  type_url: string;
  resource_names_subscribe: string[];
  resource_names_unsubscribe: string[];
  /** Resources the client already has (first request of a stream, after a reconnect): name → version. */
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail: { code: number; message: string } | null;
}

export type DeltaDiscoveryRequestInput = Omit<Partial<DeltaDiscoveryRequest>, 'node'> & { node?: Record<string, unknown> };

/** One resource of a DeltaDiscoveryResponse. */
export interface DeltaResource {
  name: string;
  version: string;
  resource: EncodedAny;
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: DeltaResource[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
}

/** A message in proto3-JSON form naming its type. */
export type ProtoJsonMessage = { '@type': string } & Record<string, unknown>;

export class ProtoJsonError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'ProtoJsonError';
  }
}

export interface XdsProtos {
  root: protobuf.Root;
  /** Encode a proto3-JSON resource carrying `@type` as google.protobuf.Any. Throws ProtoJsonError. */
  encodeAny(resource: ProtoJsonMessage): EncodedAny;
  /** Decode an Any back to a plain object with `@type` (enums as names, 64-bit ints as strings). */
  decodeAny(any: EncodedAny): Record<string, unknown>;
  /** proto3 JSON → a protobufjs message of `typeName` (for tests and tools). */
  fromJson(typeName: string, json: unknown): protobuf.Message;
  encodeDiscoveryRequest(req: DiscoveryRequestInput): Uint8Array;
  decodeDiscoveryRequest(bytes: Uint8Array): DiscoveryRequest;
  encodeDiscoveryResponse(res: DiscoveryResponse): Uint8Array;
  /**
   * A DiscoveryResponse without its nonce, encoded once and shared by every stream it goes to; `withNonce`
   * makes one stream's response of it (protobuf allows fields in any order, so appending the nonce field
   * gives the same message as encoding it with the nonce).
   */
  encodeDiscoveryResponseBody(res: Omit<DiscoveryResponse, 'nonce'>): Uint8Array;
  withNonce(body: Uint8Array, nonce: string): Buffer;
  decodeDiscoveryResponse(bytes: Uint8Array): DiscoveryResponse;
  encodeDeltaDiscoveryRequest(req: DeltaDiscoveryRequestInput): Uint8Array;
  decodeDeltaDiscoveryRequest(bytes: Uint8Array): DeltaDiscoveryRequest;
  encodeDeltaDiscoveryResponse(res: DeltaDiscoveryResponse): Uint8Array;
  decodeDeltaDiscoveryResponse(bytes: Uint8Array): DeltaDiscoveryResponse;
}

let loaded: XdsProtos | undefined;

/** The protos, loaded once per process (~0.5 s). */
export function loadXdsProtos(): XdsProtos {
  loaded ??= createXdsProtos();
  return loaded;
}

function includeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const xdsPkg = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const pbPkg = path.dirname(require.resolve('protobufjs/package.json'));
  return [
    ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(xdsPkg, 'deps', d)),
    // google/protobuf/descriptor.proto (extended by Envoy's annotations)
    pbPkg,
  ];
}

function createXdsProtos(): XdsProtos {
  const dirs = includeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of dirs) {
      const file = path.join(dir, target);
      if (existsSync(file)) return file;
    }
    // protobufjs skips imports it cannot resolve; resolveAll() then names what is missing.
    return null as unknown as string;
  };
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();

  const DiscoveryRequestType = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  const DiscoveryResponseType = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  const DeltaRequestType = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  const DeltaResponseType = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  const converter = new Proto3JsonConverter(root);
  const nodeFromJson = (node: Record<string, unknown>) =>
    converter.messageFromJson(root.lookupType('envoy.config.core.v3.Node'), node, '$.node');
  const NodeType = root.lookupType('envoy.config.core.v3.Node');
  const nodeToObject = (node: protobuf.Message) =>
    NodeType.toObject(node, { longs: String, enums: String, defaults: true }) as Record<string, unknown>;
  const nonceTag = (DiscoveryResponseType.fields.nonce!.id << 3) | 2;
  const errorDetail = (raw: unknown) =>
    raw
      ? { code: Number((raw as Record<string, unknown>).code ?? 0), message: String((raw as Record<string, unknown>).message ?? '') }
      : null;

  const encodeAny = (resource: ProtoJsonMessage): EncodedAny => converter.anyFromJson(resource, '$');

  const decodeAny = (any: EncodedAny): Record<string, unknown> => {
    const type = converter.typeOfUrl(any.type_url, '$');
    const message = type.decode(any.value);
    return {
      '@type': any.type_url,
      ...type.toObject(message, { enums: String, longs: String, bytes: String, json: true }),
    };
  };

  return {
    root,
    encodeAny,
    decodeAny,
    fromJson: (typeName, json) => {
      const type = root.lookupType(typeName);
      return type.fromObject(converter.messageFromJson(type, json, '$'));
    },
    encodeDiscoveryRequest: (req) => {
      const obj: Record<string, unknown> = { ...req };
      if (req.node !== undefined && req.node !== null) {
        obj.node = converter.messageFromJson(root.lookupType('envoy.config.core.v3.Node'), req.node, '$.node');
      }
      return DiscoveryRequestType.encode(DiscoveryRequestType.fromObject(obj)).finish();
    },
    // Requests arrive for every ACK of every proxy: read the decoded message's fields directly (no toObject
    // of the whole request; only the node, sent once per stream, is converted).
    decodeDiscoveryRequest: (bytes) => {
      const m = DiscoveryRequestType.decode(bytes) as unknown as RawDiscoveryRequest;
      return {
        version_info: m.version_info,
        node: m.node ? toDiscoveryNode(nodeToObject(m.node)) : null,
        resource_names: m.resource_names.length > 0 ? m.resource_names : [],
        type_url: m.type_url,
        response_nonce: m.response_nonce,
        error_detail: m.error_detail ? { code: m.error_detail.code, message: m.error_detail.message } : null,
      };
    },
    encodeDeltaDiscoveryRequest: (req) => {
      const obj: Record<string, unknown> = { ...req };
      if (req.node !== undefined && req.node !== null) obj.node = nodeFromJson(req.node);
      return DeltaRequestType.encode(DeltaRequestType.fromObject(obj)).finish();
    },
    decodeDeltaDiscoveryRequest: (bytes) => {
      const raw = DeltaRequestType.toObject(DeltaRequestType.decode(bytes), { longs: String, enums: String, defaults: true }) as Record<
        string,
        unknown
      >;
      const strings = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
      const initial: Record<string, string> = {};
      for (const [k, v] of Object.entries((raw.initial_resource_versions as Record<string, unknown> | undefined) ?? {})) initial[k] = String(v);
      return {
        node: raw.node ? toDiscoveryNode(raw.node as Record<string, unknown>) : null,
        type_url: String(raw.type_url ?? ''),
        resource_names_subscribe: strings(raw.resource_names_subscribe),
        resource_names_unsubscribe: strings(raw.resource_names_unsubscribe),
        initial_resource_versions: initial,
        response_nonce: String(raw.response_nonce ?? ''),
        error_detail: errorDetail(raw.error_detail),
      };
    },
    // Responses are built by the server in the exact shape protobufjs encodes (snake_case fields, Any as
    // { type_url, value: bytes }), so they are encoded as they are, without a fromObject copy.
    encodeDeltaDiscoveryResponse: (res) => DeltaResponseType.encode(res).finish(),
    decodeDeltaDiscoveryResponse: (bytes) => {
      const raw = DeltaResponseType.toObject(DeltaResponseType.decode(bytes), { defaults: true }) as Record<string, unknown>;
      return {
        system_version_info: String(raw.system_version_info ?? ''),
        type_url: String(raw.type_url ?? ''),
        nonce: String(raw.nonce ?? ''),
        removed_resources: Array.isArray(raw.removed_resources) ? raw.removed_resources.map(String) : [],
        resources: ((raw.resources as { name: string; version: string; resource?: { type_url: string; value: Uint8Array } }[] | undefined) ?? []).map(
          (r) => ({ name: r.name, version: r.version, resource: { type_url: r.resource?.type_url ?? '', value: r.resource?.value ?? new Uint8Array() } }),
        ),
      };
    },
    encodeDiscoveryResponse: (res) => DiscoveryResponseType.encode(res).finish(),
    encodeDiscoveryResponseBody: ({ version_info, resources, type_url }) => DiscoveryResponseType.encode({ version_info, resources, type_url }).finish(),
    withNonce: (body, nonce) => {
      const field = protobuf.Writer.create().uint32(nonceTag).string(nonce).finish();
      const out = Buffer.allocUnsafe(body.length + field.length);
      out.set(body, 0);
      out.set(field, body.length);
      return out;
    },
    decodeDiscoveryResponse: (bytes) => {
      const raw = DiscoveryResponseType.toObject(DiscoveryResponseType.decode(bytes), { defaults: true }) as Record<string, unknown>;
      return {
        version_info: String(raw.version_info ?? ''),
        type_url: String(raw.type_url ?? ''),
        nonce: String(raw.nonce ?? ''),
        resources: ((raw.resources as { type_url: string; value: Uint8Array }[] | undefined) ?? []).map((r) => ({
          type_url: r.type_url,
          value: r.value,
        })),
      };
    },
  };
}

/** A decoded DiscoveryRequest (protobufjs fills in proto3 defaults: '' and []). */
interface RawDiscoveryRequest {
  version_info: string;
  node: protobuf.Message | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail: { code: number; message: string } | null;
}

function toDiscoveryNode(node: Record<string, unknown>): DiscoveryNode {
  const metadata = node.metadata ? structToJson(node.metadata) : {};
  const name = String(node.user_agent_name ?? '');
  let version = String(node.user_agent_version ?? '');
  const build = node.user_agent_build_version as { version?: { major_number?: number; minor_number?: number; patch?: number } } | undefined;
  if (version === '' && build?.version) {
    version = `${build.version.major_number ?? 0}.${build.version.minor_number ?? 0}.${build.version.patch ?? 0}`;
  }
  return {
    id: String(node.id ?? ''),
    cluster: String(node.cluster ?? ''),
    metadata: metadata as Record<string, unknown>,
    userAgent: version === '' ? name : `${name}/${version}`,
  };
}

/** google.protobuf.Struct (as protobufjs toObject output) → plain JSON. */
function structToJson(struct: unknown): Record<string, unknown> {
  const fields = (struct as { fields?: Record<string, unknown> }).fields ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = valueToJson(v);
  return out;
}

function valueToJson(value: unknown): unknown {
  const v = (value ?? {}) as Record<string, unknown>;
  const pick = (snake: string, camel: string) => (v[snake] !== undefined ? v[snake] : v[camel]);
  const str = pick('string_value', 'stringValue');
  if (str !== undefined) return str;
  const num = pick('number_value', 'numberValue');
  if (num !== undefined) return num;
  const bool = pick('bool_value', 'boolValue');
  if (bool !== undefined) return bool;
  const st = pick('struct_value', 'structValue');
  if (st !== undefined) return structToJson(st);
  const list = pick('list_value', 'listValue') as { values?: unknown[] } | undefined;
  if (list !== undefined) return (list.values ?? []).map(valueToJson);
  return null;
}

// ------------------------------------------------------------------------------------------ proto3 JSON

const WRAPPERS = new Set([
  '.google.protobuf.DoubleValue',
  '.google.protobuf.FloatValue',
  '.google.protobuf.Int64Value',
  '.google.protobuf.UInt64Value',
  '.google.protobuf.Int32Value',
  '.google.protobuf.UInt32Value',
  '.google.protobuf.BoolValue',
  '.google.protobuf.StringValue',
  '.google.protobuf.BytesValue',
]);

const INT32_TYPES = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32_TYPES = new Set(['uint32', 'fixed32']);
const INT64_TYPES = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);

/**
 * Turns proto3 JSON (field names as in the .proto or lowerCamelCase) into the plain-object form
 * protobufjs' `fromObject` expects, validating as it goes.
 */
class Proto3JsonConverter {
  private readonly aliases = new Map<protobuf.Type, Map<string, protobuf.Field>>();

  constructor(private readonly root: protobuf.Root) {}

  typeOfUrl(typeUrl: string, path: string): protobuf.Type {
    const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    try {
      return this.root.lookupType(name);
    } catch {
      throw new ProtoJsonError(path, `unknown message type "${typeUrl}" (not among the loaded protos)`);
    }
  }

  anyFromJson(json: unknown, path: string): EncodedAny {
    if (!isPlainObject(json) || typeof json['@type'] !== 'string') {
      throw new ProtoJsonError(path, 'an Any needs an object with "@type"');
    }
    const typeUrl = json['@type'];
    const type = this.typeOfUrl(typeUrl, `${path}["@type"]`);
    const { '@type': _ignored, ...rest } = json;
    // Well-known types with a special JSON form are wrapped as {"@type": …, "value": <json>}.
    const body = hasSpecialJson(type) ? rest.value : rest;
    const plain = this.messageFromJson(type, body, path);
    return { type_url: typeUrl, value: type.encode(type.fromObject(plain)).finish() };
  }

  messageFromJson(type: protobuf.Type, json: unknown, path: string): Record<string, unknown> {
    const special = this.wellKnownFromJson(type, json, path);
    if (special !== undefined) return special;
    if (!isPlainObject(json)) throw new ProtoJsonError(path, `expected an object for ${type.fullName.slice(1)}`);
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(json)) {
      const field = this.field(type, key);
      const fieldPath = `${path}.${key}`;
      if (field === undefined) throw new ProtoJsonError(fieldPath, `unknown field of ${type.fullName.slice(1)}`);
      if (value === null || value === undefined) continue;
      if (field.map) {
        if (!isPlainObject(value)) throw new ProtoJsonError(fieldPath, 'expected an object (map)');
        const m: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) m[k] = this.valueFromJson(field, v, `${fieldPath}[${JSON.stringify(k)}]`);
        out[field.name] = m;
      } else if (field.repeated) {
        if (!Array.isArray(value)) throw new ProtoJsonError(fieldPath, 'expected an array');
        out[field.name] = value.map((v, i) => this.valueFromJson(field, v, `${fieldPath}[${i}]`));
      } else {
        out[field.name] = this.valueFromJson(field, value, fieldPath);
      }
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => out[f.name] !== undefined);
      if (set.length > 1) {
        throw new ProtoJsonError(path, `fields ${set.map((f) => f.name).join(', ')} are alternatives (oneof ${oneof.name}); set one`);
      }
    }
    return out;
  }

  private field(type: protobuf.Type, key: string): protobuf.Field | undefined {
    let aliases = this.aliases.get(type);
    if (aliases === undefined) {
      aliases = new Map();
      for (const f of type.fieldsArray) {
        aliases.set(f.name, f);
        aliases.set(f.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()), f);
        const jsonName = (f.options as Record<string, unknown> | undefined)?.json_name;
        if (typeof jsonName === 'string') aliases.set(jsonName, f);
      }
      this.aliases.set(type, aliases);
    }
    return aliases.get(key);
  }

  private valueFromJson(field: protobuf.Field, value: unknown, path: string): unknown {
    field.resolve();
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Type) {
      if (rt.fullName === '.google.protobuf.Any') return this.anyFromJson(value, path);
      return this.messageFromJson(rt, value, path);
    }
    if (rt instanceof protobuf.Enum) {
      if (typeof value === 'string') {
        if (rt.values[value] === undefined) {
          throw new ProtoJsonError(path, `"${value}" is not a value of ${rt.fullName.slice(1)} (${Object.keys(rt.values).join(', ')})`);
        }
        return value;
      }
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      throw new ProtoJsonError(path, `expected an enum name of ${rt.fullName.slice(1)}`);
    }
    return scalarFromJson(field.type, value, path);
  }

  /** The JSON forms of google.protobuf well-known types; undefined when `type` is not one. */
  private wellKnownFromJson(type: protobuf.Type, json: unknown, path: string): Record<string, unknown> | undefined {
    const byId = (id: number) => {
      const f = type.fieldsById[id];
      if (f === undefined) throw new Error(`${type.fullName} has no field ${id}`);
      return f.name;
    };
    switch (type.fullName) {
      case '.google.protobuf.Duration': {
        const m = typeof json === 'string' ? /^(-)?(\d{1,12})(?:\.(\d{1,9}))?s$/.exec(json) : null;
        if (!m) throw new ProtoJsonError(path, 'expected a duration like "1.5s"');
        const sign = m[1] ? -1 : 1;
        return { [byId(1)]: sign * Number(m[2]), [byId(2)]: sign * Number((m[3] ?? '').padEnd(9, '0') || '0') };
      }
      case '.google.protobuf.Timestamp': {
        const ms = typeof json === 'string' ? Date.parse(json) : NaN;
        if (Number.isNaN(ms)) throw new ProtoJsonError(path, 'expected an RFC 3339 timestamp');
        return { [byId(1)]: Math.floor(ms / 1000), [byId(2)]: (ms % 1000) * 1_000_000 };
      }
      case '.google.protobuf.Struct':
        if (!isPlainObject(json)) throw new ProtoJsonError(path, 'expected an object (Struct)');
        return { [byId(1)]: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, this.structValue(v, `${path}.${k}`)])) };
      case '.google.protobuf.Value':
        return this.structValue(json, path);
      case '.google.protobuf.ListValue':
        if (!Array.isArray(json)) throw new ProtoJsonError(path, 'expected an array (ListValue)');
        return { [byId(1)]: json.map((v, i) => this.structValue(v, `${path}[${i}]`)) };
      case '.google.protobuf.Empty':
        if (!isPlainObject(json) || Object.keys(json).length > 0) throw new ProtoJsonError(path, 'expected {}');
        return {};
      case '.google.protobuf.FieldMask':
        if (typeof json !== 'string') throw new ProtoJsonError(path, 'expected a field mask string');
        return { [byId(1)]: json === '' ? [] : json.split(',') };
      default:
        if (WRAPPERS.has(type.fullName)) {
          const valueField = type.fieldsById[1]!;
          return { [valueField.name]: scalarFromJson(valueField.type, json, path) };
        }
        return undefined;
    }
  }

  private structValue(json: unknown, path: string): Record<string, unknown> {
    const valueType = this.root.lookupType('google.protobuf.Value');
    const name = (id: number) => valueType.fieldsById[id]!.name;
    if (json === null) return { [name(1)]: 0 };
    if (typeof json === 'number') return { [name(2)]: json };
    if (typeof json === 'string') return { [name(3)]: json };
    if (typeof json === 'boolean') return { [name(4)]: json };
    if (Array.isArray(json)) {
      return { [name(6)]: { values: json.map((v, i) => this.structValue(v, `${path}[${i}]`)) } };
    }
    if (isPlainObject(json)) {
      return {
        [name(5)]: { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, this.structValue(v, `${path}.${k}`)])) },
      };
    }
    throw new ProtoJsonError(path, 'not representable as google.protobuf.Value');
  }
}

function hasSpecialJson(type: protobuf.Type): boolean {
  return (
    WRAPPERS.has(type.fullName) ||
    [
      '.google.protobuf.Duration',
      '.google.protobuf.Timestamp',
      '.google.protobuf.Struct',
      '.google.protobuf.Value',
      '.google.protobuf.ListValue',
      '.google.protobuf.FieldMask',
    ].includes(type.fullName)
  );
}

function scalarFromJson(kind: string, value: unknown, path: string): unknown {
  const fail = (what: string): never => {
    throw new ProtoJsonError(path, `expected ${what}, got ${JSON.stringify(value)}`);
  };
  if (kind === 'string') return typeof value === 'string' ? value : fail('a string');
  if (kind === 'bool') return typeof value === 'boolean' ? value : fail('true or false');
  if (kind === 'bytes') {
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) return fail('base64 bytes');
    return Buffer.from(value, 'base64');
  }
  if (kind === 'double' || kind === 'float') {
    if (typeof value === 'number') return value;
    if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return Number(value);
    if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
    return fail('a number');
  }
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n)) return fail('an integer');
  if (INT32_TYPES.has(kind) && (n < -0x8000_0000 || n > 0x7fff_ffff)) return fail('a 32-bit integer');
  if (UINT32_TYPES.has(kind) && (n < 0 || n > 0xffff_ffff)) return fail('an unsigned 32-bit integer');
  if (INT64_TYPES.has(kind)) {
    if (kind.startsWith('u') || kind === 'fixed64') {
      if (n < 0) return fail('an unsigned integer');
    }
    // Keep big values exact: protobufjs accepts decimal strings for 64-bit fields.
    return typeof value === 'string' ? value : n;
  }
  return n;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
