import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RouteGraphSchema } from '../../contracts/route-graph.schema';
import { validateRolloutSpec, type RolloutSpec } from '../../contracts/rollout.schema';
import {
  analysisOutcome,
  diffCounters,
  evaluateAnalysisWindow,
  histogramQuantile,
  parseEnvoyClusterStats,
  successRate,
} from './analysis';
import { approvalRefusal, currentStepIndex, initialRolloutState, pauseReason, phase, rolloutStatus, stepsHash, trafficAfterSteps } from './status';
import { applyRolloutTraffic, headerRouteName, nodeGroupsServingRoute, promoteRolloutTraffic, rollbackRolloutTraffic, routeWeights } from './traffic';

const graph = RouteGraphSchema.parse({
  listeners: [{ name: 'main', port: 10000, virtualHosts: ['default'] }],
  virtualHosts: [{ name: 'default', domains: ['*'], routes: ['api', 'web'] }],
  routes: [
    { name: 'api', match: { prefix: '/api' }, action: { kind: 'forward', clusters: [{ cluster: 'api-v1', weight: 100 }] } },
    { name: 'web', match: { prefix: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'web', weight: 1 }] } },
  ],
  clusters: [
    { name: 'api-v1', endpoints: [{ address: '127.0.0.1', port: 8081 }] },
    { name: 'api-v2', endpoints: [{ address: '127.0.0.1', port: 8082 }] },
    { name: 'web', endpoints: [{ address: '127.0.0.1', port: 8083 }] },
  ],
  nodeGroups: [{ name: 'edge', listeners: ['main'] }, { name: 'other', listeners: [] }],
});

const spec = (steps: unknown[]): unknown => ({ route: 'api', stableCluster: 'api-v1', canaryCluster: 'api-v2', steps });

function ok(input: unknown): RolloutSpec {
  const v = validateRolloutSpec(input, graph);
  assert.ok(v.ok, JSON.stringify(!v.ok && v.issues));
  return v.spec;
}

test('a full spec with every step kind validates and gets defaults', () => {
  const s = ok(
    spec([
      { kind: 'setWeight', weight: 10 },
      { kind: 'analysis', metrics: [{ name: 'successRate', min: 0.95 }, { name: 'latencyP99', max: 500, maxDegradationVsStable: 0.5 }] },
      { kind: 'approval', timeoutMs: 60_000, onTimeout: 'escalate', escalation: { role: 'admin', timeoutMs: 1000 } },
      { kind: 'setHeaderRoute', match: { name: 'x-canary', exact: 'always' } },
      { kind: 'mirror', percent: 5 },
      { kind: 'pause' },
      { kind: 'pause', durationMs: 1000 },
      { kind: 'setWeight', weight: 100, bakeMs: 500 },
    ]),
  );
  const analysis = s.steps[1];
  assert.ok(analysis?.kind === 'analysis');
  assert.equal(analysis.intervalMs, 10_000);
  assert.equal(analysis.failureLimit, 0);
  const approval = s.steps[2];
  assert.ok(approval?.kind === 'approval');
  assert.equal(approval.requiredRole, 'approver');
  assert.equal(approval.approvers, 1);
  assert.equal(approval.separationOfDuties, true);
  assert.equal(s.ackTimeoutMs, 60_000);
});

test('validation issues carry field paths', () => {
  const v = validateRolloutSpec(
    spec([
      { kind: 'setWeight', weight: 120 },
      { kind: 'analysis', metrics: [{ name: 'successRate' }, { name: 'latencyP95', min: 10, max: 5 }] },
      { kind: 'approval', timeoutMs: 1000, onTimeout: 'escalate' },
      { kind: 'approval', timeoutMs: 1000, requiredRole: 'admin', onTimeout: 'escalate', escalation: { role: 'approver', timeoutMs: 5 } },
      { kind: 'teleport' },
    ]),
  );
  assert.ok(!v.ok);
  const paths = v.issues.map((i) => i.path);
  assert.ok(paths.includes('steps[0].weight'), paths.join());
  assert.ok(paths.includes('steps[4].kind'), paths.join());
  // zod first: semantic rules only once the shape is right
  const v2 = validateRolloutSpec(
    spec([
      { kind: 'analysis', metrics: [{ name: 'successRate' }, { name: 'latencyP95', min: 10, max: 5 }, { name: 'successRate', min: 2 }] },
      { kind: 'approval', timeoutMs: 1000, onTimeout: 'escalate' },
      { kind: 'approval', timeoutMs: 1000, requiredRole: 'admin', onTimeout: 'escalate', escalation: { role: 'approver', timeoutMs: 5 } },
      { kind: 'approval', timeoutMs: 1000, requiredRole: 'viewer' },
    ]),
    graph,
  );
  assert.ok(!v2.ok);
  assert.deepEqual(v2.issues.map((i) => i.path), ['steps[3].requiredRole']);
  const v3 = validateRolloutSpec(
    spec([
      { kind: 'analysis', metrics: [{ name: 'successRate' }, { name: 'latencyP95', min: 10, max: 5 }, { name: 'successRate', min: 2 }] },
      { kind: 'approval', timeoutMs: 1000, onTimeout: 'escalate' },
      { kind: 'approval', timeoutMs: 1000, requiredRole: 'admin', onTimeout: 'escalate', escalation: { role: 'approver', timeoutMs: 5 } },
    ]),
    graph,
  );
  assert.ok(!v3.ok);
  assert.deepEqual(v3.issues.map((i) => i.path).sort(), [
    'steps[0].metrics[0]',
    'steps[0].metrics[1].min',
    'steps[0].metrics[2].min',
    'steps[0].metrics[2].name',
    'steps[1].escalation',
    'steps[2].escalation.role',
  ]);
});

test('references are checked against the graph', () => {
  const bad = (input: object, path: string) => {
    const v = validateRolloutSpec({ ...(spec([{ kind: 'setWeight', weight: 10 }]) as object), ...input }, graph);
    assert.ok(!v.ok);
    assert.ok(v.issues.some((i) => i.path === path), JSON.stringify(v.issues));
  };
  bad({ route: 'nope' }, 'route');
  bad({ stableCluster: 'web' }, 'stableCluster');
  bad({ canaryCluster: 'api-v3' }, 'canaryCluster');
  bad({ canaryCluster: 'api-v1' }, 'canaryCluster');
});

test('status is computed from plain state', () => {
  const s = ok(spec([{ kind: 'setWeight', weight: 10 }, { kind: 'pause' }, { kind: 'setWeight', weight: 50 }]));
  const st = initialRolloutState(s);
  assert.equal(st.stepsHash, stepsHash(s.steps));
  assert.notEqual(stepsHash(s.steps), stepsHash([...s.steps].reverse()));
  assert.equal(phase(st), 'Progressing');
  st.stepIndex = 1;
  st.pause = { reason: 'PauseStep' };
  assert.equal(phase(st), 'Paused');
  assert.equal(pauseReason(st), 'PauseStep');
  st.stepIndex = 99;
  assert.equal(currentStepIndex(s, st), 3);
  st.outcome = 'promoted';
  assert.equal(phase(st), 'Promoted');
  assert.equal(pauseReason(st), null);
  assert.equal(rolloutStatus({ rolloutId: 'r', tenantId: 't' }, s, st).currentStep, null);
  assert.deepEqual(trafficAfterSteps(s.steps, 3), { weight: 50, headerRoute: null, mirrorPercent: 0 });
  st.ending = null;
  st.outcome = null;
  st.ending = 'rollingBack';
  assert.equal(phase(st), 'RollingBack');
});

test('approval refusals: role, separation of duties, twice, not waiting', () => {
  const step = ok(spec([{ kind: 'approval', timeoutMs: 1000 }])).steps[0];
  const opts = { step, waiting: true, requiredRole: 'approver', authors: ['user:alice'], approvals: [{ principalId: 'user:carol' }] };
  assert.match(approvalRefusal(opts, { id: 'user:v', role: 'viewer' }) ?? '', /role viewer cannot approve/);
  assert.match(approvalRefusal(opts, { id: 'user:o', role: 'operator' }) ?? '', /needs approver/);
  assert.match(approvalRefusal(opts, { id: 'user:alice', role: 'admin' }) ?? '', /author of the change/);
  assert.match(approvalRefusal(opts, { id: 'user:carol', role: 'approver' }) ?? '', /already/);
  assert.equal(approvalRefusal(opts, { id: 'user:bob', role: 'approver' }), null);
  assert.match(approvalRefusal({ ...opts, waiting: false }, { id: 'user:bob', role: 'approver' }) ?? '', /not waiting/);
});

test('traffic derivation touches only the target route', () => {
  const s = ok(spec([{ kind: 'setWeight', weight: 10 }]));
  const base = graph.routes[0]!;
  const g = applyRolloutTraffic(graph, s, base, { weight: 30, headerRoute: { name: 'x-canary', exact: 'always' }, mirrorPercent: 5 });
  assert.deepEqual(routeWeights(g, 'api'), [{ cluster: 'api-v1', weight: 70 }, { cluster: 'api-v2', weight: 30 }]);
  assert.deepEqual(g.routes.find((r) => r.name === 'api')?.mirror, { cluster: 'api-v2', percent: 5 });
  assert.deepEqual(g.virtualHosts[0]?.routes, [headerRouteName('api'), 'api', 'web']);
  assert.deepEqual(routeWeights(g, headerRouteName('api')), [{ cluster: 'api-v2', weight: 100 }]);
  assert.deepEqual(g.routes.find((r) => r.name === 'web'), graph.routes[1]);
  const again = applyRolloutTraffic(g, s, base, { weight: 30, headerRoute: null, mirrorPercent: 0 });
  assert.deepEqual(again.virtualHosts[0]?.routes, ['api', 'web']);
  assert.equal(again.routes.find((r) => r.name === 'api')?.mirror, undefined);
  const promoted = promoteRolloutTraffic(g, s, base);
  assert.deepEqual(routeWeights(promoted, 'api'), [{ cluster: 'api-v2', weight: 100 }]);
  assert.equal(promoted.routes.length, 2);
  const rolledBack = rollbackRolloutTraffic(g, s, base);
  assert.deepEqual(rolledBack.routes.find((r) => r.name === 'api'), base);
  assert.deepEqual(rolledBack.virtualHosts, graph.virtualHosts);
  assert.deepEqual(nodeGroupsServingRoute(graph, 'api'), ['edge']);
  // The canary cluster is copied from the rollout's revision when the live graph lacks it.
  const live = { ...graph, clusters: graph.clusters.filter((c) => c.name !== 'api-v2') };
  const withCanary = applyRolloutTraffic(live, s, base, { weight: 10, headerRoute: null, mirrorPercent: 0 }, graph.clusters);
  assert.ok(withCanary.clusters.some((c) => c.name === 'api-v2'));
});

const PROM = `# TYPE envoy_cluster_upstream_rq_xx counter
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="api-v1"} 90
envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="api-v1"} 10
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="api-v2"} 7
envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="web"} 1000
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="api-v1",le="0.5"} 0
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="api-v1",le="1"} 50
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="api-v1",le="5"} 90
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="api-v1",le="10"} 100
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="api-v1",le="+Inf"} 100
envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="api-v1"} 250
envoy_cluster_upstream_rq_time_count{envoy_cluster_name="api-v1"} 100
`;

test('Envoy Prometheus stats are parsed per cluster; quantiles interpolate inside buckets', () => {
  const stats = parseEnvoyClusterStats(PROM, ['api-v1', 'api-v2']);
  assert.deepEqual(Object.keys(stats).sort(), ['api-v1', 'api-v2']);
  const s1 = stats['api-v1']!;
  assert.equal(s1.rq2xx, 90);
  assert.equal(s1.rq5xx, 10);
  assert.equal(successRate(s1), 0.9);
  assert.deepEqual(s1.latencyBounds, [0.5, 1, 5, 10]);
  assert.equal(s1.latencyCount, 100);
  // p95: rank 95 falls in (5, 10] holding 10 → 5 + 5 * 5/10
  assert.equal(histogramQuantile(s1.latencyBounds, s1.latencyCumulative, s1.latencyCount, 0.95), 7.5);
  assert.equal(histogramQuantile(s1.latencyBounds, s1.latencyCumulative, s1.latencyCount, 0.5), 1);
  assert.equal(histogramQuantile([], [], 0, 0.99), null);
  assert.equal(stats['api-v2']!.rq2xx, 7);
  const d = diffCounters(s1, { ...s1, rq2xx: 80, rq5xx: 0, latencyCumulative: [0, 50, 80, 90], latencyCount: 90 });
  assert.equal(d.rq2xx, 10);
  assert.equal(d.rq5xx, 10);
  assert.deepEqual(d.latencyCumulative, [0, 0, 10, 10]);
});

test('analysis windows: fail with metric and values, inconclusive on too little traffic, canary vs stable', () => {
  const step = { metrics: [{ name: 'successRate' as const, min: 0.95, maxDegradationVsStable: 0.02 }], minRequests: 20 };
  const c = (ok2: number, bad: number) => ({ rq2xx: ok2, rq3xx: 0, rq4xx: 0, rq5xx: bad, latencyBounds: [], latencyCumulative: [], latencyCount: 0 });
  const failed = evaluateAnalysisWindow(step, { canary: c(70, 30), stable: c(100, 0) }, { stepIndex: 1, run: 1 });
  assert.equal(failed.verdict, 'fail');
  assert.equal(failed.metrics[0]?.canary, 0.7);
  assert.equal(failed.metrics[0]?.stable, 1);
  assert.match(failed.metrics[0]?.reason ?? '', /70\.00% is below the minimum 95\.00%/);
  assert.equal(evaluateAnalysisWindow(step, { canary: c(5, 0), stable: c(100, 0) }, { stepIndex: 1, run: 1 }).verdict, 'inconclusive');
  assert.equal(evaluateAnalysisWindow(step, { canary: c(99, 1), stable: c(100, 0) }, { stepIndex: 1, run: 1 }).verdict, 'pass');
  const vs = evaluateAnalysisWindow(step, { canary: c(96, 4), stable: c(100, 0) }, { stepIndex: 1, run: 1 });
  assert.equal(vs.verdict, 'fail');
  assert.match(vs.metrics[0]?.reason ?? '', /below stable/);
  const only = { metrics: [{ name: 'latencyP99' as const, maxDegradationVsStable: 0.5 }], minRequests: 20 };
  assert.equal(evaluateAnalysisWindow(only, { canary: c(50, 0), stable: null }, { stepIndex: 0, run: 1 }).verdict, 'inconclusive');
  assert.equal(analysisOutcome({ count: 3, failureLimit: 1, inconclusiveLimit: 0 }, [{ verdict: 'fail' }, { verdict: 'pass' }]), 'continue');
  assert.equal(analysisOutcome({ count: 3, failureLimit: 1, inconclusiveLimit: 0 }, [{ verdict: 'fail' }, { verdict: 'fail' }]), 'fail');
  assert.equal(analysisOutcome({ count: 3, failureLimit: 1, inconclusiveLimit: 0 }, [{ verdict: 'inconclusive' }]), 'inconclusive');
  assert.equal(analysisOutcome({ count: 2, failureLimit: 0, inconclusiveLimit: 0 }, [{ verdict: 'pass' }, { verdict: 'pass' }]), 'pass');
});
