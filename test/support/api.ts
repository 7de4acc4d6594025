/**
 * Calling the REST API in-process: route handlers are imported from app/api/v1/**\/route.ts and called
 * with a standard Request, as Next.js would. Also fixtures for tenants, members, sessions and tokens.
 */
import { readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RouteGraphSchema, type RouteGraph } from '../../contracts/route-graph.schema';
import { runCli } from '../../scripts/cli';
import { XdpPolicySpecSchema } from '../../contracts/xdp.schema';
import { compileXdpPolicy } from '../../core/xdp/compile';
import { insertXdpPolicyVersion, setDesiredXdpPolicy } from '../../server/db/xdp-policy.repo';
import { digestJson } from '../../server/audit/canonical-json';
import { hashPassword } from '../../server/auth/password';
import type { Role } from '../../server/auth/permissions';
import type { Principal } from '../../server/auth/principal';
import type { Db } from '../../server/db/client';
import { addMember, type Member } from '../../server/db/membership.repo';
import { createTenant, type Tenant } from '../../server/db/tenant.repo';
import { createUser, type User } from '../../server/db/user.repo';
import { repoRoot } from '../../server/env';
import type { HttpMethod, RouteHandler } from '../../server/http/api-route';
import { createToken } from '../../server/services/token.service';

export const HTTP_METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export const MUTATING: readonly string[] = ['POST', 'PUT', 'PATCH', 'DELETE'];

export interface DiscoveredRoute {
  /** Route pattern derived from the file path, e.g. /api/v1/tokens/[id]. */
  pattern: string;
  file: string;
  method: HttpMethod;
  handler: RouteHandler;
}

function findRouteFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) findRouteFiles(p, out);
    else if (e.name === 'route.ts') out.push(p);
  }
  return out.sort();
}

/** Every exported HTTP method of every route.ts under `app/<under>`. */
export async function discoverRoutes(under = 'api/v1'): Promise<DiscoveredRoute[]> {
  const appDir = join(repoRoot, 'app');
  const routes: DiscoveredRoute[] = [];
  for (const file of findRouteFiles(join(appDir, under))) {
    const pattern = `/${relative(appDir, file).split(sep).slice(0, -1).filter((s) => !/^\(.*\)$/.test(s)).join('/')}`;
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    for (const method of HTTP_METHODS) {
      const handler = mod[method];
      if (handler === undefined) continue;
      routes.push({ pattern, file: relative(repoRoot, file), method: method as HttpMethod, handler: handler as RouteHandler });
    }
  }
  return routes;
}

export interface CallOptions {
  /** Defaults to the handler's meta.route with params filled in. */
  path?: string;
  params?: Record<string, string>;
  query?: Record<string, string>;
  /** JSON-encoded with Content-Type application/json. */
  json?: unknown;
  /** Sent as is (set the content type yourself). */
  rawBody?: string | Uint8Array;
  headers?: Record<string, string>;
  token?: string;
  cookie?: string;
}

export interface CallResult {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export async function call(handler: RouteHandler, opts: CallOptions = {}): Promise<CallResult> {
  const params = opts.params ?? {};
  const path = opts.path ?? handler.meta.route.replace(/\[([^\]]+)\]/g, (_, k: string) => encodeURIComponent(params[k] ?? ''));
  const url = new URL(path, 'http://127.0.0.1:3000');
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
  const headers = new Headers(opts.headers);
  if (opts.token) headers.set('authorization', `Bearer ${opts.token}`);
  if (opts.cookie) headers.set('cookie', opts.cookie);
  let body: string | Uint8Array | undefined = opts.rawBody;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  const req = new Request(url, { method: handler.meta.method, headers, body: body as BodyInit | undefined });
  const res = await handler(req, { params: Promise.resolve(params) });
  const text = await res.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

export interface TestMember {
  user: User;
  tenant: Tenant;
  member: Member;
  role: Role;
  password: string;
  /** A principal as if signed in through a session (for calling services directly). */
  principal: Principal;
}

let counter = 0;

export async function makeTenant(db: Db, slug: string): Promise<Tenant> {
  return createTenant(db, { slug, name: slug.toUpperCase() });
}

/** A user (new, unless `user` is given) with `role` in `tenant`. Passwords are cheap to guess: tests only. */
export async function makeMember(db: Db, tenant: Tenant, role: Role, opts: { username?: string; user?: User } = {}): Promise<TestMember> {
  counter += 1;
  const password = `test-password-${counter}-xyz`;
  const user = opts.user ?? (await createUser(db, { username: opts.username ?? `${role}-${tenant.slug}-${counter}`, displayName: `Test ${role}`, passwordHash: await hashPassword(password) }));
  const member = await addMember(db, tenant.id, user.id, role);
  return { user, tenant, member, role, password, principal: { user, tenant, role, via: 'session', sessionId: 'test' } };
}

/** A fresh API token for the member (through the token service, so it is audited like any other). */
export async function makeToken(db: Db, m: TestMember, name = `t${++counter}`): Promise<{ id: string; secret: string }> {
  const { token, secret } = await createToken(db, m.principal, { name });
  return { id: token.id, secret };
}

/** The `name=value` part of a Set-Cookie header. */
export function cookieOf(res: CallResult): string {
  const set = res.headers.get('set-cookie');
  if (!set) throw new Error(`no Set-Cookie in a ${res.status} response`);
  return set.split(';')[0]!;
}

/** A real HTTP server on 127.0.0.1 in front of the route handlers (for the CLI, which speaks HTTP). */
export async function startApiServer(routes: DiscoveredRoute[]): Promise<{ url: string; close(): Promise<void> }> {
  const table = routes.map((r) => ({
    ...r,
    regex: new RegExp(`^${r.pattern.replace(/\[([^\]]+)\]/g, '(?<$1>[^/]+)')}$`),
  }));
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const match = table.map((r) => ({ r, m: r.regex.exec(url.pathname) })).find(({ r, m }) => m && r.method === req.method);
    if (!match?.m) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found', message: 'no such route' } }));
      return;
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const body = chunks.length ? Buffer.concat(chunks) : undefined;
    const request = new Request(new URL(url.pathname + url.search, `http://${req.headers.host}`), { method: req.method, headers, body });
    const response = await match.r.handler(request, { params: Promise.resolve({ ...(match.m.groups ?? {}) }) });
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** Every row of every table, as text: equal snapshots mean nothing was written. */
export async function snapshotDatabase(db: Db): Promise<Record<string, string>> {
  const dump = (rows: unknown[]) => JSON.stringify(rows, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return {
    tenant: dump(await db.tenant.findMany({ orderBy: { id: 'asc' } })),
    user: dump(await db.user.findMany({ orderBy: { id: 'asc' } })),
    membership: dump(await db.membership.findMany({ orderBy: { id: 'asc' } })),
    session: dump(await db.session.findMany({ orderBy: { id: 'asc' } })),
    apiToken: dump(await db.apiToken.findMany({ orderBy: { id: 'asc' } })),
    auditEntry: dump(await db.auditEntry.findMany({ orderBy: { id: 'asc' } })),
    revision: dump(await db.revision.findMany({ orderBy: { id: 'asc' } })),
    snapshot: dump(await db.snapshot.findMany({ orderBy: { id: 'asc' } })),
    proxy: dump(await db.proxy.findMany({ orderBy: { id: 'asc' } })),
    agent: dump(await db.agent.findMany({ orderBy: { id: 'asc' } })),
    xdpPolicy: dump(await db.xdpPolicy.findMany({ orderBy: { id: 'asc' } })),
    xdpGroupState: dump(await db.xdpGroupState.findMany({ orderBy: [{ tenantId: 'asc' }, { nodeGroup: 'asc' }] })),
    policy: dump(await db.policy.findMany({ orderBy: { id: 'asc' } })),
    policyVersion: dump(await db.policyVersion.findMany({ orderBy: { id: 'asc' } })),
    decisionLog: dump(await db.decisionLog.findMany({ orderBy: { id: 'asc' } })),
    certificateAuthority: dump(await db.certificateAuthority.findMany({ orderBy: { id: 'asc' } })),
    certificate: dump(await db.certificate.findMany({ orderBy: { id: 'asc' } })),
  };
}

/** A one-route graph: listener `main` → virtual host `default` → route `routeName` → cluster `web` (or the given clusters). */
export function oneRouteGraph(routeName: string, clusters: { cluster: string; weight: number }[] = [{ cluster: 'web', weight: 100 }]): RouteGraph {
  return RouteGraphSchema.parse({
    listeners: [{ name: 'main', port: 10000, virtualHosts: ['default'] }],
    virtualHosts: [{ name: 'default', domains: ['*'], routes: [routeName] }],
    routes: [{ name: routeName, match: { prefix: '/' }, action: { kind: 'forward', clusters } }],
    clusters: clusters.map((c) => ({ name: c.cluster, endpoints: [{ address: '127.0.0.1', port: 8080 }] })),
  });
}

/**
 * Inserts a policy with one version straight into the tables (no opa): `compiled` versions get a
 * placeholder Wasm, enough for tests that never evaluate it (permissions, tenant isolation).
 */
export async function makePolicy(db: Db, tenant: Tenant, name: string, opts: { kind?: 'admission' | 'request'; live?: boolean } = {}): Promise<{ id: string; versionId: string }> {
  const policy = await db.policy.create({ data: { tenantId: tenant.id, name, kind: opts.kind ?? 'admission' } });
  const wasm = Buffer.from('placeholder');
  const version = await db.policyVersion.create({
    data: {
      tenantId: tenant.id,
      policyId: policy.id,
      number: 1,
      modules: [{ file: 'policy.rego', source: `package proxyshard.${opts.kind ?? 'admission'}\n` }],
      entrypoints: [],
      status: 'compiled',
      wasm,
      wasmSha256: digestJson(wasm.toString('hex')),
      createdBy: 'test',
    },
  });
  if (opts.live) await db.policy.update({ where: { id: policy.id }, data: { liveVersionId: version.id } });
  return { id: policy.id, versionId: version.id };
}

/**
 * Inserts an XDP policy version (compiled against a placeholder program hash: enough for tests that never
 * ship it to an agent); `desired` makes it the group's desired version.
 */
export async function makeXdpPolicy(
  db: Db,
  tenant: Tenant,
  nodeGroup: string,
  opts: { cidrs?: string[]; desired?: boolean } = {},
): Promise<{ id: string; version: string }> {
  const spec = XdpPolicySpecSchema.parse({ interfaces: ['eth0'], rules: [{ kind: 'deny', name: 'bad', cidrs: opts.cidrs ?? ['198.18.99.0/24'] }] });
  const compiled = compileXdpPolicy(spec, { programSha256: 'ab'.repeat(32) });
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.issues));
  const row = await insertXdpPolicyVersion(db, { tenantId: tenant.id, nodeGroup, spec, bundle: compiled.bundle, createdBy: 'test' });
  if (opts.desired) await setDesiredXdpPolicy(db, { tenantId: tenant.id, nodeGroup, policyId: row.id, version: row.version });
  return { id: row.id, version: row.version };
}

/** Inserts a revision (the revision service of a later issue does this for real); `live` points the tenant at it. */
export async function makeRevision(db: Db, tenant: Tenant, graph: RouteGraph, opts: { live?: boolean; number?: number } = {}): Promise<string> {
  const last = await db.revision.findFirst({ where: { tenantId: tenant.id }, orderBy: { number: 'desc' } });
  const rev = await db.revision.create({
    data: {
      tenantId: tenant.id,
      number: opts.number ?? (last?.number ?? 0) + 1,
      state: opts.live ? 'live' : 'draft',
      graph,
      graphHash: digestJson(graph),
      createdById: 'test',
    },
  });
  if (opts.live) await db.tenant.update({ where: { id: tenant.id }, data: { liveRevisionId: rev.id } });
  return rev.id;
}

/** Runs the CLI against `url` with `token`; its exit code and what it printed. */
export async function runCliAgainst(url: string, token: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...args, '--url', url, '--token', token], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
