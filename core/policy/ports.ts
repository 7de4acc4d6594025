/**
 * Ports of the policy subsystem (STYLE.md "Seams worth keeping"): `PolicyCompiler` is what the policy
 * service needs from OPA's tooling (the real adapter is server/opa/opa-cli.adapter.ts, which runs the `opa`
 * CLI), `PolicyEvaluator` is what admission and ext_authz need to run a compiled policy (the real one is
 * server/opa/wasm-evaluator.ts, @open-policy-agent/opa-wasm). Types only: no I/O here.
 */

/** One Rego module: a file name (shown in diagnostics) and its source. */
export interface RegoModule {
  file: string;
  source: string;
}

/** A problem `opa check` / `opa build` found, located for an editor marker (1-based row and column). */
export interface PolicyDiagnostic {
  file: string;
  row: number;
  col: number;
  /** OPA's error code: rego_parse_error, rego_type_error, rego_compile_error, rego_unsafe_var_error, … */
  code: string;
  message: string;
}

/** One test rule of `opa test`. */
export interface PolicyTestResult {
  /** data.<package>, e.g. "data.proxyshard.admission". */
  package: string;
  name: string;
  file: string;
  row: number;
  passed: boolean;
  skipped: boolean;
  /** Evaluation error (not a plain failure), if any. */
  error?: string;
  durationNs: number;
  /** What the test printed with print(). */
  output?: string;
}

export interface PolicyBuildResult {
  /** policy.wasm from the bundle. */
  wasm: Uint8Array;
  /** Entrypoint name → index, as compiled ("proxyshard/admission/deny"). */
  entrypoints: string[];
}

export type CheckOutcome = { ok: true } | { ok: false; diagnostics: PolicyDiagnostic[] };
export type FormatOutcome = { ok: true; source: string; changed: boolean } | { ok: false; diagnostics: PolicyDiagnostic[] };
export type TestOutcome = { ok: true; results: PolicyTestResult[] } | { ok: false; diagnostics: PolicyDiagnostic[] };
export type BuildOutcome = ({ ok: true } & PolicyBuildResult) | { ok: false; diagnostics: PolicyDiagnostic[] };

/** OPA's tooling. Every call has a deadline; a timeout is reported as a diagnostic, not thrown. */
export interface PolicyCompiler {
  check(modules: readonly RegoModule[]): Promise<CheckOutcome>;
  format(module: RegoModule): Promise<FormatOutcome>;
  /** Runs the test rules found in `modules` (policy modules plus *_test.rego modules) with `data`. */
  test(modules: readonly RegoModule[], data?: unknown): Promise<TestOutcome>;
  /** `opa build -t wasm -e <entrypoint>…`; entrypoints are paths like "proxyshard/admission/deny". */
  build(modules: readonly RegoModule[], entrypoints: readonly string[]): Promise<BuildOutcome>;
}

/** A compiled policy ready to evaluate, identified by the sha256 of its Wasm. */
export interface CompiledPolicyRef {
  wasmSha256: string;
  wasm: Uint8Array;
  /** The policy's data document (`data.*` next to the compiled rules). */
  data: unknown;
}

export interface PolicyEvaluator {
  /**
   * Evaluates `entrypoint` with `input`; returns the value of the rule, or `undefined` when the rule is
   * undefined for this input. Throws when the policy cannot be loaded or evaluation aborts.
   */
  evaluate(policy: CompiledPolicyRef, entrypoint: string, input: unknown): Promise<unknown>;
}
