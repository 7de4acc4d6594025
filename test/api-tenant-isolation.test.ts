/**
 * Tenant isolation: an admin of tenant A (so no permission stands in the way) gets 404 — not 403 — for
 * every object of tenant B, on every object endpoint, and lists never show B's rows. Nothing of B changes.
 */
import assert from 'node:assert/strict';
import { recordProxyConnected } from '../server/db/proxy.repo';
import { after, before, test } from 'node:test';
import * as auditRoute from '../app/api/v1/audit/route';
import * as verifyRoute from '../app/api/v1/audit/verify/route';
import * as meTenantRoute from '../app/api/v1/me/tenant/route';
import * as membersRoute from '../app/api/v1/members/route';
import * as revisionsRoute from '../app/api/v1/revisions/route';
import * as routesRoute from '../app/api/v1/routes/route';
import * as tokenRoute from '../app/api/v1/tokens/[id]/route';
import * as tokensRoute from '../app/api/v1/tokens/route';
import { setAppDb } from '../server/app-db';
import { insertRollout } from '../server/db/rollout.repo';
import { call, discoverRoutes, makeMember, makePolicy, makeRevision, makeTenant, makeToken, oneRouteGraph, snapshotDatabase, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';
import * as agentsRoute from '../app/api/v1/agents/route';
import * as xdpPoliciesRoute from '../app/api/v1/xdp-policies/route';
import { registerAgent } from '../server/db/agent.repo';
import { createWebhookEndpoint } from '../server/db/notify.repo';
import { makeXdpPolicy } from './support/api';
import { getAppKeyBox } from '../server/pki/key-box';
import { issueCertificate, SYSTEM_ACTOR } from '../server/services/certificate.service';
import * as certificatesRoute from '../app/api/v1/certificates/route';
import * as casRoute from '../app/api/v1/cas/route';
import { ensurePlaybookRunRow, insertPlaybookTrigger, insertPlaybookVersion } from '../server/db/playbook.repo';

let tdb: TestDatabase;
let adminA: TestMember;
let viewerA: TestMember;
let tokenA: string;
let viewerTokenA: string;
/** Tenant B's XDP policy (group `edge`, desired) and agent; tenant A has the same group name. */
const bXdp = { policyId: '', agentId: '' };
/** Tenant B's certificate and its issuing CA (created on first issue). */
const bPki = { certificateId: '', caId: '' };
/** Tenant B's playbook, one of its runs and a trigger. */
const bPb = { playbookId: '', runId: '', triggerId: '' };
const b: { policyId: string; tokenId: string; memberId: string; adminMemberId: string; revisionId: string; tenantId: string; rolloutId: string; webhookId: string } = {
  rolloutId: '',
  policyId: '',
  tokenId: '',
  memberId: '',
  adminMemberId: '',
  revisionId: '',
  tenantId: '',
  webhookId: '',
};

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  const tenantA = await makeTenant(tdb.db, 'tenant-a');
  const tenantB = await makeTenant(tdb.db, 'tenant-b');
  adminA = await makeMember(tdb.db, tenantA, 'admin');
  viewerA = await makeMember(tdb.db, tenantA, 'viewer');
  tokenA = (await makeToken(tdb.db, adminA, 'a-admin')).secret;
  viewerTokenA = (await makeToken(tdb.db, viewerA, 'a-viewer')).secret;
  await makeRevision(tdb.db, tenantA, oneRouteGraph('a-route'), { live: true });

  const adminB = await makeMember(tdb.db, tenantB, 'admin');
  const operatorB = await makeMember(tdb.db, tenantB, 'operator');
  b.tenantId = tenantB.id;
  b.tokenId = (await makeToken(tdb.db, adminB, 'b-secret-token')).id;
  b.webhookId = (await createWebhookEndpoint(tdb.db, { tenantId: b.tenantId, name: 'b-secret-hook', url: 'http://127.0.0.1:9/b', secret: 's', kinds: [] })).id;
  const bCert = await issueCertificate(tdb.db, getAppKeyBox(), tenantB.id, { name: 'b-secret-cert', commonName: 'b-secret.example', usage: 'server' }, SYSTEM_ACTOR);
  bPki.certificateId = bCert.id;
  bPki.caId = (await tdb.db.certificate.findUniqueOrThrow({ where: { id: bCert.id } })).caId!;
  b.memberId = operatorB.member.id;
  b.adminMemberId = adminB.member.id;
  b.revisionId = await makeRevision(tdb.db, tenantB, oneRouteGraph('b-secret-route'), { live: true });
  await recordProxyConnected(tdb.db, { tenantId: tenantB.id, nodeId: 'b-secret-proxy', nodeCluster: 'b', nodeGroup: 'default', metadata: {}, userAgent: 'envoy', replica: 'r' });
  bXdp.policyId = (await makeXdpPolicy(tdb.db, tenantB, 'edge', { cidrs: ['198.18.66.0/24'], desired: true })).id;
  await makeXdpPolicy(tdb.db, tenantA, 'edge', { cidrs: ['198.18.11.0/24'] });
  const hello = { nodeGroup: 'edge', interfaces: [], kernelVersion: '6', xdpModes: ['generic'], agentVersion: 't', protectedCidrs: [], appliedVersion: '' };
  bXdp.agentId = (await registerAgent(tdb.db, { ...hello, tenantId: tenantB.id, nodeName: 'b-secret-node', sessionId: 's-b' })).id;
  await registerAgent(tdb.db, { ...hello, tenantId: tenantA.id, nodeName: 'a-node', sessionId: 's-a' });
  b.policyId = (await makePolicy(tdb.db, tenantB, 'b-secret-policy', { live: true })).id;
  bPb.playbookId = (await insertPlaybookVersion(tdb.db, { tenantId: tenantB.id, name: 'b-secret-playbook', spec: { steps: [{ kind: 'notify', subject: 'b' }] }, createdBy: 'b' })).id;
  bPb.runId = '11111111-1111-4111-8111-111111111111';
  await ensurePlaybookRunRow(tdb.db, { id: bPb.runId, tenantId: tenantB.id, playbookId: bPb.playbookId, workflowId: `playbook:${tenantB.id}:route:b`, target: 'route:b', params: {}, triggerType: 'manual', triggerId: null, startedById: 'user:b', startedByName: 'b' });
  bPb.triggerId = (
    await insertPlaybookTrigger(tdb.db, { id: '22222222-2222-4222-8222-222222222222', tenantId: tenantB.id, playbookId: bPb.playbookId, target: 'route:b', params: {}, condition: {}, intervalMs: 1000, cooldownMs: 1000, workflowId: 'playbook-trigger:b', createdById: 'user:b', createdByName: 'b' })
  ).id;
  b.rolloutId = (
    await insertRollout(tdb.db, {
      tenantId: tenantB.id,
      workflowId: `rollout:${tenantB.id}:b-secret-route:${b.revisionId}`,
      routeName: 'b-secret-route',
      revisionId: b.revisionId,
      spec: { route: 'b-secret-route', stableCluster: 'web', canaryCluster: 'web-v2', steps: [{ kind: 'pause' }], ackTimeoutMs: 60_000 },
      stepsHash: 'x',
      authors: [],
      startedById: 'user:b',
      startedByName: 'b',
      lastGoodRevisionId: b.revisionId,
    })
  ).id;
});

after(async () => {
  setAppDb(undefined);
  await tdb.drop();
});

/** A valid body for each object endpoint that takes one (so only the tenant check can refuse it). */
const BODIES: Record<string, unknown> = {
  'PATCH /api/v1/members/[id]': { role: 'viewer' },
  'POST /api/v1/xdp-policies/[id]/publish': {},
  'POST /api/v1/rollouts/[id]/approve': {},
  'POST /api/v1/rollouts/[id]/reject': {},
  'POST /api/v1/rollouts/[id]/pause': {},
  'POST /api/v1/rollouts/[id]/resume': {},
  'POST /api/v1/rollouts/[id]/abort': {},
  'POST /api/v1/rollouts/[id]/promote': {},
  'POST /api/v1/rollouts/[id]/retry': {},
  'POST /api/v1/policies/[id]/versions': { modules: [{ file: 'policy.rego', source: 'package proxyshard.admission\n' }], activate: true },
  'POST /api/v1/policies/[id]/activate': { version: 1 },
  'POST /api/v1/policies/[id]/evaluate': { input: {} },
  'POST /api/v1/revisions/[id]/apply': {},
  'POST /api/v1/revisions/[id]/approve': {},
  'POST /api/v1/revisions/[id]/revert': {},
  'POST /api/v1/certificates/[id]/revoke': { reason: 'keyCompromise' },
  'POST /api/v1/certificates/[id]/rotate': {},
  'POST /api/v1/certificates/[id]/schedule': { every: '1h' },
  'POST /api/v1/cas/[id]/export-key': { remove: true },
  'POST /api/v1/cas/[id]/rotate': {},
  'POST /api/v1/playbooks/[id]/runs': { target: 'route:a' },
  'POST /api/v1/playbooks/[id]/dry-run': { target: 'route:a' },
  'POST /api/v1/playbooks/[id]/triggers': { target: 'route:a', condition: { clusters: ['web'], successRate: { max: 0.5 } } },
  'POST /api/v1/playbooks/runs/[id]/approve': {},
  'POST /api/v1/playbooks/runs/[id]/reject': {},
  'POST /api/v1/playbooks/runs/[id]/resume': {},
  'POST /api/v1/playbooks/runs/[id]/abort': {},
};

/**
 * Object endpoints that are public by design and so answer for any tenant's object: a CA's CRL (a CRL
 * distribution point lists only serials and dates, and relying parties fetch it without credentials).
 */
const PUBLIC_OBJECTS = new Set(['GET /api/v1/cas/[id]/crl']);

/** For each object endpoint, which of tenant B's ids to aim at. A new [param] endpoint must be added here. */
const TARGETS: Record<string, () => Record<string, string>> = {
  '/api/v1/tokens/[id]': () => ({ id: b.tokenId }),
  '/api/v1/webhooks/[id]': () => ({ id: b.webhookId }),
  '/api/v1/members/[id]': () => ({ id: b.memberId }),
  '/api/v1/revisions/[id]': () => ({ id: b.revisionId }),
  '/api/v1/xdp-policies/[id]/publish': () => ({ id: bXdp.policyId }),
  '/api/v1/policies/[id]': () => ({ id: b.policyId }),
  '/api/v1/policies/[id]/versions': () => ({ id: b.policyId }),
  '/api/v1/policies/[id]/versions/[version]': () => ({ id: b.policyId, version: '1' }),
  '/api/v1/policies/[id]/activate': () => ({ id: b.policyId }),
  '/api/v1/policies/[id]/evaluate': () => ({ id: b.policyId }),
  '/api/v1/policies/[id]/decisions': () => ({ id: b.policyId }),
  '/api/v1/rollouts/[id]': () => ({ id: b.rolloutId }),
  '/api/v1/rollouts/[id]/approve': () => ({ id: b.rolloutId }),
  '/api/v1/rollouts/[id]/reject': () => ({ id: b.rolloutId }),
  '/api/v1/rollouts/[id]/pause': () => ({ id: b.rolloutId }),
  '/api/v1/rollouts/[id]/resume': () => ({ id: b.rolloutId }),
  '/api/v1/rollouts/[id]/abort': () => ({ id: b.rolloutId }),
  '/api/v1/rollouts/[id]/promote': () => ({ id: b.rolloutId }),
  '/api/v1/rollouts/[id]/retry': () => ({ id: b.rolloutId }),
  '/api/v1/revisions/[id]/diff': () => ({ id: b.revisionId }),
  '/api/v1/revisions/[id]/plan': () => ({ id: b.revisionId }),
  '/api/v1/revisions/[id]/translate': () => ({ id: b.revisionId }),
  '/api/v1/revisions/[id]/apply': () => ({ id: b.revisionId }),
  '/api/v1/revisions/[id]/approve': () => ({ id: b.revisionId }),
  '/api/v1/revisions/[id]/revert': () => ({ id: b.revisionId }),
  '/api/v1/proxies/[id]/config-dump': () => ({ id: 'b-secret-proxy' }),
  '/api/v1/certificates/[id]': () => ({ id: bPki.certificateId }),
  '/api/v1/certificates/[id]/revoke': () => ({ id: bPki.certificateId }),
  '/api/v1/certificates/[id]/rotate': () => ({ id: bPki.certificateId }),
  '/api/v1/certificates/[id]/schedule': () => ({ id: bPki.certificateId }),
  '/api/v1/cas/[id]': () => ({ id: bPki.caId }),
  '/api/v1/cas/[id]/crl': () => ({ id: bPki.caId }),
  '/api/v1/cas/[id]/export-key': () => ({ id: bPki.caId }),
  '/api/v1/cas/[id]/retire': () => ({ id: bPki.caId }),
  '/api/v1/cas/[id]/rotate': () => ({ id: bPki.caId }),
  '/api/v1/playbooks/[id]': () => ({ id: bPb.playbookId }),
  '/api/v1/playbooks/[id]/runs': () => ({ id: bPb.playbookId }),
  '/api/v1/playbooks/[id]/dry-run': () => ({ id: bPb.playbookId }),
  '/api/v1/playbooks/[id]/triggers': () => ({ id: bPb.playbookId }),
  '/api/v1/playbooks/runs/[id]': () => ({ id: bPb.runId }),
  '/api/v1/playbooks/runs/[id]/approve': () => ({ id: bPb.runId }),
  '/api/v1/playbooks/runs/[id]/reject': () => ({ id: bPb.runId }),
  '/api/v1/playbooks/runs/[id]/resume': () => ({ id: bPb.runId }),
  '/api/v1/playbooks/runs/[id]/abort': () => ({ id: bPb.runId }),
  '/api/v1/playbooks/triggers/[id]': () => ({ id: bPb.triggerId }),
};

test("every object endpoint answers 404 for tenant B's object, and B is untouched", async () => {
  const routes = (await discoverRoutes()).filter((r) => r.pattern.includes('['));
  assert.deepEqual([...new Set(routes.map((r) => r.pattern))].sort(), Object.keys(TARGETS).sort(), 'every object endpoint has a target in TARGETS');
  const snapshot = await snapshotDatabase(tdb.db);
  for (const r of routes) {
    const key = `${r.method} ${r.pattern}`;
    for (const token of [tokenA, viewerTokenA]) {
      const res = await call(r.handler, { token, params: TARGETS[r.pattern]!(), json: BODIES[key] });
      if (PUBLIC_OBJECTS.has(key)) {
        assert.equal(res.status, 200, `${key} is public by design`);
        assert.doesNotMatch(JSON.stringify(res.body), /b-secret/, 'and carries nothing but serials and dates');
        continue;
      }
      if (token === viewerTokenA && res.status === 403) continue; // the viewer lacks the permission before any lookup
      assert.equal(res.status, 404, `${key} as ${token === tokenA ? 'admin' : 'viewer'} of A: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'not_found');
    }
  }
  const now = await snapshotDatabase(tdb.db);
  for (const table of Object.keys(snapshot)) {
    if (table === 'auditEntry' || table === 'apiToken') continue; // lastUsedAt of A's tokens may move
    assert.equal(now[table], snapshot[table], `${table} changed`);
  }
  assert.equal(await tdb.db.auditEntry.count({ where: { tenantId: b.tenantId } }), JSON.parse(snapshot.auditEntry!).filter((e: { tenantId: string }) => e.tenantId === b.tenantId).length);
  const bToken = await tdb.db.apiToken.findUniqueOrThrow({ where: { id: b.tokenId } });
  assert.equal(bToken.revokedAt, null, "B's token was not revoked");
});

test("a well-formed id that exists nowhere looks exactly like B's object", async () => {
  const missing = await call(tokenRoute.DELETE, { token: tokenA, params: { id: '00000000-0000-4000-8000-000000000000' } });
  const foreign = await call(tokenRoute.DELETE, { token: tokenA, params: { id: b.tokenId } });
  assert.deepEqual(foreign.body, missing.body);
  const garbage = await call(tokenRoute.DELETE, { token: tokenA, params: { id: 'not-a-uuid' } });
  assert.equal(garbage.status, 404);
});

test("lists show only tenant A's rows", async () => {
  const tokens = await call(tokensRoute.GET, { token: tokenA, query: { all: 'true' } });
  assert.equal(tokens.status, 200);
  assert.deepEqual(tokens.body.tokens.map((t: { name: string }) => t.name).sort(), ['a-admin', 'a-viewer']);

  const members = await call(membersRoute.GET, { token: tokenA });
  assert.deepEqual(members.body.members.map((m: { id: string }) => m.id).sort(), [adminA.member.id, viewerA.member.id].sort());

  const revisions = await call(revisionsRoute.GET, { token: tokenA });
  assert.equal(revisions.body.revisions.length, 1);
  assert.notEqual(revisions.body.revisions[0].id, b.revisionId);

  const routes = await call(routesRoute.GET, { token: viewerTokenA });
  assert.deepEqual(routes.body.routes.map((r: { name: string }) => r.name), ['a-route']);

  const audit = await call(auditRoute.GET, { token: tokenA, query: { limit: '500' } });
  const aCount = await tdb.db.auditEntry.count({ where: { tenantId: adminA.tenant.id } });
  assert.equal(audit.body.entries.length, aCount);
  assert.ok(!JSON.stringify(audit.body).includes('b-secret-token'));
  const aimed = await call(auditRoute.GET, { token: tokenA, query: { targetId: b.tokenId } });
  assert.deepEqual(aimed.body.entries, [], "filtering by B's object id finds nothing");

  const verify = await call(verifyRoute.POST, { token: tokenA });
  assert.equal(verify.body.ok, true);
  assert.equal(verify.body.entries, aCount);
});

test("certificates and CAs: A sees only its own", async () => {
  const certs = await call(certificatesRoute.GET, { token: viewerTokenA });
  assert.equal(certs.status, 200);
  assert.deepEqual(certs.body.certificates, []);
  const cas = await call(casRoute.GET, { token: viewerTokenA });
  assert.deepEqual(cas.body.cas, [], "B's CA is not listed (A has none yet)");
});

test("agents and XDP policies: A sees only its own, also under the same node group name", async () => {
  const agents = await call(agentsRoute.GET, { token: viewerTokenA, query: { nodeGroup: 'edge' } });
  assert.equal(agents.status, 200);
  assert.deepEqual(agents.body.agents.map((a: { nodeName: string }) => a.nodeName), ['a-node']);
  assert.equal(agents.body.agents[0].desiredVersion, null, "B's desired version of `edge` does not leak into A's view");
  const all = await call(agentsRoute.GET, { token: tokenA });
  assert.ok(!JSON.stringify(all.body).includes('b-secret-node'));

  const policies = await call(xdpPoliciesRoute.GET, { token: viewerTokenA, query: { nodeGroup: 'edge' } });
  assert.equal(policies.status, 200);
  assert.equal(policies.body.policies.length, 1);
  assert.notEqual(policies.body.policies[0].id, bXdp.policyId);
  assert.equal(policies.body.policies[0].desired, false);
  const everything = await call(xdpPoliciesRoute.GET, { token: tokenA });
  assert.ok(!JSON.stringify(everything.body).includes('198.18.66.0'), "B's rules never show");
});

test("switching the session to tenant B is not_found for a member of A only", async () => {
  const res = await call(meTenantRoute.POST, { token: tokenA, json: { tenant: 'tenant-b' } });
  assert.ok(res.status === 403 || res.status === 404, 'tokens cannot switch at all');
  const { principal } = adminA;
  const { switchTenant } = await import('../server/services/auth.service');
  await assert.rejects(switchTenant(tdb.db, principal, 'tenant-b'), (err: { code?: string }) => err.code === 'not_found');
});

test('removing a member of B through A is impossible even for the last admin check', async () => {
  const res = await call((await import('../app/api/v1/members/[id]/route')).DELETE, { token: tokenA, params: { id: b.adminMemberId } });
  assert.equal(res.status, 404, 'not a conflict about "last admin": B is invisible');
});
