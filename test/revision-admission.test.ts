/**
 * Admission in the apply path (server/services/revision.service.ts applyRevision), with real PostgreSQL and
 * the real opa CLI + opa-wasm: a guardrail's deny refuses the apply with 403 and the policy's reasons before
 * any workflow starts (nothing changes live); require_approval without an approval refuses it with 409
 * (test/revision-approval.test.ts covers approving and applying through the real workflow).
 * Temporal is a recording stand-in here: what matters is whether a publish was started at all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createPolicyDeps } from '../server/opa/policy-deps';
import { AdmissionDeniedError } from '../server/services/admission.service';
import { createPolicyVersion } from '../server/services/policy.service';
import { ApprovalRequiredError, publishAdmittedRevision } from '../server/services/revision-approval.service';
import { applyRevision, createRevision, type RevisionCaller } from '../server/services/revision.service';
import type { ProxyShardTemporal } from '../server/temporal/client';
import { GUARDRAIL, guardedGraph as graph } from './support/admission';
import { makeRevision, makeTenant } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let caller: RevisionCaller;
const deps = createPolicyDeps();
const starts: { workflowId: string }[] = [];
const temporal = {
  taskQueue: 'test',
  connection: {},
  client: {
    workflow: {
      start: async (_workflow: string, opts: { workflowId: string }) => {
        starts.push(opts);
        return { workflowId: opts.workflowId, describe: async () => ({ runId: `run-${starts.length}` }) };
      },
    },
  },
} as unknown as ProxyShardTemporal;

describe('admission when a revision is applied', () => {
  before(async () => {
    tdb = await createTestDatabase();
    const tenant = await makeTenant(tdb.db, 'adm');
    caller = { tenantId: tenant.id, actor: { type: 'user', id: 'u-1', name: 'alice' } };
    await makeRevision(tdb.db, tenant, graph(10000, ['a', 'b']), { live: true });
    const v = await createPolicyVersion(tdb.db, deps, caller, { name: 'guard', kind: 'admission', modules: [{ file: 'guard.rego', source: GUARDRAIL }], activate: true });
    assert.equal(v.version.status, 'compiled', JSON.stringify(v.version.diagnostics));
  });

  after(async () => {
    await tdb?.drop();
  });

  it('a deny refuses the apply with 403 and the reasons; no workflow starts, nothing changes live', async () => {
    const liveBefore = (await tdb.db.tenant.findUniqueOrThrow({ where: { id: caller.tenantId } })).liveRevisionId;
    const rev = await createRevision(tdb.db, caller, { graph: graph(80, ['a', 'b']), message: 'privileged port' });
    const err = await applyRevision(tdb.db, caller, rev.id, {}, { temporal, admission: deps }).then(
      () => assert.fail('applied'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AdmissionDeniedError, String(err));
    assert.equal(err.status, 403);
    assert.deepEqual(err.issues, [{ path: 'policies.guard', message: 'listener main: port 80 is privileged' }]);
    assert.deepEqual(err.details?.denyReasons, [{ policy: 'guard', message: 'listener main: port 80 is privileged' }]);
    assert.equal(starts.length, 0, 'no publish was started');
    assert.equal((await tdb.db.tenant.findUniqueOrThrow({ where: { id: caller.tenantId } })).liveRevisionId, liveBefore);
    const actions = (await tdb.db.auditEntry.findMany({ where: { tenantId: caller.tenantId, targetId: rev.id }, orderBy: { seq: 'asc' } })).map((e) => e.action);
    assert.deepEqual(actions, ['revision.create', 'revision.admission'], 'the refusal is audited; there is no revision.apply');
  });

  it('require_approval without an approval refuses the apply with 409 and the reasons; no workflow starts', async () => {
    const rev = await createRevision(tdb.db, caller, { graph: graph(10000, ['a']), message: 'drop cluster b' });
    const err = await applyRevision(tdb.db, caller, rev.id, {}, { temporal, admission: deps }).then(
      () => assert.fail('applied'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApprovalRequiredError, String(err));
    assert.equal(err.status, 409);
    assert.deepEqual(err.issues, [{ path: 'policies.guard', message: 'removing cluster b needs an approval' }]);
    assert.equal(starts.length, 0, 'no publish was started');
    const audit = await tdb.db.auditEntry.findFirstOrThrow({ where: { tenantId: caller.tenantId, targetId: rev.id, action: 'revision.admission' } });
    assert.equal((audit.details as { allowed: boolean; needsApproval: boolean }).allowed, true);
    assert.equal((audit.details as { needsApproval: boolean }).needsApproval, true);
    const actions = (await tdb.db.auditEntry.findMany({ where: { tenantId: caller.tenantId, targetId: rev.id }, orderBy: { seq: 'asc' } })).map((e) => e.action);
    assert.deepEqual(actions, ['revision.create', 'revision.admission', 'revision.apply.refused']);
  });

  it('an allowed revision that needs no approval starts the publish', async () => {
    const rev = await createRevision(tdb.db, caller, { graph: graph(10001, ['a', 'b']), message: 'move port' });
    const applied = await applyRevision(tdb.db, caller, rev.id, {}, { temporal, admission: deps });
    assert.equal(starts.length, 1);
    assert.equal(applied.workflowId, starts[0]!.workflowId);
    assert.deepEqual(applied.admission, {
      needsApproval: false,
      approvalReasons: [],
      approvals: [],
      evaluated: [{ policy: 'guard', versionId: applied.admission.evaluated[0]!.versionId }],
    });
  });

  it('the publish activity passes the gate again: an applied revision keeps one admission entry and goes live', async () => {
    const rev = await createRevision(tdb.db, caller, { graph: graph(10002, ['a', 'b']), message: 'move port again' });
    await applyRevision(tdb.db, caller, rev.id, {}, { temporal, admission: deps });
    // What the workflow's publish activity runs (workers/worker/main.ts).
    await publishAdmittedRevision(tdb.db, deps, { tenantId: caller.tenantId, revisionId: rev.id, actor: caller.actor });
    assert.equal((await tdb.db.tenant.findUniqueOrThrow({ where: { id: caller.tenantId } })).liveRevisionId, rev.id);
    const actions = (await tdb.db.auditEntry.findMany({ where: { tenantId: caller.tenantId, targetId: rev.id }, orderBy: { seq: 'asc' } })).map((e) => e.action);
    assert.deepEqual(
      actions.filter((a) => a === 'revision.admission'),
      ['revision.admission'],
      `one admission decision for one apply (${actions.join(', ')})`,
    );
  });

  it('the publish activity refuses a revision that was never admitted, and records that decision', async () => {
    const liveBefore = (await tdb.db.tenant.findUniqueOrThrow({ where: { id: caller.tenantId } })).liveRevisionId;
    const rev = await createRevision(tdb.db, caller, { graph: graph(81, ['a', 'b']), message: 'privileged port, no apply' });
    const err = await publishAdmittedRevision(tdb.db, deps, { tenantId: caller.tenantId, revisionId: rev.id, actor: caller.actor }).then(
      () => assert.fail('published'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AdmissionDeniedError, String(err));
    assert.deepEqual(err.details?.denyReasons, [{ policy: 'guard', message: 'listener main: port 81 is privileged' }]);
    assert.equal((await tdb.db.tenant.findUniqueOrThrow({ where: { id: caller.tenantId } })).liveRevisionId, liveBefore);
    const audit = await tdb.db.auditEntry.findMany({ where: { tenantId: caller.tenantId, targetId: rev.id, action: 'revision.admission' } });
    assert.equal(audit.length, 1);
    assert.equal((audit[0]!.details as { allowed: boolean }).allowed, false);
  });
});
