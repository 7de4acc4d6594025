/**
 * Request policies: the OPA-Envoy-shaped input built from an ext_authz CheckRequest, and the reading of the
 * policy's `allow` result. Pure.
 */

/** The parts of envoy.service.auth.v3.CheckRequest the input uses (proto field names, as decoded). */
export interface CheckRequestLike {
  attributes?: {
    source?: PeerLike | null;
    destination?: PeerLike | null;
    request?: {
      time?: { seconds?: string | number; nanos?: number } | null;
      http?: {
        id?: string;
        method?: string;
        headers?: Record<string, string>;
        path?: string;
        host?: string;
        scheme?: string;
        query?: string;
        fragment?: string;
        size?: string | number;
        protocol?: string;
        body?: string;
      } | null;
    } | null;
    context_extensions?: Record<string, string>;
  } | null;
}

interface PeerLike {
  address?: { socket_address?: { address?: string; port_value?: number } | null } | null;
  principal?: string;
}

export interface RequestInput {
  attributes: {
    source: { address: { socketAddress: { address: string; portValue: number } }; principal?: string };
    destination: { address: { socketAddress: { address: string; portValue: number } }; principal?: string };
    request: {
      time?: string;
      http: {
        id: string;
        method: string;
        headers: Record<string, string>;
        path: string;
        host: string;
        scheme: string;
        protocol: string;
        size?: number;
        body?: string;
      };
    };
    contextExtensions: Record<string, string>;
  };
  /** Path segments without the query, percent-decoded: "/a/b%20c?x=1" → ["a", "b c"]; "/" → [""]. */
  parsed_path: string[];
  /** Query parameters, each with all its values: "?a=1&a=2&b" → { a: ["1","2"], b: [""] }. */
  parsed_query: Record<string, string[]>;
  /** The request body parsed as JSON when it was sent and is JSON. */
  parsed_body?: unknown;
}

function peer(p: PeerLike | null | undefined): RequestInput['attributes']['source'] {
  const sa = p?.address?.socket_address;
  const out: RequestInput['attributes']['source'] = {
    address: { socketAddress: { address: sa?.address ?? '', portValue: sa?.port_value ?? 0 } },
  };
  if (p?.principal) out.principal = p.principal;
  return out;
}

export function buildRequestInput(req: CheckRequestLike): RequestInput {
  const attrs = req.attributes ?? {};
  const http = attrs.request?.http ?? {};
  const path = http.path ?? '/';
  const { parsedPath, parsedQuery } = parsePathAndQuery(path);
  const headers: Record<string, string> = {};
  const raw = http.headers;
  if (raw) for (const k in raw) headers[k.toLowerCase()] = raw[k]!;
  const input: RequestInput = {
    attributes: {
      source: peer(attrs.source),
      destination: peer(attrs.destination),
      request: {
        http: {
          id: http.id ?? '',
          method: http.method ?? '',
          headers,
          path,
          host: http.host ?? '',
          scheme: http.scheme ?? '',
          protocol: http.protocol ?? '',
        },
      },
      contextExtensions: { ...(attrs.context_extensions ?? {}) },
    },
    parsed_path: parsedPath,
    parsed_query: parsedQuery,
  };
  const t = attrs.request?.time;
  if (t?.seconds !== undefined) {
    const ms = Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
    input.attributes.request.time = new Date(ms).toISOString();
  }
  if (http.size !== undefined && Number(http.size) >= 0) input.attributes.request.http.size = Number(http.size);
  if (http.body !== undefined && http.body !== '') {
    input.attributes.request.http.body = http.body;
    const ct = headers['content-type'] ?? '';
    if (ct.includes('json')) {
      try {
        input.parsed_body = JSON.parse(http.body);
      } catch {
        // not JSON after all: no parsed_body
      }
    }
  }
  return input;
}

function decode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function parsePathAndQuery(pathAndQuery: string): { parsedPath: string[]; parsedQuery: Record<string, string[]> } {
  const hash = pathAndQuery.indexOf('#');
  const noFragment = hash === -1 ? pathAndQuery : pathAndQuery.slice(0, hash);
  const q = noFragment.indexOf('?');
  const pathPart = q === -1 ? noFragment : noFragment.slice(0, q);
  const query = q === -1 ? '' : noFragment.slice(q + 1);
  const parsedPath = pathPart.replace(/^\/+/, '').split('/').map(decode);
  const parsedQuery: Record<string, string[]> = {};
  if (query !== '') {
    for (const pair of query.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const key = decode((eq === -1 ? pair : pair.slice(0, eq)).replace(/\+/g, ' '));
      const value = eq === -1 ? '' : decode(pair.slice(eq + 1).replace(/\+/g, ' '));
      (parsedQuery[key] ??= []).push(value);
    }
  }
  return { parsedPath, parsedQuery };
}

export interface RequestDecision {
  allowed: boolean;
  /** Allowed: added to the request sent upstream. Denied: added to the response. */
  headers: Record<string, string>;
  /** Allowed: added to the response sent downstream. */
  responseHeadersToAdd: Record<string, string>;
  /** Allowed: removed from the request sent upstream. */
  requestHeadersToRemove: string[];
  /** Denied: status of the response (default 403). */
  httpStatus: number;
  /** Denied: body of the response. */
  body: string;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return out;
  for (const [k, val] of Object.entries(v)) {
    if (Array.isArray(val)) out[k] = val.map(String).join(',');
    else if (val !== undefined && val !== null) out[k] = typeof val === 'string' ? val : JSON.stringify(val);
  }
  return out;
}

/**
 * Reads `allow`: true/false, or { allowed, headers, response_headers_to_add, request_headers_to_remove,
 * http_status, body } (OPA-Envoy's object form). Undefined or anything else denies (403).
 */
export function interpretRequestResult(result: unknown): RequestDecision {
  const decision: RequestDecision = { allowed: false, headers: {}, responseHeadersToAdd: {}, requestHeadersToRemove: [], httpStatus: 403, body: '' };
  if (result === true) decision.allowed = true;
  else if (typeof result === 'object' && result !== null && !Array.isArray(result)) {
    const r = result as Record<string, unknown>;
    decision.allowed = r.allowed === true;
    decision.headers = stringMap(r.headers);
    decision.responseHeadersToAdd = stringMap(r.response_headers_to_add);
    if (Array.isArray(r.request_headers_to_remove)) decision.requestHeadersToRemove = r.request_headers_to_remove.map(String);
    if (typeof r.http_status === 'number' && Number.isInteger(r.http_status) && r.http_status >= 200 && r.http_status <= 599) {
      decision.httpStatus = r.http_status;
    }
    if (typeof r.body === 'string') decision.body = r.body;
    else if (r.body !== undefined) decision.body = JSON.stringify(r.body);
  }
  return decision;
}

const REDACTED_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization', 'x-api-key']);

/** The input as stored in decision logs: credentials replaced by "<redacted>". */
export function redactRequestInput(input: RequestInput): RequestInput {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.attributes.request.http.headers)) headers[k] = REDACTED_HEADERS.has(k) ? '<redacted>' : v;
  return {
    ...input,
    attributes: { ...input.attributes, request: { ...input.attributes.request, http: { ...input.attributes.request.http, headers } } },
  };
}
