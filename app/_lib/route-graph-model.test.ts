import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteGraph } from '@/contracts/route-graph.schema';
import { connect, disconnect, graphToElements, newCluster, newListener, newNodeGroup, newRoute, newVirtualHost, removeNodes, type GraphOverlay } from './route-graph-model';

const graph: RouteGraph = {
  listeners: [{ ...newListener('web', 8080), virtualHosts: ['site'] }],
  virtualHosts: [{ ...newVirtualHost('site'), routes: ['root'] }],
  routes: [{ ...newRoute('root'), action: { kind: 'forward', clusters: [{ cluster: 'app', weight: 100 }] } }],
  clusters: [newCluster('app')],
  nodeGroups: [{ ...newNodeGroup('default'), listeners: ['web'] }],
};

const overlay: GraphOverlay = {
  requestPolicies: ['needs-user'],
  xdpRuleSets: [
    { id: '11111111-1111-4111-8111-111111111111', nodeGroup: 'default', name: 'default v2', detail: '1 rule', published: true },
    { id: '22222222-2222-4222-8222-222222222222', nodeGroup: 'default', name: 'default v3', detail: '1 rule · not published', published: false },
    { id: '33333333-3333-4333-8333-333333333333', nodeGroup: 'edge', name: 'edge v1', detail: '2 rules', published: true },
  ],
};

test('an unbound request policy of the tenant is a node (no edge); bound ones get their edge', () => {
  const els = graphToElements(graph, overlay);
  assert.ok(els.nodes.some((n) => n.id === 'p:needs-user' && n.kind === 'policy'));
  assert.equal(els.edges.filter((e) => e.kind === 'x-p').length, 0);
  const bound = connect(graph, 'r:root', 'p:needs-user');
  assert.ok(bound.ok);
  assert.deepEqual(bound.graph.routes[0]!.extAuthz, { policy: 'needs-user' });
  const after = graphToElements(bound.graph, overlay);
  assert.equal(after.nodes.filter((n) => n.id === 'p:needs-user').length, 1, 'bound and listed: one node');
  assert.deepEqual(
    after.edges.filter((e) => e.kind === 'x-p').map((e) => e.id),
    ['x-p|r:root|p:needs-user'],
  );
  // Drawn the other way round, the same binding.
  const reversed = connect(graph, 'p:needs-user', 'vh:site');
  assert.ok(reversed.ok);
  assert.deepEqual(reversed.graph.virtualHosts[0]!.extAuthz, { policy: 'needs-user' });
  // Without the overlay (the diff page), only bound policies are drawn.
  assert.ok(!graphToElements(graph).nodes.some((n) => n.kind === 'policy'));
});

test('XDP rule sets: nodes; an edge to a node group only for the published version of a group in the graph', () => {
  const els = graphToElements(graph, overlay);
  assert.equal(els.nodes.filter((n) => n.kind === 'xdpRuleSet').length, 3);
  assert.deepEqual(
    els.edges.filter((e) => e.kind === 'xr-ng').map((e) => e.id),
    ['xr-ng|xr:11111111-1111-4111-8111-111111111111|ng:default'],
  );
});

test('XDP edges are not route-graph edits: connect refuses, disconnect and delete leave the graph alone', () => {
  const r = connect(graph, 'xr:22222222-2222-4222-8222-222222222222', 'ng:default');
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : '', /own workflow/);
  assert.equal(disconnect(graph, 'xr-ng|xr:11111111-1111-4111-8111-111111111111|ng:default'), graph);
  assert.deepEqual(removeNodes(graph, ['xr:11111111-1111-4111-8111-111111111111']), graph);
  const refused = connect(graph, 'xr:11111111-1111-4111-8111-111111111111', 'r:root');
  assert.equal(refused.ok, false, 'a rule set attaches to node groups only');
});
