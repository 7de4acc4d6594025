/**
 * The policies REST API (app/api/v1/policies/**) and its CLI, with real PostgreSQL and the real `opa` CLI +
 * opa-wasm behind them: versions compile (check → test → build) with per-test results; bad Rego is a 400
 * whose issues carry line and column, and nothing is stored or changes live; activation and rollback;
 * the editor tools; the playground evaluates a stored version like admission / ext_authz would; sampled
 * decision logs are filterable and pageable and never cross tenants.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as activateRoute from '../app/api/v1/policies/[id]/activate/route';
import * as decisionsRoute from '../app/api/v1/policies/[id]/decisions/route';
import * as evaluateRoute from '../app/api/v1/policies/[id]/evaluate/route';
import * as policyRoute from '../app/api/v1/policies/[id]/route';
import * as versionRoute from '../app/api/v1/policies/[id]/versions/[version]/route';
import * as versionsRoute from '../app/api/v1/policies/[id]/versions/route';
import * as checkRoute from '../app/api/v1/policies/check/route';
import * as formatRoute from '../app/api/v1/policies/format/route';
import * as policiesRoute from '../app/api/v1/policies/route';
import * as testRoute from '../app/api/v1/policies/test/route';
import { runCli } from '../scripts/cli';
import { setAppDb } from '../server/app-db';
import { insertDecisionLogs, type DecisionLogInput } from '../server/db/policy-decision-log.repo';
import { repoRoot } from '../server/env';
import { call, discoverRoutes, makeMember, makePolicy, makeTenant, makeToken, snapshotDatabase, startApiServer, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

const REQUEST_POLICY = (tag: string) => `package proxyshard.request

default allow := {"allowed": false, "http_status": 403, "body": "denied by policy"}

allow := {"allowed": true, "headers": {"x-policy": "${tag}"}} if {
	input.attributes.request.http.method == "GET"
	some prefix in data.public_prefixes
	startswith(input.attributes.request.http.path, prefix)
}
`;

const REQUEST_TESTS = `package proxyshard.request_test

import data.proxyshard.request

test_get_public_allowed if {
	request.allow.allowed with input as {"attributes": {"request": {"http": {"method": "GET", "path": "/public/a"}}}}
}

test_post_denied if {
	not request.allow.allowed with input as {"attributes": {"request": {"http": {"method": "POST", "path": "/public/a"}}}}
}
`;

const FAILING_TEST = `package proxyshard.request_test

import data.proxyshard.request

test_get_public_allowed if {
	request.allow.allowed with input as {"attributes": {"request": {"http": {"method": "GET", "path": "/public/a"}}}}
}

test_wrong_expectation if {
	request.allow.allowed with input as {"attributes": {"request": {"http": {"method": "DELETE", "path": "/public/a"}}}}
}
`;

/** `unknown_var` is unsafe: opa reports it at row 4, column 2. */
const BAD_REQUEST_POLICY = 'package proxyshard.request\n\nallow if {\n\tinput.y == unknown_var\n}\n';

const TLS_GUARDRAIL = `package proxyshard.admission

deny contains msg if {
	some group in input.revision.nodeGroups
	group.name == "prod"
	some name in group.listeners
	some listener in input.revision.listeners
	listener.name == name
	not listener.tls
	msg := sprintf("listener %s in node group prod must use TLS", [name])
}

require_approval contains msg if {
	some name in input.diff.clusters.removed
	msg := sprintf("removing cluster %s needs an approval", [name])
}
`;

const httpInput = (method: string, path: string) => ({ attributes: { request: { http: { method, path, headers: {} } } } });

let tdb: TestDatabase;
let op: TestMember;
let opToken: string;
let viewerToken: string;
let tenantB: Awaited<ReturnType<typeof makeTenant>>;
const work = mkdtempSync(join(tmpdir(), 'ps-policy-api-'));

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  const a = await makeTenant(tdb.db, 'pol-a');
  tenantB = await makeTenant(tdb.db, 'pol-b');
  op = await makeMember(tdb.db, a, 'operator', { username: 'olga' });
  opToken = (await makeToken(tdb.db, op, 'olga-cli')).secret;
  viewerToken = (await makeToken(tdb.db, await makeMember(tdb.db, a, 'viewer'))).secret;
});

after(async () => {
  setAppDb(undefined);
  await tdb.drop();
  rmSync(work, { recursive: true, force: true });
});

async function policyTables() {
  const s = await snapshotDatabase(tdb.db);
  return { policy: s.policy, policyVersion: s.policyVersion, auditEntry: s.auditEntry };
}

describe('policies REST API', () => {
  let edgeId = '';
  let v1Id = '';

  it('creates a request policy: check → test → build, per-test results, live at once', async () => {
    const res = await call(policiesRoute.POST, {
      token: opToken,
      json: {
        name: 'edge',
        kind: 'request',
        description: 'public paths only',
        modules: [
          { file: 'edge.rego', source: REQUEST_POLICY('v1') },
          { file: 'edge_test.rego', source: REQUEST_TESTS },
        ],
        data: { public_prefixes: ['/public'] },
        activate: true,
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.version.status, 'compiled');
    assert.equal(res.body.version.number, 1);
    assert.equal(res.body.activated, true);
    assert.equal(res.body.policy.liveVersionId, res.body.version.id);
    assert.deepEqual(
      res.body.version.testResults.map((t: { name: string; passed: boolean }) => [t.name, t.passed]).sort(),
      [
        ['test_get_public_allowed', true],
        ['test_post_denied', true],
      ],
    );
    edgeId = res.body.policy.id;
    v1Id = res.body.version.id;
    const actions = (await tdb.db.auditEntry.findMany({ where: { tenantId: op.tenant.id, targetId: edgeId }, orderBy: { seq: 'asc' } })).map((e) => e.action);
    assert.deepEqual(actions, ['policy.create', 'policy.version.create', 'policy.activate']);

    const again = await call(policiesRoute.POST, { token: opToken, json: { name: 'edge', kind: 'request', modules: [{ file: 'edge.rego', source: REQUEST_POLICY('x') }] } });
    assert.equal(again.status, 409);
    assert.deepEqual(again.body.error.issues, [{ path: 'name', message: 'already used in this tenant' }]);
  });

  it('bad Rego is a 400 whose issues carry line and column; nothing is stored and the live version stays', async () => {
    const before_ = await policyTables();
    const bad = await call(versionsRoute.POST, {
      token: opToken,
      params: { id: edgeId },
      json: { modules: [{ file: 'edge.rego', source: BAD_REQUEST_POLICY }], activate: true },
    });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.equal(bad.body.error.code, 'bad_request');
    assert.deepEqual(bad.body.error.issues, [{ path: 'modules[0]:4:2', message: 'edge.rego:4:2: rego_unsafe_var_error: var unknown_var is unsafe' }]);
    assert.deepEqual(bad.body.error.details.diagnostics, [
      { file: 'edge.rego', row: 4, col: 2, code: 'rego_unsafe_var_error', message: 'var unknown_var is unsafe', module: 0 },
    ]);

    // A failing test refuses the version too, with the per-test results.
    const failing = await call(versionsRoute.POST, {
      token: opToken,
      params: { id: edgeId },
      json: { modules: [{ file: 'edge.rego', source: REQUEST_POLICY('v9') }, { file: 'edge_test.rego', source: FAILING_TEST }], data: { public_prefixes: ['/public'] }, activate: true },
    });
    assert.equal(failing.status, 400, JSON.stringify(failing.body));
    assert.equal(failing.body.error.issues.length, 1);
    assert.match(failing.body.error.issues[0].path, /^modules\[1\]:\d+:1$/);
    assert.match(failing.body.error.issues[0].message, /test_wrong_expectation/);
    assert.deepEqual(
      failing.body.error.details.testResults.map((t: { name: string; passed: boolean }) => [t.name, t.passed]).sort(),
      [
        ['test_get_public_allowed', true],
        ['test_wrong_expectation', false],
      ],
    );

    // A new policy with bad Rego leaves no policy behind.
    const newBad = await call(policiesRoute.POST, { token: opToken, json: { name: 'broken', kind: 'request', modules: [{ file: 'broken.rego', source: BAD_REQUEST_POLICY }] } });
    assert.equal(newBad.status, 400);
    assert.equal(newBad.body.error.issues[0].path, 'modules[0]:4:2');

    assert.deepEqual(await policyTables(), before_, 'nothing was written');
    const shown = await call(policyRoute.GET, { token: opToken, params: { id: 'edge' } });
    assert.equal(shown.body.policy.liveVersionId, v1Id);
  });

  it('a new version, the playground on old and new, activation and rollback', async () => {
    const v2 = await call(versionsRoute.POST, {
      token: opToken,
      params: { id: 'edge' },
      json: { modules: [{ file: 'edge.rego', source: REQUEST_POLICY('v2') }], data: { public_prefixes: ['/public', '/docs'] } },
    });
    assert.equal(v2.status, 201, JSON.stringify(v2.body));
    assert.equal(v2.body.version.number, 2);
    assert.equal(v2.body.activated, false);
    assert.equal(v2.body.policy.liveVersionId, v1Id, 'not activated: v1 stays live');

    const evaluate = (json: unknown) => call(evaluateRoute.POST, { token: viewerToken, params: { id: edgeId }, json });
    const live = await evaluate({ input: httpInput('GET', '/public/x') });
    assert.equal(live.status, 200, JSON.stringify(live.body));
    assert.deepEqual(live.body.version, { id: v1Id, number: 1, live: true });
    assert.equal(live.body.decision.allowed, true);
    assert.deepEqual(live.body.decision.headers, { 'x-policy': 'v1' });
    assert.deepEqual(live.body.result, { allow: { allowed: true, headers: { 'x-policy': 'v1' } } });

    const docsOnV1 = await evaluate({ input: httpInput('GET', '/docs/y') });
    assert.equal(docsOnV1.body.decision.allowed, false);
    assert.equal(docsOnV1.body.decision.httpStatus, 403);
    assert.equal(docsOnV1.body.decision.body, 'denied by policy');
    const docsOnV2 = await evaluate({ version: 2, input: httpInput('GET', '/docs/y') });
    assert.equal(docsOnV2.body.decision.allowed, true, 'v2 carries its own data document');
    assert.deepEqual(docsOnV2.body.version, { id: v2.body.version.id, number: 2, live: false });

    const activated = await call(activateRoute.POST, { token: opToken, params: { id: edgeId }, json: { version: 2 } });
    assert.equal(activated.status, 200, JSON.stringify(activated.body));
    assert.equal(activated.body.policy.liveVersionId, v2.body.version.id);
    assert.equal((await evaluate({ input: httpInput('GET', '/public/x') })).body.decision.headers['x-policy'], 'v2');

    const rollback = await call(activateRoute.POST, { token: opToken, params: { id: 'edge' }, json: { version: 1 } });
    assert.equal(rollback.body.policy.liveVersionId, v1Id);
    assert.equal((await evaluate({ input: httpInput('GET', '/public/x') })).body.decision.headers['x-policy'], 'v1');

    const missing = await call(activateRoute.POST, { token: opToken, params: { id: edgeId }, json: { version: 99 } });
    assert.equal(missing.status, 404);
    assert.equal((await evaluate({ version: 99, input: {} })).status, 404);
  });

  it('the playground reads admission guardrails like admission does', async () => {
    const created = await call(policiesRoute.POST, { token: opToken, json: { name: 'prod-tls', kind: 'admission', modules: [{ file: 'prod-tls.rego', source: TLS_GUARDRAIL }] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.activated, false);
    const input = {
      revision: { nodeGroups: [{ name: 'prod', listeners: ['web'] }], listeners: [{ name: 'web' }] },
      diff: { clusters: { removed: ['old'] } },
    };
    const res = await call(evaluateRoute.POST, { token: opToken, params: { id: 'prod-tls' }, json: { input } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.version.live, false, 'no live version: the newest compiled one');
    assert.deepEqual(res.body.decision, {
      kind: 'admission',
      allowed: false,
      needsApproval: true,
      denyReasons: ['listener web in node group prod must use TLS'],
      approvalReasons: ['removing cluster old needs an approval'],
    });
  });

  it('lists, shows and reads versions by id or by name', async () => {
    const all = await call(policiesRoute.GET, { token: viewerToken });
    assert.deepEqual(all.body.policies.map((p: { name: string; liveVersionNumber: number | null }) => [p.name, p.liveVersionNumber]), [
      ['edge', 1],
      ['prod-tls', null],
    ]);
    const requestOnly = await call(policiesRoute.GET, { token: viewerToken, query: { kind: 'request' } });
    assert.deepEqual(requestOnly.body.policies.map((p: { name: string }) => p.name), ['edge']);
    assert.equal((await call(policiesRoute.GET, { token: viewerToken, query: { kind: 'other' } })).status, 400);

    const byName = await call(policyRoute.GET, { token: viewerToken, params: { id: 'edge' } });
    const byId = await call(policyRoute.GET, { token: viewerToken, params: { id: edgeId } });
    assert.deepEqual(byName.body, byId.body);
    assert.deepEqual(byName.body.versions.map((v: { number: number }) => v.number), [2, 1]);
    const versions = await call(versionsRoute.GET, { token: viewerToken, params: { id: edgeId } });
    assert.deepEqual(versions.body.versions, byName.body.versions);

    const v2 = await call(versionRoute.GET, { token: viewerToken, params: { id: 'edge', version: '2' } });
    assert.equal(v2.status, 200);
    assert.deepEqual(v2.body.version.modules, [{ file: 'edge.rego', source: REQUEST_POLICY('v2') }]);
    assert.deepEqual(v2.body.version.data, { public_prefixes: ['/public', '/docs'] });
    for (const version of ['3', 'abc', '0', '-1']) {
      assert.equal((await call(versionRoute.GET, { token: viewerToken, params: { id: 'edge', version } })).status, 404, version);
    }
    assert.equal((await call(policyRoute.GET, { token: viewerToken, params: { id: 'nope' } })).status, 404);
  });

  it('editor tools: check, format and test unsaved modules, storing nothing', async () => {
    const before_ = await snapshotDatabase(tdb.db);
    const bad = await call(checkRoute.POST, { token: viewerToken, json: { modules: [{ file: 'x.rego', source: BAD_REQUEST_POLICY }] } });
    assert.equal(bad.status, 200);
    assert.deepEqual(bad.body, { ok: false, diagnostics: [{ file: 'x.rego', row: 4, col: 2, code: 'rego_unsafe_var_error', message: 'var unknown_var is unsafe', module: 0 }] });
    const good = await call(checkRoute.POST, { token: viewerToken, json: { modules: [{ file: 'x.rego', source: REQUEST_POLICY('v1') }] } });
    assert.deepEqual(good.body, { ok: true, diagnostics: [] });

    const ugly = 'package proxyshard.request\nallow if { input.a == 1 }\n';
    const formatted = await call(formatRoute.POST, { token: viewerToken, json: { module: { file: 'x.rego', source: ugly } } });
    assert.equal(formatted.status, 200);
    assert.equal(formatted.body.ok, true);
    assert.equal(formatted.body.changed, true);
    assert.equal(formatted.body.source, 'package proxyshard.request\n\nallow if input.a == 1\n');
    const broken = await call(formatRoute.POST, { token: viewerToken, json: { module: { file: 'x.rego', source: 'package p\nallow if {' } } });
    assert.equal(broken.body.ok, false);
    assert.ok(broken.body.diagnostics[0].row > 0 && broken.body.diagnostics[0].col > 0, JSON.stringify(broken.body));

    const tested = await call(testRoute.POST, {
      token: viewerToken,
      json: { modules: [{ file: 'edge.rego', source: REQUEST_POLICY('v1') }, { file: 'edge_test.rego', source: FAILING_TEST }], data: { public_prefixes: ['/public'] } },
    });
    assert.equal(tested.status, 200, JSON.stringify(tested.body));
    assert.equal(tested.body.ok, false);
    assert.deepEqual(tested.body.summary, { passed: 1, failed: 1, skipped: 0 });
    assert.deepEqual(tested.body.results.map((t: { name: string; passed: boolean; file: string }) => [t.name, t.passed, t.file]).sort(), [
      ['test_get_public_allowed', true, 'edge_test.rego'],
      ['test_wrong_expectation', false, 'edge_test.rego'],
    ]);
    assert.deepEqual(await snapshotDatabase(tdb.db), before_);
  });

  it('sampled decisions: filterable, pageable, never another tenant’s', async () => {
    const edge = await tdb.db.policy.findUniqueOrThrow({ where: { id: edgeId } });
    const t0 = Date.parse('2026-11-20T10:00:00Z');
    const entry = (i: number, over: Partial<DecisionLogInput> = {}): DecisionLogInput => ({
      tenantId: op.tenant.id,
      policyId: edge.id,
      policyVersionId: v1Id,
      policyName: 'edge',
      at: new Date(t0 + i * 60_000),
      allowed: i % 2 === 0,
      httpStatus: i % 2 === 0 ? 200 : 403,
      method: i < 3 ? 'GET' : 'POST',
      path: `/public/${i}`,
      route: i === 4 ? 'admin' : 'web',
      input: { i },
      result: i % 2 === 0,
      durationUs: 40 + i,
      ...over,
    });
    await insertDecisionLogs(tdb.db, [0, 1, 2, 3, 4].map((i) => entry(i)));
    // Tenant B has a policy of the same name with its own decisions.
    const b = await makePolicy(tdb.db, tenantB, 'edge', { kind: 'request', live: true });
    await insertDecisionLogs(tdb.db, [entry(5, { tenantId: tenantB.id, policyId: b.id, policyVersionId: b.versionId, path: '/b-secret' })]);

    const list = (query: Record<string, string> = {}) => call(decisionsRoute.GET, { token: viewerToken, params: { id: 'edge' }, query });
    const all = await list();
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.deepEqual(all.body.decisions.map((d: { path: string }) => d.path), ['/public/4', '/public/3', '/public/2', '/public/1', '/public/0']);
    assert.equal(typeof all.body.decisions[0].id, 'string');
    assert.equal(all.body.nextBefore, null);
    assert.ok(!JSON.stringify(all.body).includes('b-secret'));

    const paths = async (query: Record<string, string>) => (await list(query)).body.decisions.map((d: { path: string }) => d.path);
    assert.deepEqual(await paths({ allowed: 'false' }), ['/public/3', '/public/1']);
    assert.deepEqual(await paths({ method: 'get' }), ['/public/2', '/public/1', '/public/0']);
    assert.deepEqual(await paths({ route: 'admin' }), ['/public/4']);
    assert.deepEqual(await paths({ since: new Date(t0 + 3 * 60_000).toISOString() }), ['/public/4', '/public/3']);

    const page1 = await list({ limit: '2' });
    assert.deepEqual(page1.body.decisions.map((d: { path: string }) => d.path), ['/public/4', '/public/3']);
    assert.equal(page1.body.nextBefore, page1.body.decisions[1].id);
    assert.deepEqual(await paths({ limit: '2', before: page1.body.nextBefore }), ['/public/2', '/public/1']);

    const bad = await list({ before: 'x', allowed: 'maybe' });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.issues.map((i: { path: string }) => i.path).sort(), ['allowed', 'before']);
  });

  it('another tenant’s policy is not_found, by id and by name', async () => {
    const secret = await makePolicy(tdb.db, tenantB, 'b-only', { kind: 'request', live: true });
    for (const id of [secret.id, 'b-only']) {
      assert.equal((await call(policyRoute.GET, { token: opToken, params: { id } })).status, 404);
      assert.equal((await call(evaluateRoute.POST, { token: opToken, params: { id }, json: { input: {} } })).status, 404);
      assert.equal((await call(decisionsRoute.GET, { token: opToken, params: { id } })).status, 404);
    }
    const names = (await call(policiesRoute.GET, { token: opToken })).body.policies.map((p: { name: string }) => p.name);
    assert.deepEqual(names, ['edge', 'prod-tls']);
  });
});

describe('policies CLI', () => {
  let server: { url: string; close(): Promise<void> };
  const file = (name: string, text: string) => {
    const p = join(work, name);
    writeFileSync(p, text);
    return p;
  };

  before(async () => {
    server = await startApiServer(await discoverRoutes());
  });
  after(async () => {
    await server?.close();
  });

  /** In-process (cheap); `spawned` runs the CLI as a user would, as a child process. */
  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli([...args, '--url', server.url, '--token', opToken], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  }

  function spawned(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/cli.ts'), ...args], {
        cwd: repoRoot,
        env: { ...process.env, HOME: work, PROXYSHARD_URL: server.url, PROXYSHARD_TOKEN: opToken },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('create with tests, list, show, activate, eval; bad Rego exits 1 with file:row:col', async () => {
    file('guard.rego', TLS_GUARDRAIL);
    file('guard_tests.rego', `package proxyshard.admission_test

import data.proxyshard.admission

test_plain_prod_denied if {
	count(admission.deny) == 1 with input as {"revision": {"nodeGroups": [{"name": "prod", "listeners": ["w"]}], "listeners": [{"name": "w"}]}, "diff": {"clusters": {"removed": []}}}
}
`);
    const created = await spawned(['policies', 'create', 'cli-guard', '--kind', 'admission', '-f', join(work, 'guard.rego'), '--tests', join(work, 'guard_tests.rego'), '--activate']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^cli-guard \(admission, id [0-9a-f-]{36}\) version 1: compiled, tests 1\/1 passed; now live$/m);

    file('bad.rego', BAD_REQUEST_POLICY);
    const bad = await spawned(['policies', 'create', 'cli-bad', '--kind', 'request', '-f', join(work, 'bad.rego')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /400 bad_request: the policy does not compile: bad\.rego:4:2: var unknown_var is unsafe/);
    assert.match(bad.stderr, /modules\[0\]:4:2: bad\.rego:4:2: rego_unsafe_var_error: var unknown_var is unsafe/);

    const list = await cli(['policies', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /cli-guard\s+admission\s+v1/);
    assert.doesNotMatch(list.stdout, /cli-bad/);

    const show = await cli(['policies', 'show', 'cli-guard']);
    assert.match(show.stdout, /^1\s+compiled\s+\*\s+1\/1/m);

    const input = file('input.json', JSON.stringify({ revision: { nodeGroups: [{ name: 'prod', listeners: ['w'] }], listeners: [{ name: 'w' }] }, diff: { clusters: { removed: [] } } }));
    const evaluated = await cli(['policies', 'eval', 'cli-guard', '--input', input]);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    assert.match(evaluated.stdout, /^cli-guard v1 \(live\): DENY$/m);
    assert.match(evaluated.stdout, /listener w in node group prod must use TLS/);

    file('guard2.rego', TLS_GUARDRAIL.replace('must use TLS', 'needs TLS'));
    const v2 = await cli(['policies', 'version', 'cli-guard', '-f', join(work, 'guard2.rego')]);
    assert.equal(v2.code, 0, v2.stderr);
    assert.match(v2.stdout, /version 2: compiled; live: [0-9a-f-]{36}/);
    const activated = await cli(['policies', 'activate', 'cli-guard', '2']);
    assert.equal(activated.stdout, 'cli-guard: version 2 is live');
    assert.equal((await cli(['policies', 'activate', 'cli-guard'])).code, 2, 'usage error');
  });

  it('check, fmt and test files; decisions', async () => {
    const bad = await cli(['policies', 'check', '-f', join(work, 'bad.rego')]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, 'bad.rego:4:2: rego_unsafe_var_error: var unknown_var is unsafe');
    assert.equal((await cli(['policies', 'check', '-f', join(work, 'guard.rego')])).code, 0);

    const ugly = file('ugly.rego', 'package proxyshard.request\nallow if { input.a == 1 }\n');
    const fmt = await cli(['policies', 'fmt', '-f', ugly]);
    assert.equal(fmt.code, 0, fmt.stderr);
    assert.equal(fmt.stdout, 'package proxyshard.request\n\nallow if input.a == 1');
    const write = await cli(['policies', 'fmt', '-f', ugly, '--write']);
    assert.match(write.stdout, /formatted$/);
    assert.equal(readFileSync(ugly, 'utf8'), 'package proxyshard.request\n\nallow if input.a == 1\n');

    const edge = file('edge.rego', REQUEST_POLICY('v1'));
    const tests = file('edge_test.rego', FAILING_TEST);
    const data = file('data.json', JSON.stringify({ public_prefixes: ['/public'] }));
    const tested = await cli(['policies', 'test', '-f', edge, '--tests', tests, '--data', data]);
    assert.equal(tested.code, 1, 'a failing test exits 1');
    assert.match(tested.stdout, /^PASS {2}data\.proxyshard\.request_test\.test_get_public_allowed \(edge_test\.rego:\d+, /m);
    assert.match(tested.stdout, /^FAIL {2}data\.proxyshard\.request_test\.test_wrong_expectation /m);
    assert.match(tested.stdout, /^1 passed, 1 failed, 0 skipped$/m);

    const decisions = await cli(['policies', 'decisions', 'edge', '--allowed', 'false', '--limit', '1']);
    assert.equal(decisions.code, 0, decisions.stderr);
    assert.match(decisions.stdout, /^\d+\s+2026-11-20T10:03:00\.000Z\s+deny\s+403\s+POST\s+\/public\/3\s+web\s+43$/m);
    assert.match(decisions.stdout, /\(more: --before \d+\)/);
  });
});
