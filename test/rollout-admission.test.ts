/**
 * A rollout's final promotion passes admission (workers/rollout.activities.ts applyRolloutTraffic with the
 * worker's admitPromotion gate, server/services/revision-approval.service.ts admitRolloutPromotion), with real
 * PostgreSQL, the real opa CLI and opa-wasm: when the guardrails ask an approval for the promoted graph and
 * nobody approved, the promotion is refused (nothing published, no revision left behind, audited); once the
 * rollout recorded an approval, the promotion publishes and the route serves the canary only.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { MetricsSource } from '../core/rollout/ports';
import { appendAudit } from '../server/audit/audit.service';
import { findLiveRevision } from '../server/db/revision-read.repo';
import { insertRolloutApproval } from '../server/db/rollout.repo';
import { createPolicyDeps } from '../server/opa/policy-deps';
import { createPolicyVersion } from '../server/services/policy.service';
import { publishRevision } from '../server/services/publish.service';
import { admitRolloutPromotion } from '../server/services/revision-approval.service';
import { createRolloutActivities } from '../workers/rollout.activities';
import { guardedGraph } from './support/admission';
import { makeRevision, makeTenant } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

const PROMOTION_GUARD = `package proxyshard.admission

require_approval contains msg if {
	some r in input.revision.routes
	some c in r.action.clusters
	c.cluster == "b"
	c.weight == 100
	msg := sprintf("route %s: all traffic to b needs an approval", [r.name])
}
`;

const metrics: MetricsSource = {
  readClusterStats: () => Promise.reject(new Error('not used')),
  readRouteWeights: () => Promise.resolve(null),
  readServedRoutes: () => Promise.resolve(new Map()),
};

let tdb: TestDatabase;
let tenantId: string;
const deps = createPolicyDeps();

describe("a rollout's final promotion passes admission", () => {
  before(async () => {
    tdb = await createTestDatabase();
    const t = await makeTenant(tdb.db, 'promo');
    tenantId = t.id;
    await makeRevision(tdb.db, t, guardedGraph(10000, ['a', 'b']), { live: true });
    const v = await createPolicyVersion(tdb.db, deps, { tenantId, actor: { type: 'system', id: 'test', name: 'test' } }, {
      name: 'promotion-guard',
      kind: 'admission',
      modules: [{ file: 'guard.rego', source: PROMOTION_GUARD }],
      activate: true,
    });
    assert.equal(v.version.status, 'compiled', JSON.stringify(v.version.diagnostics));
  });

  after(async () => {
    await tdb?.drop();
  });

  it('without an approval the promotion is refused and audited; with the rollout’s approval it is published', async () => {
    const activities = createRolloutActivities({ db: tdb.db, publishRevision, appendAudit, metrics, admitPromotion: (tx, input) => admitRolloutPromotion(tx, deps, input) });
    const live = (await findLiveRevision(tdb.db, tenantId))!;
    const rolloutId = randomUUID();
    const input = {
      tenantId,
      rolloutId,
      revisionId: live.id,
      spec: { route: 'r', stableCluster: 'a', canaryCluster: 'b' },
      baseRoute: live.graph.routes[0],
      change: { kind: 'promote' as const },
      actor: { type: 'system' as const, id: 'rollout-controller', name: 'rollout controller' },
    };
    const revisionsBefore = await tdb.db.revision.count({ where: { tenantId } });

    await assert.rejects(activities.applyRolloutTraffic(input), /needs an approval before it can go live .*: promotion-guard: route r: all traffic to b needs an approval/);
    assert.equal((await findLiveRevision(tdb.db, tenantId))!.id, live.id, 'nothing changed live');
    assert.equal(await tdb.db.revision.count({ where: { tenantId } }), revisionsBefore, 'the promoted revision was rolled back with the refusal');
    const refused = await tdb.db.auditEntry.findMany({ where: { tenantId, action: 'rollout.promote.refused', targetId: rolloutId } });
    assert.equal(refused.length, 1);
    assert.deepEqual((refused[0]!.details as { approvalReasons: unknown }).approvalReasons, [{ policy: 'promotion-guard', message: 'route r: all traffic to b needs an approval' }]);

    await insertRolloutApproval(tdb.db, { tenantId, rolloutId, stepIndex: 0, decision: 'approve', principalId: 'user:bob', name: 'bob', role: 'approver', at: new Date().toISOString() });
    const promoted = await activities.applyRolloutTraffic(input);
    assert.ok(promoted.revisionId);
    const now = (await findLiveRevision(tdb.db, tenantId))!;
    assert.equal(now.id, promoted.revisionId);
    const action = now.graph.routes[0]!.action;
    assert.deepEqual(action.kind === 'forward' ? action.clusters.map((c) => [c.cluster, c.weight]) : action, [['b', 100]]);
  });
});
