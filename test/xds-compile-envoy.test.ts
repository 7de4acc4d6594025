/* eslint-disable @typescript-eslint/no-explicit-any -- the tests poke into Envoy resource JSON */
/**
 * What the compiler emits is what Envoy accepts: every snapshot of the feature-complete fixture graph, made
 * static (RDS inlined, EDS clusters turned STATIC with their ClusterLoadAssignment), passes
 * `envoy --mode validate`, as does the bootstrap of workers/envoy/bootstrap.ts. And a resource Envoy rejects
 * is rejected by this check too (the check can fail).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { RouteGraphSchema } from '../contracts/route-graph.schema';
import { compileSnapshots } from '../core/xds/compile';
import type { XdsResource, XdsSnapshot } from '../core/xds/snapshot';
import { resolveBinary } from '../server/binaries';
import { envoyBootstrap } from '../workers/envoy/bootstrap';
import { richRouteGraph } from './fixtures/route-graphs';

const run = promisify(execFile);
let envoyBin: string;
let dir: string;

function withoutType(r: XdsResource): Record<string, unknown> {
  const { '@type': _type, ...rest } = r;
  return rest;
}

/** The snapshot as a static bootstrap Envoy can validate offline. */
function staticBootstrap(snapshot: XdsSnapshot): Record<string, unknown> {
  const routes = new Map(snapshot.resources.routes.map((r) => [r.name, withoutType(r)]));
  const assignments = new Map(snapshot.resources.endpoints.map((r) => [r.cluster_name, withoutType(r)]));
  const listeners = snapshot.resources.listeners.map((l) => {
    const copy = structuredClone(withoutType(l)) as { filter_chains: { filters: { typed_config: Record<string, any> }[] }[] };
    for (const chain of copy.filter_chains) {
      for (const filter of chain.filters) {
        const hcm = filter.typed_config;
        hcm.route_config = routes.get(hcm.rds.route_config_name);
        delete hcm.rds;
      }
    }
    return copy;
  });
  const clusters = snapshot.resources.clusters.map((c) => {
    const { eds_cluster_config: _eds, ...rest } = withoutType(c);
    return { ...rest, type: 'STATIC', load_assignment: assignments.get(c.name) };
  });
  return { static_resources: { listeners, clusters } };
}

async function envoyValidate(config: unknown, name: string): Promise<{ ok: boolean; output: string }> {
  const file = path.join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(config));
  try {
    const { stdout, stderr } = await run(envoyBin, ['--mode', 'validate', '-c', file, '-l', 'error', '--disable-hot-restart'], {
      timeout: 60_000,
    });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}` };
  }
}

describe('compiled snapshots pass Envoy’s own validation', () => {
  before(async () => {
    envoyBin = await resolveBinary('envoy', { install: true });
    dir = await mkdtemp(path.join(tmpdir(), 'ps-envoy-validate-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('accepts every node group of the feature-complete fixture', async () => {
    const snapshots = compileSnapshots(RouteGraphSchema.parse(richRouteGraph())).filter((s) => s.resources.listeners.length > 0);
    assert.deepEqual(snapshots.map((s) => s.nodeGroup), ['default', 'internal']);
    for (const s of snapshots) {
      const { ok, output } = await envoyValidate(staticBootstrap(s), s.nodeGroup);
      assert.ok(ok, `envoy rejected node group ${s.nodeGroup}:\n${output}`);
    }
  });

  it('rejects a route Envoy cannot load (the check can fail)', async () => {
    const [s] = compileSnapshots(RouteGraphSchema.parse(richRouteGraph()), { nodeGroups: ['internal'] });
    const broken = structuredClone(s!);
    const vh = (broken.resources.routes[0]!.virtual_hosts as Record<string, any>[])[0]!;
    vh.routes[0].match = { safe_regex: { regex: '(?=lookahead)' } };
    const { ok, output } = await envoyValidate(staticBootstrap(broken), 'broken');
    assert.equal(ok, false);
    assert.match(output, /invalid perl operator|lookahead|regex/i);
  });

  it('accepts the proxy bootstrap', async () => {
    const bootstrap = envoyBootstrap({ nodeId: 'n', tenant: 'demo', nodeGroup: 'default', xdsHost: '127.0.0.1', xdsPort: 18000, adminPort: 9901 });
    const { ok, output } = await envoyValidate(bootstrap, 'bootstrap');
    assert.ok(ok, output);
  });
});
