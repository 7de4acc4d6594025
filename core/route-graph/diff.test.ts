import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteGraphSchema, type RouteGraph } from '../../contracts/route-graph.schema';
import { richRouteGraph } from '../../test/fixtures/route-graphs';
import { diffRouteGraphs } from './diff';

const parse = (g: unknown): RouteGraph => RouteGraphSchema.parse(g);
const EMPTY = parse({});

describe('diffRouteGraphs', () => {
  it('finds nothing between equal graphs', () => {
    const d = diffRouteGraphs(parse(richRouteGraph()), parse(richRouteGraph()));
    assert.deepEqual(d, { changes: [], summary: { added: 0, removed: 0, changed: 0 } });
  });

  it('lists added, removed and changed objects by kind and name, with field-level changes', () => {
    const before = parse(richRouteGraph());
    const input = richRouteGraph();
    const split = input.routes!.find((r) => r.name === 'split')!;
    split.action = { kind: 'forward', clusters: [{ cluster: 'app', weight: 50 }, { cluster: 'api', weight: 50 }] };
    input.clusters = input.clusters!.filter((c) => c.name !== 'unused');
    input.clusters.push({ name: 'fresh', endpoints: [{ address: '127.0.0.9', port: 1 }] });
    input.clusters[0]!.connectTimeoutMs = 2500;
    input.listeners![0]!.protocol = 'http1';
    const d = diffRouteGraphs(before, parse(input));
    assert.deepEqual(
      d.changes.map((c) => `${c.change} ${c.kind} ${c.name}`),
      ['changed listeners web', 'changed routes split', 'changed clusters app', 'added clusters fresh', 'removed clusters unused'].sort((a, b) => {
        const order = ['listeners', 'virtualHosts', 'routes', 'clusters', 'nodeGroups'];
        const [, ka, na] = a.split(' ');
        const [, kb, nb] = b.split(' ');
        return order.indexOf(ka!) - order.indexOf(kb!) || (na! < nb! ? -1 : 1);
      }),
    );
    assert.deepEqual(d.summary, { added: 1, removed: 1, changed: 3 });
    const splitChange = d.changes.find((c) => c.name === 'split')!;
    assert.deepEqual(splitChange.fields, [
      { path: 'action.clusters[0].weight', before: 90, after: 50 },
      { path: 'action.clusters[1].weight', before: 10, after: 50 },
      { path: 'action.clusters[2]', before: { cluster: 'canary', weight: 0 } },
    ]);
    assert.deepEqual(d.changes.find((c) => c.name === 'web')!.fields, [{ path: 'protocol', before: 'auto', after: 'http1' }]);
    assert.deepEqual(d.changes.find((c) => c.name === 'app')!.fields, [{ path: 'connectTimeoutMs', before: 1000, after: 2500 }]);
  });

  it('reports a field that appears or disappears', () => {
    const a = richRouteGraph();
    const b = richRouteGraph();
    delete b.routes!.find((r) => r.name === 'items')!.timeoutMs;
    b.routes!.find((r) => r.name === 'split')!.timeoutMs = 900;
    const d = diffRouteGraphs(parse(a), parse(b));
    assert.deepEqual(
      d.changes.map((c) => [c.name, c.fields]),
      [
        ['items', [{ path: 'timeoutMs', before: 1500 }]],
        ['split', [{ path: 'timeoutMs', after: 900 }]],
      ],
    );
  });

  it('diffs against an empty graph (first revision) and back', () => {
    const g = parse(richRouteGraph());
    const up = diffRouteGraphs(EMPTY, g);
    assert.equal(up.summary.added, g.listeners.length + g.virtualHosts.length + g.routes.length + g.clusters.length + g.nodeGroups.length);
    const down = diffRouteGraphs(g, EMPTY);
    assert.equal(down.summary.removed, up.summary.added);
  });
});
