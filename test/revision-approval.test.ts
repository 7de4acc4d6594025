/**
 * Revisions the admission guardrails ask an approval for (require_approval), end to end through the REST
 * handlers, the CLI and the real publishRevisionWorkflow on a real Temporal dev server, with the publish
 * activity wired as the worker wires it (publishAdmittedRevision): real PostgreSQL, the real opa CLI and
 * opa-wasm. A plain apply is refused until a member who may decide approvals and is not the author approved
 * it; a publish workflow started without the apply endpoint is refused by the same gate; refusals and the
 * approval are audited; after the approval the apply publishes the snapshot and the revision is live.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as revisionsRoute from '../app/api/v1/revisions/route';
import * as applyRoute from '../app/api/v1/revisions/[id]/apply/route';
import * as approveRoute from '../app/api/v1/revisions/[id]/approve/route';
import { setAppDb } from '../server/app-db';
import { appendAudit } from '../server/audit/audit.service';
import { findLatestSnapshot } from '../server/db/snapshot.repo';
import { createPolicyDeps } from '../server/opa/policy-deps';
import { createPolicyVersion } from '../server/services/policy.service';
import { publishAdmittedRevision } from '../server/services/revision-approval.service';
import { getAppTemporal } from '../server/temporal/app-temporal';
import { startPublishRevision } from '../server/temporal/client';
import { createPublishActivities } from '../workers/publish.activities';
import { GUARDRAIL, guardedGraph as graph } from './support/admission';
import { call, discoverRoutes, makeMember, makeRevision, makeTenant, makeToken, runCliAgainst, startApiServer, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';
import { startAppPublishWorker } from './support/temporal';

let tdb: TestDatabase;
let alice: TestMember; // approver, and the author of the change
let bob: TestMember; // another approver
let olga: TestMember; // operator
let vera: TestMember; // viewer
const tokens: Record<string, string> = {};
let api: { url: string; close(): Promise<void> };
let publishWorker: { stop(): Promise<void> };
const deps = createPolicyDeps();

async function liveRevisionId(): Promise<string | null> {
  return (await tdb.db.tenant.findUniqueOrThrow({ where: { id: alice.tenant.id } })).liveRevisionId;
}

async function auditOf(revisionId: string) {
  return tdb.db.auditEntry.findMany({ where: { tenantId: alice.tenant.id, targetId: revisionId }, orderBy: { seq: 'asc' } });
}

const cli = (token: string, ...args: string[]) => runCliAgainst(api.url, token, args);

describe('revisions that need an approval', () => {
  before(async () => {
    tdb = await createTestDatabase();
    setAppDb(tdb.db);
    const t = await makeTenant(tdb.db, 'approvals');
    alice = await makeMember(tdb.db, t, 'approver', { username: 'alice' });
    bob = await makeMember(tdb.db, t, 'approver', { username: 'bob' });
    olga = await makeMember(tdb.db, t, 'operator', { username: 'olga' });
    vera = await makeMember(tdb.db, t, 'viewer', { username: 'vera' });
    for (const m of [alice, bob, olga, vera]) tokens[m.user.username] = (await makeToken(tdb.db, m)).secret;
    await makeRevision(tdb.db, t, graph(10000, ['a', 'b']), { live: true });
    const v = await createPolicyVersion(tdb.db, deps, { tenantId: t.id, actor: { type: 'system', id: 'test', name: 'test' } }, {
      name: 'guard',
      kind: 'admission',
      modules: [{ file: 'guard.rego', source: GUARDRAIL }],
      activate: true,
    });
    assert.equal(v.version.status, 'compiled', JSON.stringify(v.version.diagnostics));

    // As workers/worker/main.ts wires it: every publish passes the admission gate first.
    publishWorker = await startAppPublishWorker({
      name: 'revision-approval',
      activities: createPublishActivities({ db: tdb.db, publishRevision: (db, input) => publishAdmittedRevision(db, deps, input), appendAudit }),
    });
    api = await startApiServer(await discoverRoutes());
  });

  after(async () => {
    setAppDb(undefined);
    await publishWorker?.stop();
    await api?.close();
    await tdb?.drop();
  });

  let changeId: string;
  let liveBefore: string | null;

  it('a plain apply of a revision that needs an approval is refused (409, audited); nothing goes live', async () => {
    liveBefore = await liveRevisionId();
    const created = await call(revisionsRoute.POST, { token: tokens.alice, json: { graph: graph(10000, ['a']), message: 'drop cluster b' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    changeId = created.body.revision.id;

    const applied = await call(applyRoute.POST, { token: tokens.alice, params: { id: changeId }, json: { wait: true } });
    assert.equal(applied.status, 409, JSON.stringify(applied.body));
    assert.equal(applied.body.error.code, 'conflict');
    assert.match(applied.body.error.message, /needs an approval before it can go live/);
    assert.deepEqual(applied.body.error.issues, [{ path: 'policies.guard', message: 'removing cluster b needs an approval' }]);
    assert.equal(await liveRevisionId(), liveBefore);
    const actions = (await auditOf(changeId)).map((e) => e.action);
    assert.deepEqual(actions, ['revision.create', 'revision.admission', 'revision.apply.refused']);
    const refused = (await auditOf(changeId)).at(-1)!;
    assert.equal(refused.actorName, 'alice');
    assert.deepEqual((refused.details as { approvalReasons: unknown }).approvalReasons, [{ policy: 'guard', message: 'removing cluster b needs an approval' }]);
  });

  it('a publish workflow started without the apply endpoint is refused by the same gate', async () => {
    const handle = await startPublishRevision(await getAppTemporal(), { tenantId: alice.tenant.id, revisionId: changeId, actor: { type: 'user', id: olga.user.id, name: 'olga' } });
    await assert.rejects(handle.result(), (err: unknown) => {
      // WorkflowFailedError → ActivityFailure → ApplicationFailure (the gate's message).
      const chain: string[] = [];
      for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) chain.push(e.message ?? '');
      assert.match(chain.join(' | '), /needs an approval before it can go live/);
      return true;
    });
    assert.equal(await liveRevisionId(), liveBefore);
    const refused = (await auditOf(changeId)).filter((e) => e.action === 'revision.publish.refused');
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.actorName, 'olga');
  });

  it('its author cannot approve it, nor can a viewer or an operator; another approver can (audited)', async () => {
    const byAuthor = await call(approveRoute.POST, { token: tokens.alice, params: { id: changeId }, json: {} });
    assert.equal(byAuthor.status, 403, JSON.stringify(byAuthor.body));
    assert.match(byAuthor.body.error.message, /author of revision \d+ cannot approve it \(separation of duties\)/);
    const refused = (await auditOf(changeId)).filter((e) => e.action === 'revision.approve.refused');
    assert.deepEqual(refused.map((e) => [e.actorName, (e.details as { reason: string }).reason]), [['alice', 'author']]);

    for (const who of ['vera', 'olga']) {
      const denied = await call(approveRoute.POST, { token: tokens[who], params: { id: changeId }, json: {} });
      assert.equal(denied.status, 403, who);
    }
    const viaCli = await cli(tokens.vera!, 'revisions', 'approve', changeId);
    assert.notEqual(viaCli.code, 0);
    assert.equal(await tdb.db.revisionApproval.count(), 0, 'no approval was stored');

    const approved = await cli(tokens.bob!, 'revisions', 'approve', changeId, '--comment', 'b is drained');
    assert.equal(approved.code, 0, approved.err);
    assert.match(approved.out, /approved by bob \(approver\)\n {2}guard: removing cluster b needs an approval/);
    const again = await call(approveRoute.POST, { token: tokens.bob, params: { id: changeId }, json: {} });
    assert.equal(again.status, 200);
    assert.equal(again.body.created, false, 'the first approval stands');
    assert.equal(again.body.approval.comment, 'b is drained');
    const approvals = (await auditOf(changeId)).filter((e) => e.action === 'revision.approve');
    assert.equal(approvals.length, 1);
    assert.equal(approvals[0]!.actorName, 'bob');
    assert.equal((approvals[0]!.details as { comment: string }).comment, 'b is drained');
  });

  it('once approved, the author applies it: the workflow publishes the snapshot and the revision is live', async () => {
    const admissionsBefore = (await auditOf(changeId)).filter((e) => e.action === 'revision.admission').length;
    const applied = await call(applyRoute.POST, { token: tokens.alice, params: { id: changeId }, json: { wait: true } });
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    assert.equal(applied.body.admission.needsApproval, true);
    assert.deepEqual(
      applied.body.admission.approvals.map((a: { approver: { name: string } }) => a.approver.name),
      ['bob'],
    );
    assert.equal(await liveRevisionId(), changeId);
    const snapshot = await findLatestSnapshot(tdb.db, alice.tenant.id, 'default');
    assert.equal(snapshot?.revisionId, changeId);
    const clusters = snapshot!.resources.clusters.map((c) => (c as { name?: unknown }).name);
    assert.deepEqual(clusters, ['a'], 'cluster b is gone from what proxies receive');
    const actions = (await auditOf(changeId)).map((e) => e.action);
    assert.ok(actions.includes('revision.apply') && actions.includes('revision.publish'), actions.join(', '));
    // The publish activity passed the gate again with the same decision: the apply's entry is the only one.
    assert.equal(actions.filter((a) => a === 'revision.admission').length - admissionsBefore, 1, actions.join(', '));
  });

  it('approval cannot override a deny, and a revision that needs none has nothing to approve', async () => {
    const privileged = await call(revisionsRoute.POST, { token: tokens.olga, json: { graph: graph(80, ['a']), message: 'privileged port' } });
    const denied = await call(approveRoute.POST, { token: tokens.bob, params: { id: privileged.body.revision.id }, json: {} });
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.body.error.issues, [{ path: 'policies.guard', message: 'listener main: port 80 is privileged' }]);

    const harmless = await call(revisionsRoute.POST, { token: tokens.olga, json: { graph: graph(10001, ['a']), message: 'move port' } });
    const none = await call(approveRoute.POST, { token: tokens.bob, params: { id: harmless.body.revision.id }, json: {} });
    assert.equal(none.status, 409);
    assert.match(none.body.error.message, /does not need an approval/);
    assert.equal(await tdb.db.revisionApproval.count(), 1);
  });
});
