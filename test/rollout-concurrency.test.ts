/**
 * 50 concurrent rollouts on 50 routes of one tenant (one Envoy, one worker, the 2-core machine): each shifts
 * 20 → 60 % with a short analysis, then promotes. Every rollout must end Promoted with its own route, and
 * only its route, moved to the canary — in the live graph and in Envoy's served configuration.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as startRoute from '../app/api/v1/rollouts/route';
import { setAppDb } from '../server/app-db';
import type { Tenant } from '../server/db/tenant.repo';
import { call, makeMember, makeToken } from './support/api';
import { generateTraffic, mapLimit, startRolloutHarness, type RolloutHarness } from './support/rollout-harness';
import { eventually } from './support/xds-harness';

const N = 50;
let h: RolloutHarness;

before(async () => {
  h = await startRolloutHarness({ routes: N });
  await h.startInProcessWorker();
  setAppDb(h.appDb);
});

after(async () => {
  setAppDb(undefined);
  await h?.stop();
});

test(`${N} concurrent rollouts on different routes all complete correctly`, { timeout: 600_000 }, async () => {
  const tenant = (await h.xds.db.tenant.findUniqueOrThrow({ where: { id: h.xds.tenantId } })) as Tenant;
  const op = await makeMember(h.xds.db, tenant, 'operator', { username: 'ops' });
  const token = (await makeToken(h.xds.db, op)).secret;
  const revisionId = await h.changeRevision(`user:${op.user.id}`);
  const traffic = generateTraffic(h.listenerPort, [...Array(N).keys()].map((i) => `/r${i}/x`), { parallel: 4 });
  const t0 = Date.now();
  let lastLog = Date.now();
  let ids: string[];
  try {
    const started = await mapLimit([...Array(N).keys()], 10, (i) =>
        call(startRoute.POST, {
          token,
          json: {
            revisionId,
            spec: {
              route: `r${i}`,
              stableCluster: `s${i}`,
              canaryCluster: `c${i}`,
              ackTimeoutMs: 120_000,
              steps: [
                { kind: 'setWeight', weight: 20, bakeMs: 200 },
                { kind: 'analysis', intervalMs: 2000, count: 1, minRequests: 1, inconclusiveLimit: 1, metrics: [{ name: 'successRate', min: 0.9 }] },
                { kind: 'setWeight', weight: 60, bakeMs: 200 },
              ],
            },
          },
        }),
    );
    for (const s of started) assert.equal(s.status, 201, JSON.stringify(s.body));
    ids = started.map((s) => s.body.rollout.id as string);
    await eventually(
      'all rollouts finished',
      async () => {
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          const phases = await h.xds.db.rollout.groupBy({ by: ['phase', 'currentStepIndex'], where: { id: { in: ids } }, _count: true });
          console.log(`[rollout] after ${Date.now() - t0} ms: ${phases.map((p) => `${p.phase}@${p.currentStepIndex}=${p._count}`).join(' ')}`);
        }
        const n = await h.xds.db.rollout.count({ where: { id: { in: ids }, phase: { in: ['Promoted', 'Failed', 'Aborted'] } } });
        return n === N ? true : undefined;
      },
      480_000,
      500,
    );
  } finally {
    await traffic.stop();
  }
  console.log(`[rollout] ${N} concurrent rollouts finished in ${Date.now() - t0} ms`);
  const rows = await h.xds.db.rollout.findMany({ where: { id: { in: ids } } });
  assert.deepEqual(rows.filter((r) => r.phase !== 'Promoted').map((r) => `${r.routeName}: ${r.phase} ${JSON.stringify(r.failure)}`), []);
  const live = await h.xds.db.revision.findFirstOrThrow({ where: { tenantId: h.xds.tenantId, state: 'live' } });
  const routes = (live.graph as { routes: { name: string; action: { clusters: { cluster: string; weight: number }[] } }[] }).routes;
  for (let i = 0; i < N; i++) {
    assert.deepEqual(routes.find((r) => r.name === `r${i}`)?.action.clusters, [{ cluster: `c${i}`, weight: 100 }], `r${i}`);
  }
  const dump = JSON.parse((await h.envoy.admin('/config_dump?resource=dynamic_route_configs')).body) as {
    configs: { route_config: { virtual_hosts: { routes: { name: string; route: { cluster?: string } }[] }[] } }[];
  };
  const served = new Map(dump.configs.flatMap((c) => c.route_config.virtual_hosts.flatMap((v) => v.routes.map((r) => [r.name, r.route.cluster] as const))));
  for (let i = 0; i < N; i++) assert.equal(served.get(`r${i}`), `c${i}`, `Envoy serves r${i} → c${i}`);
  // Steps of concurrent rollouts are coalesced into shared publishes (group commit); each publish's audit
  // entry lists the rollout steps it carries, and every step is in exactly one of them.
  const publishes = await h.xds.db.auditEntry.findMany({ where: { tenantId: h.xds.tenantId, action: 'revision.publish' }, orderBy: { seq: 'asc' } });
  const carried = new Map<string, string[]>();
  for (const p of publishes) {
    for (const r of (p.details as { rollouts?: { rolloutId: string; change: string }[] }).rollouts ?? []) carried.set(r.rolloutId, [...(carried.get(r.rolloutId) ?? []), r.change]);
  }
  for (const [i, id] of ids.entries()) {
    assert.deepEqual(carried.get(id), [`r${i} → c${i} 20%`, `r${i} → c${i} 60%`, `promote c${i} on r${i}`], 'w20, w60, promote, each published once');
  }
  console.log(`[rollout] ${N * 3} steps in ${publishes.filter((p) => (p.details as { rollouts?: unknown[] }).rollouts).length} publishes`);
});
