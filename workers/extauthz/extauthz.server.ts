/**
 * The ext_authz gRPC server: `envoy.service.auth.v3.Authorization/Check`, evaluating the tenant's request
 * policies (Rego compiled to Wasm, server/opa/wasm-evaluator.ts) with an input shaped like the OPA-Envoy
 * plugin's (core/policy/request.ts).
 *
 * Which policy: the route's ExtAuthzPerRoute context extensions, set by the xDS compiler
 * (core/xds/compile.ts): `policy` (name), `tenant` (slug, when the compiler knew it), `route`,
 * `virtual_host`. Without a tenant the policy name must be unique among tenants. Unknown or missing policy
 * = deny (403): a bound route is never open by accident.
 *
 * Result: allow → OK (+ headers to add upstream / to the response, headers to remove); deny → the policy's
 * status and body (default 403). An evaluation error answers with gRPC INTERNAL, so Envoy applies the
 * filter's failure mode (fail closed by default; `failureModeAllow` in the route graph).
 *
 * Policies are kept loaded; PostgreSQL NOTIFY on `proxyshard_policies` (sent when a version is activated)
 * swaps one at once; after a lost connection everything is reloaded. Decisions are sampled into
 * DecisionLog (credentials redacted), written in batches off the request path.
 *
 * Served by ProxyShard's gRPC server on its own HTTP/2 framing (workers/grpc/grpc-h2.server.ts, TCP_NODELAY, no per-call framework
 * overhead). The hot path per Check: decode only the CheckRequest fields the input uses (check-codec.ts),
 * build the input, evaluate the Wasm (its JSON written straight into the module's memory, wasm-evaluator.ts),
 * answer with CheckResponse bytes encoded once per distinct decision (Envoy's own protos, proto-loader's
 * serializer); all synchronous, no promise or timer per request.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import pg from 'pg';
import type { Logger } from 'pino';
import { REQUEST_ALLOW_ENTRYPOINT } from '../../core/policy/conventions';
import { buildRequestInput, interpretRequestResult, redactRequestInput, type CheckRequestLike, type RequestDecision } from '../../core/policy/request';
import type { Db } from '../../server/db/client';
import { insertDecisionLogs, type DecisionLogInput } from '../../server/db/policy-decision-log.repo';
import { findLivePolicy, listAllLiveRequestPolicies, POLICY_NOTIFY_CHANNEL, type LivePolicy, type PolicyNotification } from '../../server/db/policy.repo';
import { createWasmEvaluator, type WasmEvaluator } from '../../server/opa/wasm-evaluator';
import { createCheckResponseEncoder, decodeCheckRequest } from './check-codec';
import { GrpcStatus, GrpcStatusError, startGrpcServer } from '../grpc/grpc-h2.server';

export const EXTAUTHZ_CLUSTER = 'proxyshard-extauthz';

/** The one method served (envoy.service.auth.v3.Authorization/Check). */
export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

export interface ExtAuthzServerOptions {
  db: Db;
  /** For LISTEN (Prisma cannot LISTEN). */
  databaseUrl: string;
  /** 0 = any free port. */
  port: number;
  host?: string;
  log: Logger;
  /** Share of decisions stored in DecisionLog, 0..1; default 0.01. */
  decisionLogSampleRate?: number;
  /** How often sampled decisions are written, ms; default 1000. */
  decisionLogFlushMs?: number;
  evaluator?: WasmEvaluator;
}

export interface RunningExtAuthzServer {
  port: number;
  /** Reloads every live request policy from PostgreSQL. */
  reload(): Promise<void>;
  /** Loaded policies: "tenantSlug/name" → version number. */
  loaded(): Record<string, number>;
  /** Writes sampled decisions now. */
  flushDecisionLogs(): Promise<void>;
  stop(): Promise<void>;
}

interface Loaded {
  live: LivePolicy & { tenantSlug: string };
  policy: LoadedPolicy;
}

function includeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const xdsPkg = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(xdsPkg, 'deps', d)).filter((d) => existsSync(d));
}

let cachedDefinition: grpc.GrpcObject | undefined;

/** envoy.service.auth.v3 loaded from Envoy's own .proto files (shipped by @grpc/grpc-js-xds). */
export function loadExtAuthzProtos(): grpc.GrpcObject {
  cachedDefinition ??= grpc.loadPackageDefinition(
    protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
      includeDirs: includeDirs(),
    }),
  );
  return cachedDefinition;
}

function authorizationService(): grpc.ServiceDefinition {
  const def = loadExtAuthzProtos() as unknown as {
    envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } };
  };
  return def.envoy.service.auth.v3.Authorization.service;
}

const headerOptions = (headers: Record<string, string>) =>
  Object.entries(headers).map(([key, value]) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }));

/** The CheckResponse for a decision (proto field names). */
export function checkResponseOf(d: RequestDecision): Record<string, unknown> {
  if (d.allowed) {
    return {
      status: { code: grpc.status.OK },
      ok_response: {
        headers: headerOptions(d.headers),
        headers_to_remove: d.requestHeadersToRemove,
        response_headers_to_add: headerOptions(d.responseHeadersToAdd),
      },
    };
  }
  return {
    status: { code: grpc.status.PERMISSION_DENIED },
    denied_response: { status: { code: d.httpStatus }, headers: headerOptions(d.headers), body: d.body },
  };
}

export async function startExtAuthzServer(opts: ExtAuthzServerOptions): Promise<RunningExtAuthzServer> {
  const log = opts.log;
  const evaluator = opts.evaluator ?? createWasmEvaluator({ maxPolicies: 1024 });
  const sampleRate = opts.decisionLogSampleRate ?? 0.01;
  const byKey = new Map<string, Loaded>();
  const byName = new Map<string, Loaded[]>();

  const rebuildNameIndex = () => {
    byName.clear();
    for (const l of byKey.values()) {
      const list = byName.get(l.live.name) ?? [];
      list.push(l);
      byName.set(l.live.name, list);
    }
  };

  const loadOne = async (live: LivePolicy & { tenantSlug: string }): Promise<Loaded> => ({
    live,
    policy: await evaluator.load({ wasm: live.wasm, wasmSha256: live.wasmSha256, data: live.data }),
  });

  const reload = async () => {
    const all = await listAllLiveRequestPolicies(opts.db);
    const next = new Map<string, Loaded>();
    for (const live of all) {
      try {
        next.set(`${live.tenantSlug}/${live.name}`, await loadOne(live));
      } catch (err) {
        log.error({ err, policy: live.name, tenant: live.tenantSlug }, 'cannot load policy');
      }
    }
    byKey.clear();
    for (const [k, v] of next) byKey.set(k, v);
    rebuildNameIndex();
  };

  const applyNotification = async (n: PolicyNotification) => {
    const tenant = await opts.db.tenant.findUnique({ where: { id: n.tenantId }, select: { slug: true } });
    if (tenant === null) return;
    const key = `${tenant.slug}/${n.name}`;
    const live = await findLivePolicy(opts.db, n.tenantId, n.name);
    if (live === null || live.kind !== 'request') byKey.delete(key);
    else byKey.set(key, await loadOne({ ...live, tenantSlug: tenant.slug }));
    rebuildNameIndex();
    log.info({ policy: n.name, tenant: tenant.slug, version: live?.versionNumber ?? null }, 'request policy swapped');
  };

  // ---- decision logs
  let buffer: DecisionLogInput[] = [];
  const flush = async () => {
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    try {
      await insertDecisionLogs(opts.db, batch);
    } catch (err) {
      log.warn({ err, dropped: batch.length }, 'decision logs not stored');
    }
  };
  const flushTimer = setInterval(() => void flush(), opts.decisionLogFlushMs ?? 1000);
  flushTimer.unref();

  const resolve = (ctx: Record<string, string>): Loaded | string => {
    const name = ctx.policy;
    if (name === undefined || name === '') return 'no policy is bound to this route';
    if (ctx.tenant !== undefined && ctx.tenant !== '') return byKey.get(`${ctx.tenant}/${name}`) ?? `policy ${name} has no live version`;
    const candidates = byName.get(name) ?? [];
    if (candidates.length === 1) return candidates[0]!;
    return candidates.length === 0 ? `policy ${name} has no live version` : `policy ${name} is ambiguous without a tenant`;
  };

  const Check = authorizationService().Check!;
  const encodeResponse = createCheckResponseEncoder((d) => Check.responseSerialize(checkResponseOf(d)));

  /** Synchronous: the response (or an INTERNAL status, so Envoy applies the filter's failure mode). */
  const check = (req: CheckRequestLike): Buffer | GrpcStatusError => {
    // Sampled for the decision log? Decided first, so unsampled requests pay for nothing else.
    const t0 = sampleRate > 0 && (sampleRate >= 1 || Math.random() < sampleRate) ? process.hrtime.bigint() : -1n;
    const ctx = req.attributes?.context_extensions ?? {};
    const target = resolve(ctx);
    if (typeof target === 'string') {
      return encodeResponse({ allowed: false, headers: {}, responseHeadersToAdd: {}, requestHeadersToRemove: [], httpStatus: 403, body: `${target}\n` });
    }
    const input = buildRequestInput(req);
    let result: unknown;
    try {
      result = evaluator.evaluateLoaded(target.policy, REQUEST_ALLOW_ENTRYPOINT, input);
    } catch (err) {
      const message = err instanceof Error ? err.message : String((err as { message?: unknown })?.message ?? err);
      log.warn({ err: message, policy: target.live.name }, 'policy evaluation failed');
      record(target, input, undefined, false, 0, t0, message);
      return new GrpcStatusError(GrpcStatus.INTERNAL, `policy ${target.live.name} failed: ${message}`);
    }
    const decision = interpretRequestResult(result);
    record(target, input, result, decision.allowed, decision.allowed ? 200 : decision.httpStatus, t0);
    return encodeResponse(decision);
  };

  const record = (target: Loaded, input: ReturnType<typeof buildRequestInput>, result: unknown, allowed: boolean, httpStatus: number, t0: bigint, error?: string) => {
    if (t0 < 0n) return;
    if (buffer.length >= 10_000) return;
    buffer.push({
      tenantId: target.live.tenantId,
      policyId: target.live.policyId,
      policyVersionId: target.live.versionId,
      policyName: target.live.name,
      at: new Date(),
      allowed,
      httpStatus,
      method: input.attributes.request.http.method,
      path: input.attributes.request.http.path.slice(0, 2048),
      route: input.attributes.contextExtensions.route ?? '',
      input: redactRequestInput(input),
      result: result === undefined ? null : result,
      durationUs: Number(process.hrtime.bigint() - t0) / 1000,
      error: error ?? null,
    });
  };

  // ---- LISTEN for activations
  let listener: pg.Client | undefined;
  let closed = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  const listen = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: opts.databaseUrl });
    c.on('notification', (msg) => {
      if (msg.channel !== POLICY_NOTIFY_CHANNEL || msg.payload === undefined) return;
      try {
        const n = JSON.parse(msg.payload) as PolicyNotification;
        applyNotification(n).catch((err: unknown) => log.error({ err }, 'policy swap failed'));
      } catch (err) {
        log.warn({ err }, 'bad policy notification');
      }
    });
    await c.connect();
    await c.query(`LISTEN ${POLICY_NOTIFY_CHANNEL}`);
    const lost = () => {
      if (listener !== c) return;
      listener = undefined;
      c.end().catch(() => {});
      if (closed) return;
      reconnectTimer = setTimeout(() => {
        listen()
          .then(() => reload())
          .catch((err: unknown) => {
            log.warn({ err }, 'policy LISTEN reconnect failed');
            lost();
          });
      }, 1000);
      reconnectTimer.unref();
    };
    c.on('error', lost);
    c.on('end', lost);
    listener = c;
  };

  await listen();
  await reload();

  const server = await startGrpcServer({
    host: opts.host ?? '127.0.0.1',
    port: opts.port,
    methods: {
      [CHECK_PATH]: {
        deserialize: decodeCheckRequest,
        serialize: (response: Buffer) => response,
        handle: check,
      },
    },
    onInternalError: (err, path) => log.error({ err, path }, 'ext_authz call failed'),
  });
  const port = server.port;
  log.info({ port, policies: byKey.size }, 'ext_authz server listening');

  let stopped: Promise<void> | undefined;
  return {
    port,
    reload,
    loaded: () => Object.fromEntries([...byKey].map(([k, v]) => [k, v.live.versionNumber])),
    flushDecisionLogs: flush,
    stop: () =>
      (stopped ??= (async () => {
        closed = true;
        if (reconnectTimer) clearTimeout(reconnectTimer);
        clearInterval(flushTimer);
        await server.close(2000);
        const c = listener;
        listener = undefined;
        await c?.end().catch(() => {});
        await flush();
      })()),
  };
}

/** A static `proxyshard-extauthz` cluster (HTTP/2) for an Envoy bootstrap, pointing at the ext_authz server. */
export function extAuthzBootstrapCluster(host: string, port: number): Record<string, unknown> {
  return {
    name: EXTAUTHZ_CLUSTER,
    type: /^[\d.]+$|:/.test(host) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: EXTAUTHZ_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }] }],
    },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  };
}
