/**
 * The one place that reads process.env. Everything else receives a parsed `Env`.
 * Each variable is documented in README.md ("Configuration").
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

// Not `new URL('.', import.meta.url)`: Next.js (Turbopack) bundles this file for the web app and treats that
// expression as an asset import of the folder, which fails to build.
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface KeyEncryptionKey {
  kid: string;
  key: Buffer;
}

/** `kid:base64,kid:base64` → keys, first = current (PROXYSHARD_KEYS; also the development key file). */
export function parseKeyEncryptionKeys(text: string): KeyEncryptionKey[] {
  const keys = text.split(',').map((part) => part.trim()).filter(Boolean).map((part) => {
    const m = /^([A-Za-z0-9_-]{1,64}):([A-Za-z0-9+/=_-]+)$/.exec(part);
    if (!m) throw new Error('each key is "<id>:<base64 of 32 bytes>", comma-separated');
    const key = Buffer.from(m[2]!, m[2]!.includes('-') || m[2]!.includes('_') ? 'base64url' : 'base64');
    if (key.length !== 32) throw new Error(`key "${m[1]}" is ${key.length} bytes; AES-256 needs 32`);
    return { kid: m[1]!, key };
  });
  if (new Set(keys.map((k) => k.kid)).size !== keys.length) throw new Error('a key id appears twice');
  if (keys.length === 0) throw new Error('no key given');
  return keys;
}

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));

export const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** PostgreSQL connection string; unset = project-local embedded PostgreSQL under DATA_DIR. */
  DATABASE_URL: optionalString,
  /** Where embedded PostgreSQL, the Temporal SQLite file and other local state live. */
  PROXYSHARD_DATA_DIR: z.string().default(resolve(repoRoot, '.data')),
  PG_PORT: port(54329),
  WEB_PORT: port(3000),
  XDS_PORT: port(18000),
  XDS_HTTP_PORT: port(18001),
  /**
   * mTLS on XDS_PORT (ADS for Envoy, the agent channel): PEM files of the server chain and key (e.g. issued
   * from the tenant CA with usage server) and of the CA client certificates must chain to. Cert and key
   * together turn TLS on; with the client CA, clients must present a certificate.
   */
  XDS_TLS_CERT_FILE: optionalString,
  XDS_TLS_KEY_FILE: optionalString,
  XDS_TLS_CLIENT_CA_FILE: optionalString,
  /** gRPC port of the XDP agent channel (contracts/agent.proto), when served apart from XDS_PORT. */
  AGENT_CHANNEL_PORT: port(18003),
  WORKER_HTTP_PORT: port(18002),
  /** gRPC port of the ext_authz server (envoy.service.auth.v3.Authorization), workers/extauthz/main.ts. */
  EXTAUTHZ_PORT: port(18004),
  /** /healthz and /metrics of the ext_authz process. */
  EXTAUTHZ_HTTP_PORT: port(18005),
  /** Address the ext_authz server binds; Envoys reach it through the static `proxyshard-extauthz` cluster. */
  EXTAUTHZ_HOST: z.string().min(1).default('127.0.0.1'),
  /** Share of ext_authz decisions stored in DecisionLog (0..1). */
  EXTAUTHZ_DECISION_LOG_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(0.01),
  /** Deadline of `opa check`, `opa fmt` and `opa build` calls, ms. */
  OPA_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** Deadline of `opa test` calls, ms. */
  OPA_TEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /**
   * Port of the Temporal SDK's own Prometheus exporter in the worker (task slots, poll latencies, sticky
   * cache…), served at http://127.0.0.1:<port>/metrics next to WORKER_HTTP_PORT; 0 (default) = off.
   */
  WORKER_TEMPORAL_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  ENVOY_LISTENER_PORT: port(10000),
  ENVOY_ADMIN_PORT: port(9901),
  DEMO_UPSTREAM_PORTS: z
    .string()
    .default('18081,18082')
    .transform((s, ctx) => {
      const ports = s.split(',').map((p) => Number(p.trim()));
      if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
        ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of ports' });
        return z.NEVER;
      }
      return ports;
    }),
  /** Interval of the certificate expiry check schedule (Temporal duration: "15m", "1h", "5s"). */
  CERT_EXPIRY_CHECK_INTERVAL: z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as "15m" or "1h"').default('15m'),
  /** Alert on certificates expiring within this many hours (or within their renew-before, if longer). */
  CERT_EXPIRY_THRESHOLD_HOURS: z.coerce.number().positive().max(8760).default(168),
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  TEMPORAL_NAMESPACE: z.string().min(1).default('proxyshard'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('proxyshard'),
  /** Searched for temporal, opa, envoy and vegeta when *_BIN is unset (server/binaries.ts). */
  PATH: z.string().default(''),
  TEMPORAL_BIN: optionalString,
  OPA_BIN: optionalString,
  ENVOY_BIN: optionalString,
  /** The benchmarks' HTTP load generator (bench/extauthz-latency.ts). */
  VEGETA_BIN: optionalString,
  /** Send the session cookie only over HTTPS. */
  COOKIE_SECURE: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  SESSION_TTL_HOURS: z.coerce.number().positive().default(12),
  /** Next.js build folder, relative to the repository (one `next dev` may run per folder; tests use .next/test). */
  NEXT_DIST_DIR: z
    .string()
    .regex(/^\.next(\/[\w.-]+)*$/, 'must be .next or a folder below it')
    .default('.next'),
  /** Largest accepted JSON request body, in bytes. */
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(1_000_000),
  /**
   * Key-encryption keys for private keys at rest (AES-256-GCM): `kid2:<base64 32 bytes>,kid1:<…>`, the first
   * is current, the others only open older envelopes until `cas rewrap-keys`. Unset: a generated key kept
   * in <PROXYSHARD_DATA_DIR>/pki/keys (refused when NODE_ENV=production). server/pki/key-box.ts.
   */
  PROXYSHARD_KEYS: optionalString.transform((v, ctx) => {
    if (v === undefined) return undefined;
    try {
      return parseKeyEncryptionKeys(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  }),
  /** CLI (`npm run cli`): base URL of the web app; overrides ~/.config/proxyshard/cli.json, a --url flag overrides it. */
  PROXYSHARD_URL: optionalString,
  /** CLI: API token (`ps_…`); overrides ~/.config/proxyshard/cli.json, a --token flag overrides it. */
  PROXYSHARD_TOKEN: optionalString,
});

export type Env = z.infer<typeof EnvSchema>;

export class EnvError extends Error {
  constructor(readonly issues: { path: string; message: string }[]) {
    super(`invalid environment: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'EnvError';
  }
}

export function parseEnv(source: Record<string, string | undefined>): Env {
  const result = EnvSchema.safeParse(source);
  if (!result.success) {
    throw new EnvError(result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  }
  return result.data;
}

let cached: Env | undefined;

/** The process environment, parsed once. */
export function getEnv(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}

/** Host:port of the Temporal frontend. */
export function temporalAddress(env: Env): string {
  return env.TEMPORAL_ADDRESS ?? `127.0.0.1:${env.TEMPORAL_PORT}`;
}
