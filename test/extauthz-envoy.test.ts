/**
 * Request policies through a REAL Envoy: PostgreSQL, publishRevision, the xds server, the ext_authz server,
 * an echo upstream. A bound route admits/denies by method, path, header and JWT claim; an unbound route is
 * not checked; activating another policy version changes decisions without restarting Envoy (time printed);
 * with the ext_authz server down requests fail closed, or open when the listener says so; sampled decisions
 * are stored with credentials redacted.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { RouteGraph } from '../contracts/route-graph.schema';
import { contentHash } from '../core/xds/snapshot';
import type { Db } from '../server/db/client';
import { activatePolicyVersion, createPolicyVersion, queryDecisionLogs, type PolicyServiceDeps } from '../server/services/policy.service';
import { publishRevision } from '../server/services/publish.service';
import { freePort } from '../scripts/lib/ports';
import { envoyBootstrap } from '../workers/envoy/bootstrap';
import { startEnvoy, type RunningEnvoy } from '../workers/envoy/envoy.process';
import { extAuthzBootstrapCluster, startExtAuthzServer, type RunningExtAuthzServer } from '../workers/extauthz/extauthz.server';
import { createOpaCli } from '../server/opa/opa-cli.adapter';
import { sha256Hex } from '../server/opa/wasm-evaluator';
import { startXdsServer, type RunningXdsServer } from '../workers/xds/xds.server';
import { createTestDatabase, type TestDatabase } from './support/db';

const POLICY_V1 = `package proxyshard.request

claims := payload if {
	auth := input.attributes.request.http.headers.authorization
	startswith(auth, "Bearer ")
	[_, payload, _] := io.jwt.decode(substring(auth, 7, -1))
}

default user := "anonymous"

user := claims.sub

# By method and path.
permitted if {
	input.attributes.request.http.method == "GET"
	input.parsed_path == ["api", "public"]
}

# By header (allowlist in the data document).
permitted if input.attributes.request.http.headers["x-team"] in data.teams

# By JWT claim.
permitted if claims.role == "admin"

allow := {"allowed": true, "headers": {"x-policy-user": user}} if {
	permitted
} else := {"allowed": false, "http_status": 405, "body": "deletes are not allowed\\n"} if {
	input.attributes.request.http.method == "DELETE"
} else := {"allowed": false, "http_status": 403, "body": "denied by api-authz v1\\n", "headers": {"x-denied-by": "api-authz"}}
`;

const POLICY_V2 = `package proxyshard.request

# v2: every GET is fine, nothing else.
allow if input.attributes.request.http.method == "GET"
`;

const jwt = (claims: object) =>
  [{ alg: 'HS256', typ: 'JWT' }, claims].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.') + '.c2ln';

let tdb: TestDatabase;
let db: Db;
let tenantId: string;
let echo: Server;
let echoPort: number;
let xds: RunningXdsServer | undefined;
let authz: RunningExtAuthzServer | undefined;
let authzPort: number;
let envoy: RunningEnvoy | undefined;
let listenerPort: number;
let revisionNumber = 0;
const actor = { type: 'user' as const, id: 'u-1', name: 'alice' };
const deps: PolicyServiceDeps = { compiler: createOpaCli(), sha256: sha256Hex };

function graph(opts: { failureModeAllow?: boolean } = {}): RouteGraph {
  return {
    listeners: [
      {
        name: 'web',
        address: '127.0.0.1',
        port: listenerPort,
        protocol: 'auto',
        virtualHosts: ['web'],
        ...(opts.failureModeAllow !== undefined ? { extAuthz: { failureModeAllow: opts.failureModeAllow, timeoutMs: 250 } } : {}),
      },
    ],
    virtualHosts: [{ name: 'web', domains: ['*'], routes: ['api', 'open'] }],
    routes: [
      {
        name: 'api',
        match: { prefix: '/api', headers: [], queryParameters: [] },
        action: { kind: 'forward', clusters: [{ cluster: 'echo', weight: 1 }] },
        extAuthz: { policy: 'api-authz' },
      },
      {
        name: 'open',
        match: { prefix: '/', headers: [], queryParameters: [] },
        action: { kind: 'forward', clusters: [{ cluster: 'echo', weight: 1 }] },
      },
    ],
    clusters: [
      {
        name: 'echo',
        lbPolicy: 'roundRobin',
        connectTimeoutMs: 1000,
        endpoints: [{ address: '127.0.0.1', port: echoPort, weight: 1, locality: { region: '', zone: '' }, priority: 0 }],
      },
    ],
    nodeGroups: [{ name: 'default', listeners: ['web'] }],
  } as RouteGraph;
}

async function publish(g: RouteGraph): Promise<void> {
  revisionNumber += 1;
  const rev = await db.revision.create({
    data: { tenantId, number: revisionNumber, state: 'proposed', graph: g, graphHash: contentHash(g), createdById: 'test' },
  });
  await publishRevision(db, { tenantId, revisionId: rev.id });
}

interface Reply {
  status: number;
  body: string;
  headers: Headers;
}

async function request(method: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`http://127.0.0.1:${listenerPort}${path}`, { method, headers, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}\nenvoy log:\n${envoy?.logs().slice(-15).join('\n') ?? ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe('ext_authz through a real Envoy', () => {
  before(async () => {
    tdb = await createTestDatabase();
    db = tdb.db;
    tenantId = (await db.tenant.create({ data: { slug: 'demo', name: 'Demo' } })).id;
    echo = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url, method: req.method, user: req.headers['x-policy-user'] ?? null }));
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as AddressInfo).port;
    listenerPort = await freePort();
    authzPort = await freePort();
    const log = pino({ level: 'silent' });
    xds = await startXdsServer({ db, databaseUrl: tdb.url, grpcPort: 0, httpPort: 0, log, replica: 'test', defaultMetrics: false });
    authz = await startExtAuthzServer({ db, databaseUrl: tdb.url, port: authzPort, log, decisionLogSampleRate: 1, decisionLogFlushMs: 200 });

    const v1 = await createPolicyVersion(db, deps, { tenantId, actor }, {
      name: 'api-authz',
      kind: 'request',
      modules: [{ file: 'api-authz.rego', source: POLICY_V1 }],
      data: { teams: ['payments', 'search'] },
      activate: true,
    });
    assert.equal(v1.version.status, 'compiled', JSON.stringify(v1.version.diagnostics));
    await publish(graph());

    const adminPort = await freePort();
    const bootstrap = envoyBootstrap({ nodeId: 'authz-envoy', tenant: 'demo', nodeGroup: 'default', xdsHost: '127.0.0.1', xdsPort: xds.grpcPort, adminPort });
    (bootstrap.static_resources as { clusters: unknown[] }).clusters.push(extAuthzBootstrapCluster('127.0.0.1', authzPort));
    envoy = await startEnvoy({ bootstrap, adminPort });
    await eventually('the listener', async () => ((await request('GET', '/healthz')).status === 200 ? true : undefined));
  });

  after(async () => {
    await envoy?.stop();
    await authz?.stop();
    await xds?.stop();
    await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
    await tdb?.drop();
  });

  it('admits and denies by method, path, header and JWT claim; unbound routes are not checked', async () => {
    const pub = await request('GET', '/api/public');
    assert.equal(pub.status, 200);
    assert.deepEqual(JSON.parse(pub.body), { path: '/api/public', method: 'GET', user: 'anonymous' }, 'allow adds headers upstream');

    const post = await request('POST', '/api/public');
    assert.equal(post.status, 403);
    assert.equal(post.body, 'denied by api-authz v1\n');
    assert.equal(post.headers.get('x-denied-by'), 'api-authz', 'deny headers reach the client');

    assert.equal((await request('GET', '/api/private')).status, 403, 'by path');
    const del = await request('DELETE', '/api/private');
    assert.equal(del.status, 405, 'status chosen by the policy');
    assert.equal(del.body, 'deletes are not allowed\n');

    assert.equal((await request('POST', '/api/private', { 'x-team': 'payments' })).status, 200, 'by header (data allowlist)');
    assert.equal((await request('POST', '/api/private', { 'x-team': 'marketing' })).status, 403);

    const admin = await request('POST', '/api/private', { authorization: `Bearer ${jwt({ sub: 'carol', role: 'admin' })}` });
    assert.equal(admin.status, 200, 'by JWT claim');
    assert.equal(JSON.parse(admin.body).user, 'carol');
    assert.equal((await request('POST', '/api/private', { authorization: `Bearer ${jwt({ sub: 'dave', role: 'dev' })}` })).status, 403);
    assert.equal((await request('POST', '/api/private', { authorization: 'Bearer garbage' })).status, 403);

    assert.equal((await request('POST', '/elsewhere')).status, 200, 'unbound route: ext_authz disabled per route');
  });

  it('stores sampled decisions, queryable, with credentials redacted', async () => {
    await authz!.flushDecisionLogs();
    const denied = await queryDecisionLogs(db, tenantId, { policy: 'api-authz', allowed: false, limit: 100 });
    assert.ok(denied.length >= 5, `denied: ${denied.length}`);
    const withJwt = denied.find((d) => (d.input as { attributes: { request: { http: { headers: Record<string, string> } } } }).attributes.request.http.headers.authorization !== undefined);
    assert.ok(withJwt);
    assert.equal((withJwt.input as { attributes: { request: { http: { headers: Record<string, string> } } } }).attributes.request.http.headers.authorization, '<redacted>');
    assert.equal(withJwt.route, 'api');
    const allowed = await queryDecisionLogs(db, tenantId, { allowed: true, limit: 100 });
    assert.ok(allowed.some((d) => d.path === '/api/public' && d.method === 'GET'));
    assert.ok(allowed.every((d) => d.httpStatus === 200));
  });

  it('swaps the policy version without restarting Envoy', async () => {
    const pid = envoy!.pid;
    const v2 = await createPolicyVersion(db, deps, { tenantId, actor }, {
      name: 'api-authz',
      kind: 'request',
      modules: [{ file: 'api-authz.rego', source: POLICY_V2 }],
    });
    assert.equal(v2.version.status, 'compiled');
    assert.equal((await request('GET', '/api/private')).status, 403, 'not active yet');
    const t0 = performance.now();
    await activatePolicyVersion(db, { tenantId, actor }, { name: 'api-authz', version: v2.version.number });
    await eventually('v2 decisions', async () => ((await request('GET', '/api/private')).status === 200 ? true : undefined), 10_000, 10);
    const swapMs = performance.now() - t0;
    console.log(`extauthz_policy_swap_ms=${swapMs.toFixed(1)}`);
    assert.equal((await request('POST', '/api/public')).status, 403, 'v2 denies non-GET');
    assert.equal(envoy!.pid, pid);
    assert.deepEqual(authz!.loaded(), { 'demo/api-authz': 2 });

    // Roll back to v1.
    await activatePolicyVersion(db, { tenantId, actor }, { name: 'api-authz', version: 1 });
    await eventually('v1 decisions again', async () => ((await request('GET', '/api/private')).status === 403 ? true : undefined), 10_000, 10);
  });

  it('fails closed with the ext_authz server down, or open when the listener says so', async () => {
    await authz!.stop();
    authz = undefined;
    const down = await request('GET', '/api/public');
    assert.equal(down.status, 403, `fail closed: ${down.status} ${down.body}`);
    assert.equal((await request('GET', '/elsewhere')).status, 200, 'unbound route unaffected');

    await publish(graph({ failureModeAllow: true }));
    await eventually('failure mode allow', async () => ((await request('POST', '/api/private')).status === 200 ? true : undefined));
  });
});
