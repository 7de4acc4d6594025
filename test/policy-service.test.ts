/**
 * Policies as data with real PostgreSQL and the real opa CLI + opa-wasm: versions compile (check → test →
 * build), bad Rego gets diagnostics with line and column and never replaces the live version, activation
 * and rollback are audited and NOTIFYed; admission guardrails refuse revisions with the policy's message
 * (nothing changes live) or ask for approval.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { RouteGraph } from '../contracts/route-graph.schema';
import { demoRouteGraph } from '../core/demo-graph';
import { contentHash } from '../core/xds/snapshot';
import type { Db } from '../server/db/client';
import { POLICY_NOTIFY_CHANNEL, type PolicyNotification } from '../server/db/policy.repo';
import { AdmissionDeniedError, evaluateAdmission, requireAdmission } from '../server/services/admission.service';
import { activatePolicyVersion, createPolicyVersion, getPolicy, type PolicyServiceDeps } from '../server/services/policy.service';
import { publishRevision } from '../server/services/publish.service';
import { createOpaCli } from '../server/opa/opa-cli.adapter';
import { createWasmEvaluator, hostBuiltinNames, requiredBuiltins, sha256Hex } from '../server/opa/wasm-evaluator';
import { createTestDatabase, type TestDatabase } from './support/db';

const TLS_GUARDRAIL = `package proxyshard.admission

# Listeners delivered to node group "prod" must terminate TLS.
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

const TLS_GUARDRAIL_TEST = `package proxyshard.admission_test

import data.proxyshard.admission

test_plain_prod_listener_denied if {
	admission.deny == {"listener web in node group prod must use TLS"} with input as {
		"revision": {"nodeGroups": [{"name": "prod", "listeners": ["web"]}], "listeners": [{"name": "web"}]},
		"diff": {"clusters": {"removed": []}},
	}
}

test_tls_prod_listener_allowed if {
	count(admission.deny) == 0 with input as {
		"revision": {"nodeGroups": [{"name": "prod", "listeners": ["web"]}], "listeners": [{"name": "web", "tls": {"certificate": "c"}}]},
		"diff": {"clusters": {"removed": []}},
	}
}
`;

const actor = { type: 'user' as const, id: 'u-1', name: 'alice' };

let tdb: TestDatabase;
let db: Db;
let tenant: { id: string; slug: string };
let deps: PolicyServiceDeps;
const evaluator = createWasmEvaluator();
let revisionNumber = 0;

async function storeRevision(graph: RouteGraph): Promise<string> {
  revisionNumber += 1;
  const rev = await db.revision.create({
    data: { tenantId: tenant.id, number: revisionNumber, state: 'proposed', graph, graphHash: contentHash(graph), createdById: 'test' },
  });
  return rev.id;
}

function prodGraph(tls: boolean): RouteGraph {
  const g = demoRouteGraph({ listenerPort: 18443, upstreamPorts: [18081], listenerAddress: '127.0.0.1' });
  g.nodeGroups = [{ name: 'prod', listeners: ['demo'] }];
  if (tls) g.listeners[0]!.tls = { certificate: 'demo-cert', requireClientCertificate: false };
  return g;
}

async function auditActions(): Promise<string[]> {
  const rows = await db.auditEntry.findMany({ where: { tenantId: tenant.id }, orderBy: { seq: 'asc' } });
  return rows.map((r) => r.action);
}

describe('policy service and admission', () => {
  before(async () => {
    tdb = await createTestDatabase();
    db = tdb.db;
    const t = await db.tenant.create({ data: { slug: 'acme', name: 'Acme' } });
    tenant = { id: t.id, slug: t.slug };
    const host = hostBuiltinNames();
    deps = {
      compiler: createOpaCli(),
      sha256: sha256Hex,
      unsupportedBuiltins: async (wasm) => (await requiredBuiltins(wasm)).filter((b) => !host.has(b)),
    };
  });

  after(async () => {
    await tdb?.drop();
  });

  it('compiles a version with its tests, stores the Wasm and makes it live when asked', async () => {
    const listener = new pg.Client({ connectionString: tdb.url });
    await listener.connect();
    const notes: PolicyNotification[] = [];
    listener.on('notification', (m) => notes.push(JSON.parse(m.payload!) as PolicyNotification));
    await listener.query(`LISTEN ${POLICY_NOTIFY_CHANNEL}`);
    try {
      const r = await createPolicyVersion(db, deps, { tenantId: tenant.id, actor }, {
        name: 'prod-tls',
        kind: 'admission',
        modules: [
          { file: 'prod-tls.rego', source: TLS_GUARDRAIL },
          { file: 'prod-tls_test.rego', source: TLS_GUARDRAIL_TEST },
        ],
        activate: true,
      });
      assert.equal(r.version.status, 'compiled', JSON.stringify(r.version.diagnostics));
      assert.equal(r.version.number, 1);
      assert.equal(r.activated, true);
      assert.equal(r.policy.liveVersionId, r.version.id);
      assert.deepEqual(r.version.entrypoints, ['proxyshard/admission/deny', 'proxyshard/admission/require_approval']);
      assert.deepEqual(r.version.testResults.map((t) => [t.name, t.passed]).sort(), [
        ['test_plain_prod_listener_denied', true],
        ['test_tls_prod_listener_allowed', true],
      ]);
      const row = await db.policyVersion.findUniqueOrThrow({ where: { id: r.version.id } });
      assert.ok(row.wasm && row.wasm.length > 1000);
      assert.equal(sha256Hex(row.wasm), r.version.wasmSha256);
      for (let i = 0; i < 50 && notes.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
      assert.deepEqual(notes, [{ tenantId: tenant.id, policyId: r.policy.id, name: 'prod-tls', versionId: r.version.id }]);
    } finally {
      await listener.end();
    }
    assert.deepEqual(await auditActions(), ['policy.create', 'policy.version.create', 'policy.activate']);
  });

  it('refuses a plain listener in node group prod with the policy message; nothing changes live', async () => {
    // Something is live already.
    const goodId = await storeRevision(prodGraph(false));
    await publishRevision(db, { tenantId: tenant.id, revisionId: goodId });
    // (published before the guardrail existed for this test: demo graph without TLS is live)
    const liveBefore = (await db.tenant.findUniqueOrThrow({ where: { id: tenant.id } })).liveRevisionId;
    const snapshotsBefore = await db.snapshot.count({ where: { tenantId: tenant.id } });

    const bad = prodGraph(false);
    bad.routes[0]!.timeoutMs = 5000; // a different revision
    const badId = await storeRevision(bad);
    const err = await requireAdmission(db, { evaluator }, { tenantId: tenant.id, revisionId: badId, actor }).then(
      () => assert.fail('admitted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AdmissionDeniedError);
    assert.equal(err.status, 403);
    assert.deepEqual(err.decision.denyReasons, [{ policy: 'prod-tls', message: 'listener demo in node group prod must use TLS' }]);
    assert.deepEqual(err.issues, [{ path: 'policies.prod-tls', message: 'listener demo in node group prod must use TLS' }]);

    assert.equal((await db.tenant.findUniqueOrThrow({ where: { id: tenant.id } })).liveRevisionId, liveBefore);
    assert.equal(await db.snapshot.count({ where: { tenantId: tenant.id } }), snapshotsBefore);
    const audit = await db.auditEntry.findFirstOrThrow({ where: { tenantId: tenant.id, action: 'revision.admission' }, orderBy: { seq: 'desc' } });
    assert.equal(audit.targetId, badId);
    assert.equal((audit.details as { allowed: boolean }).allowed, false);
    assert.deepEqual((audit.details as { denyReasons: unknown }).denyReasons, err.decision.denyReasons);
  });

  it('admits a TLS listener, and asks for approval when a cluster is removed', async () => {
    const okId = await storeRevision(prodGraph(true));
    const ok = await requireAdmission(db, { evaluator }, { tenantId: tenant.id, revisionId: okId, actor });
    assert.deepEqual(ok.denyReasons, []);
    assert.deepEqual(ok.approvalReasons, []);
    assert.equal(ok.allowed, true);

    const removing = prodGraph(true);
    removing.clusters.push({ ...removing.clusters[0]!, name: 'extra' });
    const live = prodGraph(true);
    live.clusters.push({ ...live.clusters[0]!, name: 'old-cluster' });
    const decision = await evaluateAdmission(db, { evaluator }, {
      tenant,
      revision: { graph: removing },
      actor,
      diff: { listeners: empty(), virtualHosts: empty(), routes: empty(), clusters: { added: ['extra'], removed: ['old-cluster'], changed: [] }, nodeGroups: empty() },
    });
    assert.equal(decision.allowed, true);
    assert.deepEqual(decision.approvalReasons, [{ policy: 'prod-tls', message: 'removing cluster old-cluster needs an approval' }]);
  });

  it('gives bad Rego diagnostics with line and column and keeps the live version', async () => {
    const before = await getPolicy(db, tenant.id, 'prod-tls');
    const broken = TLS_GUARDRAIL.replace('not listener.tls', 'not listener.tls ==');
    const r = await createPolicyVersion(db, deps, { tenantId: tenant.id, actor }, {
      name: 'prod-tls',
      kind: 'admission',
      modules: [{ file: 'prod-tls.rego', source: broken }],
      activate: true,
    });
    assert.equal(r.version.status, 'failed');
    assert.equal(r.activated, false);
    assert.equal(r.version.number, 2);
    assert.equal(r.version.diagnostics.length >= 1, true);
    const d = r.version.diagnostics[0]!;
    assert.equal(d.file, 'prod-tls.rego');
    assert.match(d.code, /^rego_(parse|compile)_error$/);
    assert.ok(d.row >= 10 && d.col >= 1, JSON.stringify(d));
    const after = await getPolicy(db, tenant.id, 'prod-tls');
    assert.equal(after.policy.liveVersionId, before.policy.liveVersionId);
    assert.deepEqual(after.versions.map((v) => [v.number, v.status]), [[2, 'failed'], [1, 'compiled']]);
    // It cannot be activated either.
    await assert.rejects(activatePolicyVersion(db, { tenantId: tenant.id, actor }, { name: 'prod-tls', version: 2 }), /did not compile/);

    // A failing test is a failed version too, located at the test.
    const wrongTest = await createPolicyVersion(db, deps, { tenantId: tenant.id, actor }, {
      name: 'prod-tls',
      kind: 'admission',
      modules: [
        { file: 'prod-tls.rego', source: TLS_GUARDRAIL.replace('must use TLS', 'should use TLS') },
        { file: 'prod-tls_test.rego', source: TLS_GUARDRAIL_TEST },
      ],
      activate: true,
    });
    assert.equal(wrongTest.version.status, 'failed');
    assert.deepEqual(wrongTest.version.diagnostics, [
      { file: 'prod-tls_test.rego', row: 5, col: 1, code: 'test_failed', message: 'test_plain_prod_listener_denied failed' },
    ]);
    assert.equal((await getPolicy(db, tenant.id, 'prod-tls')).policy.liveVersionId, before.policy.liveVersionId);
  });

  it('checks the package convention and the kind', async () => {
    const r = await createPolicyVersion(db, deps, { tenantId: tenant.id, actor }, {
      name: 'wrong-package',
      kind: 'request',
      modules: [{ file: 'p.rego', source: 'package something.else\n\nallow := true\n' }],
    });
    assert.equal(r.version.status, 'failed');
    assert.deepEqual(r.version.diagnostics, [
      { file: 'p.rego', row: 1, col: 1, code: 'proxyshard_package', message: 'a request policy must declare "package proxyshard.request"' },
    ]);
    await assert.rejects(
      createPolicyVersion(db, deps, { tenantId: tenant.id, actor }, { name: 'prod-tls', kind: 'request', modules: [{ file: 'a.rego', source: 'package proxyshard.request\n\nallow := true\n' }] }),
      /is a admission policy/,
    );
    await assert.rejects(
      createPolicyVersion(db, deps, { tenantId: tenant.id, actor }, { name: 'Bad Name', kind: 'request', modules: [] }),
      (e: unknown) => (e as { issues?: { path: string }[] }).issues?.some((i) => i.path === 'name') === true,
    );
  });

  it('activates an older version (rollback) and audits it', async () => {
    const v3 = await createPolicyVersion(db, deps, { tenantId: tenant.id, actor }, {
      name: 'prod-tls',
      kind: 'admission',
      modules: [{ file: 'prod-tls.rego', source: 'package proxyshard.admission\n\ndeny contains "frozen" if true\n' }],
      activate: true,
    });
    assert.equal(v3.activated, true);
    assert.deepEqual(v3.version.entrypoints, ['proxyshard/admission/deny'], 'require_approval is optional');
    const frozen = await evaluateAdmission(db, { evaluator }, { tenant, revision: { graph: prodGraph(true) }, actor });
    assert.deepEqual(frozen.denyReasons, [{ policy: 'prod-tls', message: 'frozen' }]);

    await activatePolicyVersion(db, { tenantId: tenant.id, actor }, { name: 'prod-tls', version: 1 });
    const back = await evaluateAdmission(db, { evaluator }, { tenant, revision: { graph: prodGraph(true) }, actor });
    assert.equal(back.allowed, true);
    const actions = await auditActions();
    assert.equal(actions.filter((a) => a === 'policy.activate').length, 3);
  });

  it('publishing a revision with a bound request policy tells ext_authz the tenant', async () => {
    const g = demoRouteGraph({ listenerPort: 18444, upstreamPorts: [18081], listenerAddress: '127.0.0.1' });
    g.virtualHosts[0]!.extAuthz = { policy: 'edge' };
    const id = await storeRevision(g);
    await publishRevision(db, { tenantId: tenant.id, revisionId: id });
    const snap = await db.snapshot.findFirstOrThrow({ where: { tenantId: tenant.id, revisionId: id } });
    const text = JSON.stringify(snap.resources);
    const contexts = [...text.matchAll(/"context_extensions":(\{[^}]*\})/g)].map((m) => JSON.parse(m[1]!) as Record<string, string>);
    assert.ok(contexts.length > 0, 'the bound route carries ExtAuthzPerRoute context');
    for (const c of contexts) assert.deepEqual({ policy: c.policy, tenant: c.tenant }, { policy: 'edge', tenant: 'acme' });
  });
});

function empty() {
  return { added: [], removed: [], changed: [] };
}
