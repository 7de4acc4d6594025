import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PlaybookSpecSchema, PlaybookStepSchema, type GraphStep } from '../../contracts/playbook.schema';
import { RouteGraphSchema, type RouteGraph } from '../../contracts/route-graph.schema';
import { XdpPolicySpecSchema } from '../../contracts/xdp.schema';
import { validateRouteGraph } from '../../contracts/route-graph.validate';
import { contentHash } from '../xds/snapshot';
import { evaluateHealth, parseEjectionsActive } from './health';
import {
  PlaybookStepError,
  addXdpRules,
  applyGraphChange,
  applyGraphStep,
  captureTouched,
  captureXdpRules,
  missingParams,
  planPlaybook,
  restoreTouched,
  restoreXdpRules,
  substituteParams,
  touchedBy,
} from './transform';

const graph: RouteGraph = RouteGraphSchema.parse({
  listeners: [{ name: 'main', port: 10000, virtualHosts: ['default'] }],
  virtualHosts: [{ name: 'default', domains: ['*'], routes: ['api', 'web'] }],
  routes: [
    { name: 'api', match: { prefix: '/api' }, action: { kind: 'forward', clusters: [{ cluster: 'api-a', weight: 100 }] } },
    { name: 'web', match: { prefix: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'api-a', weight: 60 }, { cluster: 'web', weight: 40 }] } },
  ],
  clusters: [
    { name: 'api-a', endpoints: [{ address: '10.0.0.1', port: 80, locality: { region: 'a', zone: 'a1' } }] },
    { name: 'api-b', endpoints: [{ address: '10.0.1.1', port: 80, locality: { region: 'b', zone: 'b1' } }] },
    {
      name: 'web',
      endpoints: [
        { address: '10.0.0.2', port: 80, weight: 2, locality: { region: 'a', zone: 'a1' } },
        { address: '10.0.0.3', port: 80, weight: 1, locality: { region: 'a', zone: 'a2' } },
        { address: '10.0.1.2', port: 80, weight: 1, locality: { region: 'b', zone: 'b1' } },
      ],
    },
  ],
  nodeGroups: [{ name: 'default', listeners: ['main'] }],
});

const step = (raw: unknown) => PlaybookStepSchema.parse(raw) as GraphStep;
const weights = (g: RouteGraph, route: string) => {
  const r = g.routes.find((x) => x.name === route)!;
  return r.action.kind === 'forward' ? r.action.clusters.map((c) => `${c.cluster}=${c.weight}`).join(',') : '';
};

test('shiftWeight between clusters moves the traffic in equal increments relative to the start, idempotently', () => {
  const s = step({ kind: 'shiftWeight', between: { level: 'clusters', route: 'api', from: 'api-a', to: 'api-b' }, increments: 4 });
  const before = captureTouched(graph, touchedBy(graph, s));
  let g = graph;
  const seen: string[] = [];
  for (let k = 1; k <= 4; k++) {
    g = applyGraphStep(g, s, k, before);
    seen.push(weights(g, 'api'));
    assert.deepEqual(applyGraphStep(g, s, k, before), g, 'applying an increment again changes nothing');
  }
  assert.deepEqual(seen, ['api-a=75,api-b=25', 'api-a=50,api-b=50', 'api-a=25,api-b=75', 'api-a=0,api-b=100']);
  assert.ok(validateRouteGraph(g).ok);
  assert.equal(weights(g, 'web'), 'api-a=60,web=40', 'other routes untouched');
});

test('shiftWeight between localities scales endpoint weights, then makes the old locality standby', () => {
  const s = step({ kind: 'shiftWeight', between: { level: 'localities', cluster: 'web', from: { region: 'a' }, to: { region: 'b' } }, increments: 2 });
  const before = captureTouched(graph, touchedBy(graph, s));
  const half = applyGraphStep(graph, s, 1, before).clusters.find((c) => c.name === 'web')!;
  // Region a had 3/4 of the traffic; half of it moved: a keeps 3/8 (48 of 128), b gets 5/8.
  assert.deepEqual(half.endpoints.map((e) => [e.weight, e.priority]), [[32, 0], [16, 0], [80, 0]]);
  const all = applyGraphStep(graph, s, 2, before).clusters.find((c) => c.name === 'web')!;
  assert.deepEqual(all.endpoints.map((e) => [e.locality.region, e.priority]), [['a', 1], ['a', 1], ['b', 0]]);
});

test('shiftPriority, drain, outlier detection, health check and rate limit; errors name the field', () => {
  const prio = applyGraphChange(graph, { kind: 'step', step: step({ kind: 'shiftPriority', cluster: 'web', to: { region: 'b' } }), increment: 1 }).graph;
  assert.deepEqual(prio.clusters.find((c) => c.name === 'web')!.endpoints.map((e) => e.priority), [1, 1, 0]);

  const drained = applyGraphChange(graph, { kind: 'step', step: step({ kind: 'drain', cluster: 'web' }), increment: 1 }).graph;
  assert.equal(weights(drained, 'web'), 'api-a=100');
  const noEndpoints = applyGraphChange(graph, { kind: 'step', step: step({ kind: 'drain', cluster: 'web', locality: { region: 'a' } }), increment: 1 }).graph;
  assert.deepEqual(noEndpoints.clusters.find((c) => c.name === 'web')!.endpoints.map((e) => e.address), ['10.0.1.2']);
  assert.throws(() => applyGraphChange(graph, { kind: 'step', step: step({ kind: 'drain', cluster: 'api-a' }), increment: 1 }), (e: unknown) => e instanceof PlaybookStepError && e.path === 'cluster');

  const od = applyGraphChange(graph, { kind: 'step', step: step({ kind: 'setOutlierDetection', cluster: 'api-a', outlierDetection: { consecutive5xx: 2 } }), increment: 1 }).graph;
  assert.equal(od.clusters.find((c) => c.name === 'api-a')!.outlierDetection?.consecutive5xx, 2);
  const cleared = applyGraphChange(od, { kind: 'step', step: step({ kind: 'setOutlierDetection', cluster: 'api-a', outlierDetection: null }), increment: 1 }).graph;
  assert.equal(cleared.clusters.find((c) => c.name === 'api-a')!.outlierDetection, undefined);
  const hc = applyGraphChange(graph, { kind: 'step', step: step({ kind: 'setHealthCheck', cluster: 'api-b', healthCheck: { path: '/ready' } }), increment: 1 }).graph;
  assert.equal(hc.clusters.find((c) => c.name === 'api-b')!.healthCheck?.path, '/ready');
  const rl = applyGraphChange(graph, { kind: 'step', step: step({ kind: 'setRateLimit', route: 'api', rateLimit: { requestsPerFill: 10, fillIntervalMs: 1000, burst: 20 } }), increment: 1 }).graph;
  assert.equal(rl.routes.find((r) => r.name === 'api')!.rateLimit?.burst, 20);

  assert.throws(
    () => applyGraphChange(graph, { kind: 'step', step: step({ kind: 'shiftWeight', between: { level: 'clusters', route: 'nope', from: 'api-a', to: 'api-b' } }), increment: 1 }),
    (e: unknown) => e instanceof PlaybookStepError && e.path === 'between.route',
  );
});

const graphSteps: fc.Arbitrary<GraphStep> = fc.oneof(
  fc.record({ increments: fc.integer({ min: 1, max: 6 }), percent: fc.integer({ min: 1, max: 100 }), route: fc.constantFrom('api', 'web') }).map(({ increments, percent, route }) =>
    step({ kind: 'shiftWeight', between: { level: 'clusters', route, from: 'api-a', to: route === 'api' ? 'api-b' : 'web' }, increments, percent }),
  ),
  fc.integer({ min: 1, max: 5 }).map((increments) => step({ kind: 'shiftWeight', between: { level: 'localities', cluster: 'web', from: { region: 'a' }, to: { region: 'b' } }, increments })),
  fc.constantFrom('a', 'b').map((region) => step({ kind: 'shiftPriority', cluster: 'web', to: { region } })),
  fc.constant(step({ kind: 'drain', cluster: 'web' })),
  fc.constant(step({ kind: 'drain', cluster: 'web', endpoints: [{ address: '10.0.0.3', port: 80 }] })),
  fc.integer({ min: 1, max: 10 }).map((n) => step({ kind: 'setOutlierDetection', cluster: 'api-b', outlierDetection: { consecutive5xx: n } })),
  fc.constant(step({ kind: 'setHealthCheck', cluster: 'api-a', healthCheck: null })),
  fc.integer({ min: 1, max: 100 }).map((n) => step({ kind: 'setRateLimit', route: 'web', rateLimit: { requestsPerFill: n, fillIntervalMs: 1000, burst: n } })),
);

test('property: any sequence of graph steps keeps the graph valid, and restoring in reverse order gives the original graph', () => {
  fc.assert(
    fc.property(fc.array(graphSteps, { minLength: 1, maxLength: 6 }), (steps) => {
      let g = graph;
      const befores = [];
      for (const s of steps) {
        const before = captureTouched(g, touchedBy(g, s));
        const start = g;
        try {
          for (let k = 1; k <= (s.kind === 'shiftWeight' ? s.increments : 1); k++) g = applyGraphChange(g, { kind: 'step', step: s, increment: k, before }).graph;
        } catch (err) {
          // A step that does not apply (e.g. draining endpoints already drained) is refused before any change.
          assert.ok(err instanceof PlaybookStepError, String(err));
          assert.equal(g, start);
          continue;
        }
        befores.push(before);
        assert.ok(validateRouteGraph(g).ok, JSON.stringify(validateRouteGraph(g)));
      }
      for (const before of befores.reverse()) g = restoreTouched(g, before);
      assert.equal(contentHash(g), contentHash(graph));
    }),
    { numRuns: 200 },
  );
});

test('property: shiftWeight conserves the route total and ends with `percent` of from moved', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 100 }), (increments, percent) => {
      const s = step({ kind: 'shiftWeight', between: { level: 'clusters', route: 'web', from: 'api-a', to: 'web' }, increments, percent });
      const before = captureTouched(graph, touchedBy(graph, s));
      let last = 60;
      for (let k = 1; k <= increments; k++) {
        const g = applyGraphStep(graph, s, k, before);
        const r = g.routes.find((x) => x.name === 'web')!;
        const cl = r.action.kind === 'forward' ? r.action.clusters : [];
        assert.equal(cl.reduce((n, c) => n + c.weight, 0), 100);
        const from = cl.find((c) => c.cluster === 'api-a')!.weight;
        assert.ok(from <= last, 'monotonic');
        last = from;
      }
      assert.equal(last, 60 - Math.round((60 * percent) / 100));
    }),
  );
});

test('XDP: rules are added by name and restored exactly', () => {
  const base = XdpPolicySpecSchema.parse({ interfaces: ['eth0'], rules: [{ kind: 'deny', name: 'old', cidrs: ['198.18.1.0/24'] }, { kind: 'deny', name: 'x', cidrs: ['198.18.2.0/24'] }] });
  const s = PlaybookStepSchema.parse({ kind: 'pushXdpRules', nodeGroup: 'edge', rules: [{ kind: 'deny', name: 'x', cidrs: ['198.18.9.0/24'] }, { kind: 'deny', name: 'new', cidrs: ['198.18.3.0/24'] }] });
  if (s.kind !== 'pushXdpRules') throw new Error('kind');
  const next = addXdpRules(base, s);
  assert.deepEqual(next.rules.map((r) => r.name), ['old', 'x', 'new']);
  const before = captureXdpRules(base, ['x', 'new']);
  assert.deepEqual(restoreXdpRules(next, before), base);
  assert.throws(() => addXdpRules(null, s), (e: unknown) => e instanceof PlaybookStepError && e.path === 'interfaces');
  assert.deepEqual(addXdpRules(null, { ...s, interfaces: ['psn0'] }).interfaces, ['psn0']);
});

test('parameters are substituted (numbers stay numbers); missing ones are named', () => {
  const raw = { steps: [{ kind: 'shiftWeight', between: { level: 'clusters', route: '${route}', from: '${route}-a', to: 'b' }, increments: '${n}' }] };
  assert.deepEqual(missingParams(raw), ['n', 'route']);
  const out = substituteParams(raw, { route: 'api', n: 3 }) as typeof raw;
  assert.deepEqual(out.steps[0], { kind: 'shiftWeight', between: { level: 'clusters', route: 'api', from: 'api-a', to: 'b' }, increments: 3 });
  assert.deepEqual(missingParams(out), []);
});

test('the plan lists every change with its key; gates change nothing', () => {
  const spec = PlaybookSpecSchema.parse({
    steps: [
      { kind: 'notify', subject: 'go' },
      { kind: 'shiftWeight', between: { level: 'clusters', route: 'api', from: 'api-a', to: 'api-b' }, increments: 2 },
      { kind: 'pushXdpRules', nodeGroup: 'edge', interfaces: ['eth0'], rules: [{ kind: 'deny', name: 'bad', cidrs: ['198.18.0.0/24'] }] },
      { kind: 'verify', condition: { clusters: ['api-b'], successRate: { min: 0.99 } } },
    ],
  });
  const plan = planPlaybook(spec, graph, {});
  assert.deepEqual(plan.map((a) => `${a.key}:${a.kind}`), ['s0:gate', 's1.1:graph', 's1.2:graph', 's2.1:xdp', 's3:gate']);
  const last = plan[2]!;
  assert.ok(last.kind === 'graph' && weights(last.graph, 'api') === 'api-a=0,api-b=100');
});

test('health conditions: holds, fails, inconclusive; ejections parsed from Envoy stats', () => {
  const c = (rq2xx: number, rq5xx: number) => ({ rq2xx, rq3xx: 0, rq4xx: 0, rq5xx, latencyBounds: [], latencyCumulative: [], latencyCount: 0 });
  const cond = { clusters: ['a', 'b'], nodeGroups: [], successRate: { min: 0.99 }, windowMs: 1000, minRequests: 10 };
  assert.equal(evaluateHealth(cond, { a: c(50, 0), b: c(50, 0) }).verdict, 'holds');
  assert.equal(evaluateHealth(cond, { a: c(50, 0), b: c(40, 10) }).verdict, 'fails');
  assert.equal(evaluateHealth(cond, { a: c(3, 0) }).verdict, 'inconclusive');
  const unhealthy = { clusters: ['a'], nodeGroups: [], successRate: { max: 0.9 }, windowMs: 1000, minRequests: 10 };
  assert.equal(evaluateHealth(unhealthy, { a: c(0, 20) }).verdict, 'holds');
  const ej = parseEjectionsActive('cluster.a.outlier_detection.ejections_active: 2\ncluster.b.outlier_detection.ejections_active: 0\n', ['a', 'b']);
  assert.deepEqual(ej, { a: 2, b: 0 });
  assert.equal(evaluateHealth({ clusters: ['a'], nodeGroups: [], ejectionsActive: { min: 1 }, windowMs: 1000, minRequests: 10 }, {}, ej).verdict, 'holds');
});
