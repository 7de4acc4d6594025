/**
 * Wasm evaluation of the RBAC example from OPA's policy-performance documentation ("opa bench" section:
 * user → roles → permissions, input { subject, resource, action }), side by side with `opa bench` on the
 * same policy and input. One thread (one core) each. Prints name=value lines and writes bench/results/opa.json.
 *   npx tsx bench/opa-wasm.ts [seconds=3]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createOpaCli } from '../server/opa/opa-cli.adapter';
import { createWasmEvaluator, sha256Hex } from '../server/opa/wasm-evaluator';

const RBAC = `package rbac

# Example RBAC configuration (OPA docs, policy performance / opa bench).
bindings := [
	{"user": "alice", "roles": ["dev", "test"]},
	{"user": "bob", "roles": ["test"]},
]

roles := [
	{"name": "dev", "permissions": [{"resource": "foo123", "action": "write"}, {"resource": "foo123", "action": "read"}]},
	{"name": "test", "permissions": [{"resource": "foo123", "action": "read"}]},
]

default allow := false

allow if {
	some role_name
	user_has_role[role_name]
	role_has_permission[role_name]
}

user_has_role contains role_name if {
	binding := bindings[_]
	binding.user == input.subject
	role_name := binding.roles[_]
}

role_has_permission contains role_name if {
	role := roles[_]
	role_name := role.name
	perm := role.permissions[_]
	perm.resource == input.resource
	perm.action == input.action
}
`;
const INPUT = { subject: 'alice', resource: 'foo123', action: 'write' };

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 3);
  const opa = createOpaCli({ timeoutMs: 120_000 });
  const built = await opa.build([{ file: 'rbac.rego', source: RBAC }], ['rbac/allow']);
  if (!built.ok) throw new Error(JSON.stringify(built.diagnostics));
  const evaluator = createWasmEvaluator();
  const policy = await evaluator.load({ wasm: built.wasm, wasmSha256: sha256Hex(built.wasm), data: {} });
  if (evaluator.evaluateLoaded(policy, 'rbac/allow', INPUT) !== true) throw new Error('RBAC example must allow alice to write foo123');

  // Warm-up, then timed evaluations (input serialization included, as in a real request).
  for (let i = 0; i < 5_000; i++) evaluator.evaluateLoaded(policy, 'rbac/allow', INPUT);
  const samples: number[] = [];
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  for (;;) {
    const t0 = process.hrtime.bigint();
    evaluator.evaluateLoaded(policy, 'rbac/allow', INPUT);
    const t1 = process.hrtime.bigint();
    samples.push(Number(t1 - t0) / 1000);
    if (t1 >= end || samples.length >= 5_000_000) break;
  }
  const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
  const sorted = Float64Array.from(samples).sort();
  const wasm = {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    perS: samples.length / elapsedS,
  };

  const dir = await mkdtemp(path.join(tmpdir(), 'ps-bench-opa-'));
  let bench: { p50: number; p99: number; perS: number; n: number };
  try {
    await writeFile(path.join(dir, 'rbac.rego'), RBAC);
    await writeFile(path.join(dir, 'input.json'), JSON.stringify(INPUT));
    const r = await opa.run(['bench', '--format', 'json', '--benchmem=false', '-d', 'rbac.rego', '-i', 'input.json', 'data.rbac.allow'], dir, 120_000);
    if (r.code !== 0) throw new Error(`opa bench failed: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as { N: number; T: number; Extra: Record<string, number> };
    bench = {
      p50: out.Extra['histogram_timer_rego_query_eval_ns_median']! / 1000,
      p99: out.Extra['histogram_timer_rego_query_eval_ns_99%']! / 1000,
      perS: out.N / (out.T / 1e9),
      n: out.N,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const results = {
    opa_wasm_p50_us: round(wasm.p50),
    opa_wasm_p99_us: round(wasm.p99),
    opa_wasm_decisions_per_s: Math.round(wasm.perS),
    opa_wasm_samples: samples.length,
    opa_bench_p50_us: round(bench.p50),
    opa_bench_p99_us: round(bench.p99),
    opa_bench_decisions_per_s: Math.round(bench.perS),
    opa_bench_samples: bench.n,
    opa_wasm_vs_opa_bench_p99_ratio: round(wasm.p99 / bench.p99),
    machine: `${cpus().length}x ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}`,
    date: new Date().toISOString(),
  };
  for (const [k, v] of Object.entries(results)) console.log(`${k}=${v}`);
  await writeFile(path.join(import.meta.dirname, 'results', 'opa.json'), `${JSON.stringify(results, null, 2)}\n`);
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
