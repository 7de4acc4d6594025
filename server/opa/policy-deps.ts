/**
 * The policy subsystem's real dependencies, wired once: OPA's tooling (the `opa` CLI, with deadlines and a
 * bound on concurrent processes) and the Wasm evaluator (opa-wasm, loaded policies cached by digest).
 *
 * Why here and not in workers/: the web process runs `opa check` / `fmt` / `test` / `build` for the REST
 * API and the console (issue 4: "tooling on the server, with timeouts"), and neither app/ nor server/ may
 * import workers/ (eslint.config.mjs). server/ already runs child processes of pinned binaries
 * (server/binaries.ts, temporal-dev.ts, embedded-postgres.ts), so the adapters live in server/opa/ behind
 * the ports of core/policy/ports.ts; workers (Temporal activities, the ext_authz server) import them from
 * here like any other server module.
 *
 *   createPolicyDeps(env)   a fresh set (worker, scripts, benches, tests)
 *   getPolicyDeps()         the web process's set, built from getEnv() on first use and shared by every
 *                           route handler (kept on globalThis, like the database client)
 */
import type { AdmissionDeps } from '../services/admission.service';
import type { PolicyServiceDeps } from '../services/policy.service';
import { getEnv, type Env } from '../env';
import { createOpaCli } from './opa-cli.adapter';
import { createWasmEvaluator, hostBuiltinNames, requiredBuiltins, sha256Hex, type WasmEvaluator } from './wasm-evaluator';

export type PolicyDeps = PolicyServiceDeps & AdmissionDeps & { evaluator: WasmEvaluator };

export function createPolicyDeps(env?: Pick<Env, 'OPA_BIN' | 'OPA_TIMEOUT_MS' | 'OPA_TEST_TIMEOUT_MS'>): PolicyDeps {
  const host = hostBuiltinNames();
  return {
    compiler: createOpaCli({
      ...(env?.OPA_BIN !== undefined ? { binary: env.OPA_BIN } : {}),
      ...(env !== undefined ? { timeoutMs: env.OPA_TIMEOUT_MS, testTimeoutMs: env.OPA_TEST_TIMEOUT_MS } : {}),
    }),
    sha256: sha256Hex,
    unsupportedBuiltins: async (wasm) => (await requiredBuiltins(wasm)).filter((b) => !host.has(b)),
    evaluator: createWasmEvaluator(),
  };
}

const holder = globalThis as typeof globalThis & { __proxyshardPolicyDeps?: PolicyDeps };

/** The process-wide deps of the web app's route handlers and server actions. */
export function getPolicyDeps(): PolicyDeps {
  holder.__proxyshardPolicyDeps ??= createPolicyDeps(getEnv());
  return holder.__proxyshardPolicyDeps;
}

/** Replace the process-wide deps (tests); undefined = build from the environment again on next use. */
export function setPolicyDeps(deps: PolicyDeps | undefined): void {
  holder.__proxyshardPolicyDeps = deps;
}
