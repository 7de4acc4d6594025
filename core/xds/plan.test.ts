import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteGraphSchema } from '../../contracts/route-graph.schema';
import { richRouteGraph } from '../../test/fixtures/route-graphs';
import { compileSnapshots } from './compile';
import { planSnapshots } from './plan';

const compile = (g: unknown) => compileSnapshots(RouteGraphSchema.parse(g));

describe('planSnapshots', () => {
  it('plans nothing for equal graphs', () => {
    const p = planSnapshots(compile(richRouteGraph()), compile(richRouteGraph()));
    assert.equal(p.changed, false);
    for (const g of p.nodeGroups) {
      assert.deepEqual(g.changes, []);
      assert.equal(g.versionBefore, g.versionAfter);
    }
  });

  it('names the resources added, removed and changed per type and node group', () => {
    const after = richRouteGraph();
    // Only the split changes weights and stops sending to canary: RDS of "web" changes, canary leaves CDS/EDS.
    after.routes!.find((r) => r.name === 'split')!.action = { kind: 'forward', clusters: [{ cluster: 'app', weight: 1 }, { cluster: 'api', weight: 1 }] };
    after.clusters!.find((c) => c.name === 'api')!.endpoints.push({ address: '::1', port: 9005 });
    after.nodeGroups!.push({ name: 'new-group', listeners: ['internal'] });
    const p = planSnapshots(compile(richRouteGraph()), compile(after));
    assert.equal(p.changed, true);
    const def = p.nodeGroups.find((g) => g.nodeGroup === 'default')!;
    assert.deepEqual(
      def.changes.map((c) => `${c.change} ${c.type} ${c.name}`),
      ['removed clusters canary', 'changed endpoints api', 'removed endpoints canary', 'changed routes web', 'changed routes web-v6'],
    );
    assert.deepEqual(def.counts.routes, { added: 0, removed: 0, changed: 2 });
    assert.deepEqual(def.counts.listeners, { added: 0, removed: 0, changed: 0 });
    assert.notEqual(def.versionBefore, def.versionAfter);
    const fresh = p.nodeGroups.find((g) => g.nodeGroup === 'new-group')!;
    assert.equal(fresh.versionBefore, null);
    assert.deepEqual(fresh.counts.listeners, { added: 1, removed: 0, changed: 0 });
    const empty = p.nodeGroups.find((g) => g.nodeGroup === 'empty')!;
    assert.deepEqual(empty.changes, []);
  });

  it('plans every resource as removed when a node group disappears', () => {
    const after = richRouteGraph();
    after.nodeGroups = after.nodeGroups!.filter((g) => g.name !== 'internal');
    const p = planSnapshots(compile(richRouteGraph()), compile(after));
    const internal = p.nodeGroups.find((g) => g.nodeGroup === 'internal')!;
    assert.equal(internal.versionAfter, null);
    assert.ok(internal.changes.length > 0);
    assert.ok(internal.changes.every((c) => c.change === 'removed'));
  });
});
