/**
 * SnapshotCache: a new snapshot version re-encodes only the resources whose content changed; the others keep
 * their encoding and per-resource version (what delta xDS compares), so proxies are sent the same bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { richSnapshot } from '../../test/fixtures/route-graphs';
import { loadXdsProtos } from './protos';
import { SnapshotCache } from './snapshot-cache';

test('a new version keeps the encoding of unchanged resources and re-encodes changed ones', () => {
  const cache = new SnapshotCache(loadXdsProtos());
  const a = richSnapshot();
  const b = richSnapshot((g) => {
    const split = g.routes?.find((r) => r.name === 'split');
    assert.ok(split && split.action.kind === 'forward');
    split.action.clusters = [{ cluster: 'app', weight: 50 }, { cluster: 'api', weight: 10 }, { cluster: 'canary', weight: 40 }];
  });
  assert.notEqual(a.version, b.version);
  assert.equal(cache.set({ tenantId: 't', ...a }), true);
  const first = cache.get('t', 'default')!;
  assert.equal(cache.set({ tenantId: 't', ...b }), true);
  const second = cache.get('t', 'default')!;
  assert.equal(second.version, b.version);

  // Clusters did not change: same encoded objects, same per-resource versions.
  assert.ok(first.resources.clusters.size > 0);
  for (const [name, any] of first.resources.clusters) {
    assert.equal(second.resources.clusters.get(name), any, `cluster ${name} reused`);
    assert.equal(second.resourceVersions.clusters.get(name), first.resourceVersions.clusters.get(name));
  }
  // The route configuration holding the changed route was encoded anew, and its encoding is what a fresh
  // cache produces for snapshot b.
  const fresh = new SnapshotCache(loadXdsProtos());
  fresh.set({ tenantId: 't', ...b });
  const changed = [...second.resourceVersions.routes].filter(([name, v]) => first.resourceVersions.routes.get(name) !== v);
  assert.ok(changed.length > 0, 'a route configuration changed');
  for (const kind of ['clusters', 'endpoints', 'listeners', 'routes'] as const) {
    assert.deepEqual([...second.resourceVersions[kind]], [...fresh.get('t', 'default')!.resourceVersions[kind]], kind);
    for (const [name, any] of second.resources[kind]) assert.deepEqual(Buffer.from(any.value), Buffer.from(fresh.get('t', 'default')!.resources[kind].get(name)!.value), `${kind} ${name}`);
  }
});
