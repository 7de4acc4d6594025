/**
 * GET /api/v1/graph-policies (what the graph editor draws beside the route graph) against real PostgreSQL:
 * request policies with the allowed/denied counts of their sampled decisions in the window (another
 * tenant's and older decisions not counted); XDP rule sets per node group (the desired version and a newer
 * unpublished one, never older ones) with the counters of the agents that applied the version, summed per
 * rule (reserved counters and agents on another version not counted).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import * as route from '../app/api/v1/graph-policies/route';
import { setAppDb } from '../server/app-db';
import { recordApplyResult, recordCounters, registerAgent } from '../server/db/agent.repo';
import { insertDecisionLogs, type DecisionLogInput } from '../server/db/policy-decision-log.repo';
import type { Tenant } from '../server/db/tenant.repo';
import { call, makeMember, makePolicy, makeTenant, makeToken, makeXdpPolicy } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let tenant: Tenant;
let viewerToken: string;
let edgeV2: { id: string; version: string };

const decision = (t: Tenant, policy: { id: string; versionId: string }, name: string, allowed: boolean, at = new Date()): DecisionLogInput => ({
  tenantId: t.id,
  policyId: policy.id,
  policyVersionId: policy.versionId,
  policyName: name,
  at,
  allowed,
  httpStatus: allowed ? 200 : 403,
  method: 'GET',
  path: '/',
  route: 'root',
  input: {},
  result: allowed,
  durationUs: 10,
});

const counter = (slot: number, name: string, matchPackets: number, dropPackets: number) => ({ slot, name, interface: 'eth0', matchPackets, matchBytes: matchPackets * 60, dropPackets, dropBytes: dropPackets * 60 });

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  tenant = await makeTenant(tdb.db, 'graph-policies');
  viewerToken = (await makeToken(tdb.db, await makeMember(tdb.db, tenant, 'viewer'), 'viewer')).secret;
  const other = await makeTenant(tdb.db, 'graph-policies-other');

  const needsUser = await makePolicy(tdb.db, tenant, 'needs-user', { kind: 'request', live: true });
  await makePolicy(tdb.db, tenant, 'draft-only', { kind: 'request' });
  await makePolicy(tdb.db, tenant, 'guardrails', { kind: 'admission', live: true });
  const othersPolicy = await makePolicy(tdb.db, other, 'needs-user', { kind: 'request', live: true });
  await insertDecisionLogs(tdb.db, [
    decision(tenant, needsUser, 'needs-user', true),
    decision(tenant, needsUser, 'needs-user', true),
    decision(tenant, needsUser, 'needs-user', false),
    decision(tenant, needsUser, 'needs-user', false, new Date(Date.now() - 2 * 3600_000)), // outside the hour
    decision(other, othersPolicy, 'needs-user', false),
  ]);

  // Node group edge: v1 desired, v2 written later and not published; lab: one desired version.
  const edgeV1 = await makeXdpPolicy(tdb.db, tenant, 'edge', { desired: true });
  edgeV2 = await makeXdpPolicy(tdb.db, tenant, 'edge', { cidrs: ['198.18.7.0/24'] });
  await makeXdpPolicy(tdb.db, tenant, 'lab', { desired: true });
  const hello = { tenantId: tenant.id, interfaces: [], kernelVersion: '6.1', xdpModes: ['generic'], agentVersion: 'test', appliedVersion: '', protectedCidrs: [] };
  const a = (await registerAgent(tdb.db, { ...hello, nodeName: 'node-a', nodeGroup: 'edge', sessionId: 's-a' })).id;
  const b = (await registerAgent(tdb.db, { ...hello, nodeName: 'node-b', nodeGroup: 'edge', sessionId: 's-b' })).id;
  const c = (await registerAgent(tdb.db, { ...hello, nodeName: 'node-c', nodeGroup: 'edge', sessionId: 's-c' })).id;
  await recordApplyResult(tdb.db, a, { version: edgeV1.version, ok: true, error: '' });
  await recordApplyResult(tdb.db, b, { version: edgeV1.version, ok: true, error: '' });
  await recordCounters(tdb.db, a, [counter(0, 'bad', 10, 7), counter(1000, 'seen', 5000, 0)]);
  await recordCounters(tdb.db, b, [counter(0, 'bad', 3, 2)]);
  // c applied nothing yet but reports counters of an earlier program: not counted.
  await recordCounters(tdb.db, c, [counter(0, 'bad', 99, 99)]);
});

after(async () => {
  await tdb?.drop();
});

test('request policies with their sampled decision counts of the last hour', async () => {
  const res = await call(route.GET, { token: viewerToken });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.windowMinutes, 60);
  assert.equal(typeof res.body.decisionLogSampleRate, 'number');
  assert.deepEqual(
    res.body.requestPolicies.map((p: { name: string; liveVersion: number | null; allowed: number; denied: number }) => [p.name, p.liveVersion, p.allowed, p.denied]),
    [
      ['draft-only', null, 0, 0],
      ['needs-user', 1, 2, 1],
    ],
  );
  const wider = await call(route.GET, { token: viewerToken, query: { windowMinutes: '180' } });
  assert.equal(wider.body.requestPolicies.find((p: { name: string }) => p.name === 'needs-user').denied, 2);
});

test('XDP rule sets: desired and newer unpublished versions, counters of the agents that applied them', async () => {
  const res = await call(route.GET, { token: viewerToken });
  const sets = res.body.xdpRuleSets as { id: string; nodeGroup: string; seq: number; published: boolean; agents: unknown; counters: { matchPackets: number; dropPackets: number; perRule: unknown[] } }[];
  assert.deepEqual(
    sets.map((s) => [s.nodeGroup, s.seq, s.published]),
    [
      ['edge', 2, false],
      ['edge', 1, true],
      ['lab', 1, true],
    ],
  );
  const v1 = sets.find((s) => s.nodeGroup === 'edge' && s.published)!;
  assert.deepEqual(v1.agents, { total: 3, connected: 3, applied: 2 });
  assert.deepEqual(v1.counters, { matchPackets: 13, dropPackets: 9, perRule: [{ name: 'bad', matchPackets: 13, dropPackets: 9 }] });
  const v2 = sets.find((s) => s.id === edgeV2.id)!;
  assert.equal(v2.counters.matchPackets, 0, 'no agent applied the unpublished version');
});

test('bad input names the field; another tenant sees none of it', async () => {
  const bad = await call(route.GET, { token: viewerToken, query: { windowMinutes: '0' } });
  assert.equal(bad.status, 400);
  assert.match(JSON.stringify(bad.body), /windowMinutes/);
  const other = await makeTenant(tdb.db, `graph-policies-${randomUUID().slice(0, 8)}`);
  const token = (await makeToken(tdb.db, await makeMember(tdb.db, other, 'viewer'), 'v')).secret;
  const res = await call(route.GET, { token });
  assert.deepEqual([res.body.requestPolicies, res.body.xdpRuleSets], [[], []]);
});
