/**
 * Policies as data: versioned Rego modules per tenant (admission or request), compiled to Wasm.
 *
 * createPolicyVersion: validate → package convention → `opa check` → `opa test` → `opa build -t wasm` →
 * built-in check, then one transaction stores the immutable version (status compiled or failed, with
 * diagnostics and per-test results) and, when asked and compiled, makes it live. A version that failed
 * never becomes live, so bad Rego never replaces the live policy. activatePolicyVersion moves the live
 * pointer (rollback = activating an older version). Every change is audited; a change of the live version
 * is announced on POLICY_NOTIFY_CHANNEL at commit (ext_authz servers swap without restarting Envoy).
 *
 * The CLI work happens outside the transaction (it may take seconds). OPA tooling and Wasm come in through
 * ports (core/policy/ports.ts); the real adapters are in server/opa/ (policy-deps.ts wires them).
 */
import {
  ActivatePolicyVersionInputSchema,
  CreatePolicyVersionInputSchema,
  DecisionLogQuerySchema,
  PolicyKindSchema,
  PolicyNameSchema,
  RegoModuleSchema,
  type ActivatePolicyVersionInput,
  type CreatePolicyVersionInput,
  type DecisionLogQuery,
  type PolicyKind,
} from '../../contracts/policy.schema';
import { declaredPackage, entrypointsOfKind, isTestModule, packageOfKind } from '../../core/policy/conventions';
import type { PolicyCompiler, PolicyDiagnostic, PolicyTestResult, RegoModule } from '../../core/policy/ports';
import { appendAudit, type AuditActor } from '../audit/audit.service';
import { requirePermission, auditActorOf, type Principal } from '../auth/principal';
import { listDecisionLogs, type DecisionLogEntry } from '../db/policy-decision-log.repo';
import {
  ensurePolicy,
  findPolicyByName,
  findPolicyVersion,
  insertPolicyVersion,
  listPolicies,
  listPolicyVersions,
  lockPolicy,
  notifyPolicyChanged,
  setLivePolicyVersion,
  type PolicyRow,
  type PolicyVersionFull,
  type PolicyVersionSummary,
} from '../db/policy.repo';
import { inTransaction, type DbTx } from '../db/tx';
import { AppError, badRequest, conflict, notFound, type Issue } from '../errors';

export interface PolicyServiceDeps {
  compiler: PolicyCompiler;
  /**
   * Names of the built-ins a compiled module needs from its host that the evaluator does not provide
   * (server/opa/wasm-evaluator.ts requiredBuiltins + hostBuiltinNames). Optional: without it, such a
   * policy fails at evaluation time instead.
   */
  unsupportedBuiltins?: (wasm: Uint8Array) => Promise<string[]>;
  /** sha256 hex of the Wasm bytes. */
  sha256: (bytes: Uint8Array) => string;
}

export interface PolicyCaller {
  tenantId: string;
  actor: AuditActor;
}

export interface CreatePolicyVersionResult {
  policy: PolicyRow;
  version: PolicyVersionSummary;
  /** True when this version is now live. */
  activated: boolean;
}

function zodIssues(error: { issues: { path: PropertyKey[]; message: string }[] }): Issue[] {
  return error.issues.map((i) => ({
    path: i.path.map((p, n) => (typeof p === 'number' ? `[${p}]` : `${n === 0 ? '' : '.'}${String(p)}`)).join(''),
    message: i.message,
  }));
}

/** Runs check → test → build; never throws for bad Rego (that is a `failed` outcome with diagnostics). */
export async function compilePolicy(
  deps: PolicyServiceDeps,
  kind: PolicyKind,
  modules: RegoModule[],
  data: Record<string, unknown>,
): Promise<
  | { status: 'compiled'; diagnostics: []; testResults: PolicyTestResult[]; wasm: Uint8Array; wasmSha256: string; entrypoints: string[] }
  | { status: 'failed'; diagnostics: PolicyDiagnostic[]; testResults: PolicyTestResult[] }
> {
  const pkg = packageOfKind(kind);
  const policyModules = modules.filter((m) => !isTestModule(m.file));
  if (policyModules.length === 0) {
    return { status: 'failed', diagnostics: [{ file: modules[0]?.file ?? '', row: 1, col: 1, code: 'proxyshard_no_policy', message: 'every module is a test (_test.rego); add the policy module' }], testResults: [] };
  }
  if (!policyModules.some((m) => declaredPackage(m.source) === pkg)) {
    const m = policyModules[0]!;
    const line = m.source.split('\n').findIndex((l) => /^\s*package\s/.test(l));
    return {
      status: 'failed',
      diagnostics: [{ file: m.file, row: line === -1 ? 1 : line + 1, col: 1, code: 'proxyshard_package', message: `a ${kind} policy must declare "package ${pkg}"` }],
      testResults: [],
    };
  }

  const checked = await deps.compiler.check(modules);
  if (!checked.ok) return { status: 'failed', diagnostics: checked.diagnostics, testResults: [] };

  let testResults: PolicyTestResult[] = [];
  if (modules.some((m) => isTestModule(m.file))) {
    const tested = await deps.compiler.test(modules, data);
    if (!tested.ok) return { status: 'failed', diagnostics: tested.diagnostics, testResults: [] };
    testResults = tested.results;
    const failed = testResults.filter((t) => !t.passed && !t.skipped);
    if (failed.length > 0) {
      return {
        status: 'failed',
        diagnostics: failed.map((t) => ({ file: t.file, row: t.row, col: 1, code: 'test_failed', message: t.error ? `${t.name}: ${t.error}` : `${t.name} failed` })),
        testResults,
      };
    }
  }

  // Entrypoints: `deny` and `require_approval` are each optional for admission (but not both).
  const required = kind === 'request' ? entrypointsOfKind(kind) : [];
  let entrypoints = entrypointsOfKind(kind);
  for (let attempt = 0; attempt < entrypoints.length + 1; attempt++) {
    const built = await deps.compiler.build(policyModules, entrypoints);
    if (built.ok) {
      const unsupported = deps.unsupportedBuiltins ? await deps.unsupportedBuiltins(built.wasm) : [];
      if (unsupported.length > 0) {
        return {
          status: 'failed',
          diagnostics: unsupported.map((b) => ({ file: policyModules[0]!.file, row: 1, col: 1, code: 'proxyshard_builtin', message: `built-in ${b} is not available in Wasm evaluation` })),
          testResults,
        };
      }
      return { status: 'compiled', diagnostics: [], testResults, wasm: built.wasm, wasmSha256: deps.sha256(built.wasm), entrypoints };
    }
    const missing = built.diagnostics
      .map((d) => /entrypoint "([^"]+)" does not refer to a rule/.exec(d.message)?.[1])
      .filter((e): e is string => e !== undefined && entrypoints.includes(e));
    if (missing.length === 0 || missing.some((e) => required.includes(e)) || missing.length >= entrypoints.length) {
      const names = entrypointsOfKind(kind).map((e) => e.split('/').at(-1)).join('" or "');
      const diagnostics =
        missing.length > 0
          ? [{ file: policyModules[0]!.file, row: 1, col: 1, code: 'proxyshard_entrypoint', message: `the policy defines no "${names}" rule in package ${pkg}` }]
          : built.diagnostics;
      return { status: 'failed', diagnostics, testResults };
    }
    entrypoints = entrypoints.filter((e) => !missing.includes(e));
  }
  return { status: 'failed', diagnostics: [{ file: '', row: 0, col: 0, code: 'error', message: 'could not determine entrypoints' }], testResults };
}

export interface CreatePolicyVersionOptions {
  /**
   * Store a version that failed (status `failed`, with its diagnostics) — the default, for the editor's
   * history. With false, a failure throws PolicyCompileError and nothing is written (the REST API).
   */
  storeFailed?: boolean;
  /** Refuse (409) when a policy of that name exists already: POST /api/v1/policies creates, never appends. */
  mustCreate?: boolean;
}

/**
 * The Rego did not pass check, test or build: 400 with one issue per diagnostic, located as
 * `modules[<index>]:<row>:<col>` (the module's index in the request; row and column 1-based), and the
 * diagnostics and test results themselves in `details` for editor markers.
 */
export class PolicyCompileError extends AppError {
  constructor(
    readonly diagnostics: PolicyDiagnostic[],
    readonly testResults: PolicyTestResult[],
    modules: readonly RegoModule[],
  ) {
    const located = diagnostics.map((d) => ({ ...d, module: modules.findIndex((m) => m.file === d.file) }));
    super(
      'bad_request',
      `the policy does not compile: ${diagnostics
        .slice(0, 3)
        .map((d) => `${d.file || '(policy)'}:${d.row}:${d.col}: ${d.message}`)
        .join('; ')}${diagnostics.length > 3 ? `; and ${diagnostics.length - 3} more` : ''}`,
      located.map((d) => ({
        path: d.module === -1 ? 'modules' : `modules[${d.module}]:${d.row}:${d.col}`,
        message: `${d.file ? `${d.file}:${d.row}:${d.col}: ` : ''}${d.code}: ${d.message}`,
      })),
      { details: { diagnostics: located, testResults } },
    );
  }
}

export async function createPolicyVersion(
  db: DbTx,
  deps: PolicyServiceDeps,
  caller: PolicyCaller,
  body: CreatePolicyVersionInput,
  options: CreatePolicyVersionOptions = {},
): Promise<CreatePolicyVersionResult> {
  const parsed = CreatePolicyVersionInputSchema.safeParse(body);
  if (!parsed.success) throw badRequest('invalid policy version', zodIssues(parsed.error));
  const input = parsed.data;
  const existing = await findPolicyByName(db, caller.tenantId, input.name);
  if (existing !== null && options.mustCreate) throw policyExists(input.name);
  if (existing !== null && existing.kind !== input.kind) {
    throw new AppError('conflict', `policy ${input.name} is a ${existing.kind} policy, not ${input.kind}`, [{ path: 'kind', message: `must be ${existing.kind}` }]);
  }

  const data = input.data as Record<string, unknown>;
  const compiled = await compilePolicy(deps, input.kind, input.modules, data);
  if (compiled.status === 'failed' && options.storeFailed === false) throw new PolicyCompileError(compiled.diagnostics, compiled.testResults, input.modules);

  return inTransaction(db, async (tx) => {
    const { policy, created } = await ensurePolicy(tx, {
      tenantId: caller.tenantId,
      name: input.name,
      kind: input.kind,
      ...(input.description !== undefined ? { description: input.description } : {}),
    });
    if (!created && options.mustCreate) throw policyExists(input.name);
    if (policy.kind !== input.kind) throw conflict(`policy ${input.name} is a ${policy.kind} policy, not ${input.kind}`);
    await lockPolicy(tx, caller.tenantId, policy.id);
    if (created) {
      await appendAudit(tx, {
        tenantId: caller.tenantId,
        actor: caller.actor,
        action: 'policy.create',
        target: { type: 'policy', id: policy.id },
        after: { name: policy.name, kind: policy.kind },
        details: { name: policy.name, kind: policy.kind },
      });
    }
    const version = await insertPolicyVersion(tx, {
      tenantId: caller.tenantId,
      policyId: policy.id,
      modules: input.modules,
      data,
      entrypoints: compiled.status === 'compiled' ? compiled.entrypoints : [],
      status: compiled.status,
      diagnostics: compiled.diagnostics,
      testResults: compiled.testResults,
      wasm: compiled.status === 'compiled' ? compiled.wasm : null,
      wasmSha256: compiled.status === 'compiled' ? compiled.wasmSha256 : null,
      createdBy: caller.actor.name,
    });
    await appendAudit(tx, {
      tenantId: caller.tenantId,
      actor: caller.actor,
      action: 'policy.version.create',
      target: { type: 'policy', id: policy.id },
      after: { modules: input.modules, data },
      details: {
        name: policy.name,
        version: version.number,
        status: version.status,
        wasmSha256: version.wasmSha256,
        diagnostics: version.diagnostics.slice(0, 20),
        tests: { passed: version.testResults.filter((t) => t.passed).length, failed: version.testResults.filter((t) => !t.passed && !t.skipped).length },
      },
    });
    let activated = false;
    if (input.activate && version.status === 'compiled') {
      await makeLive(tx, caller, policy, version);
      activated = true;
    }
    const fresh = (await findPolicyByName(tx, caller.tenantId, input.name))!;
    return { policy: fresh, version, activated };
  });
}

const policyExists = (name: string) =>
  new AppError('conflict', `a policy named ${name} exists already; add a version to it instead`, [{ path: 'name', message: 'already used in this tenant' }]);

async function makeLive(tx: DbTx, caller: PolicyCaller, policy: PolicyRow, version: PolicyVersionSummary): Promise<void> {
  const previous = policy.liveVersionId;
  await setLivePolicyVersion(tx, caller.tenantId, policy.id, version.id);
  await notifyPolicyChanged(tx, { tenantId: caller.tenantId, policyId: policy.id, name: policy.name, versionId: version.id });
  await appendAudit(tx, {
    tenantId: caller.tenantId,
    actor: caller.actor,
    action: 'policy.activate',
    target: { type: 'policy', id: policy.id },
    before: { liveVersionId: previous },
    after: { liveVersionId: version.id },
    details: { name: policy.name, version: version.number, previousVersionId: previous, wasmSha256: version.wasmSha256 },
  });
}

/** Makes a compiled version live (also an older one: that is the rollback). */
export async function activatePolicyVersion(db: DbTx, caller: PolicyCaller, body: ActivatePolicyVersionInput): Promise<PolicyVersionSummary> {
  const parsed = ActivatePolicyVersionInputSchema.safeParse(body);
  if (!parsed.success) throw badRequest('invalid activation', zodIssues(parsed.error));
  const { name, version: number } = parsed.data;
  return inTransaction(db, async (tx) => {
    const policy = await findPolicyByName(tx, caller.tenantId, name);
    if (policy === null) throw notFound('policy');
    await lockPolicy(tx, caller.tenantId, policy.id);
    const version = await findPolicyVersion(tx, caller.tenantId, policy.id, number);
    if (version === null) throw notFound('policy version');
    if (version.status !== 'compiled') {
      throw new AppError('conflict', `version ${number} of ${name} did not compile and cannot be activated`, version.diagnostics.map((d) => ({ path: `${d.file}:${d.row}:${d.col}`, message: d.message })));
    }
    const current = (await findPolicyByName(tx, caller.tenantId, name))!;
    if (current.liveVersionId !== version.id) await makeLive(tx, caller, current, version);
    return version;
  });
}

// ------------------------------------------------------------------------------ editor helpers (no saving)

/** `opa check` for editor markers. */
export async function checkRego(deps: Pick<PolicyServiceDeps, 'compiler'>, modules: unknown): Promise<PolicyDiagnostic[]> {
  const parsed = RegoModuleSchema.array().min(1).max(32).safeParse(modules);
  if (!parsed.success) throw badRequest('invalid modules', zodIssues(parsed.error));
  const r = await deps.compiler.check(parsed.data);
  return r.ok ? [] : r.diagnostics;
}

/** `opa fmt`. */
export async function formatRego(deps: Pick<PolicyServiceDeps, 'compiler'>, module: unknown) {
  const parsed = RegoModuleSchema.safeParse(module);
  if (!parsed.success) throw badRequest('invalid module', zodIssues(parsed.error));
  return deps.compiler.format(parsed.data);
}

/** `opa test` on unsaved modules. */
export async function testRego(deps: Pick<PolicyServiceDeps, 'compiler'>, modules: unknown, data?: Record<string, unknown>) {
  const parsed = RegoModuleSchema.array().min(1).max(32).safeParse(modules);
  if (!parsed.success) throw badRequest('invalid modules', zodIssues(parsed.error));
  return deps.compiler.test(parsed.data, data);
}

// ------------------------------------------------------------------------------------------------ reading

export async function listTenantPolicies(db: DbTx, tenantId: string, kind?: unknown) {
  const k = kind === undefined ? undefined : PolicyKindSchema.safeParse(kind);
  if (k !== undefined && !k.success) throw badRequest('invalid kind', [{ path: 'kind', message: 'admission or request' }]);
  return listPolicies(db, tenantId, k?.data);
}

export async function getPolicy(db: DbTx, tenantId: string, name: string): Promise<{ policy: PolicyRow; versions: PolicyVersionSummary[] }> {
  if (!PolicyNameSchema.safeParse(name).success) throw notFound('policy');
  const policy = await findPolicyByName(db, tenantId, name);
  if (policy === null) throw notFound('policy');
  return { policy, versions: await listPolicyVersions(db, tenantId, policy.id) };
}

export async function getPolicyVersion(db: DbTx, tenantId: string, name: string, number: number): Promise<PolicyVersionFull> {
  const policy = PolicyNameSchema.safeParse(name).success ? await findPolicyByName(db, tenantId, name) : null;
  if (policy === null) throw notFound('policy');
  const v = Number.isInteger(number) && number > 0 ? await findPolicyVersion(db, tenantId, policy.id, number) : null;
  if (v === null) throw notFound('policy version');
  return v;
}

/** Sampled ext_authz decisions, newest first. */
export async function queryDecisionLogs(db: DbTx, tenantId: string, query: DecisionLogQuery): Promise<DecisionLogEntry[]> {
  const q = DecisionLogQuerySchema.safeParse(query);
  if (!q.success) throw badRequest('invalid query', zodIssues(q.error));
  return listDecisionLogs(db, tenantId, {
    limit: q.data.limit,
    ...(q.data.policy !== undefined ? { policy: q.data.policy } : {}),
    ...(q.data.allowed !== undefined ? { allowed: q.data.allowed } : {}),
    ...(q.data.before !== undefined ? { before: q.data.before } : {}),
  });
}

// ------------------------------------------------------------------- principal wrappers (REST / console)

const callerOf = (p: Principal): PolicyCaller => ({ tenantId: p.tenant.id, actor: auditActorOf(p) });

export const policyApi = {
  list: (db: DbTx, p: Principal, kind?: unknown) => (requirePermission(p, 'policies.read'), listTenantPolicies(db, p.tenant.id, kind)),
  get: (db: DbTx, p: Principal, name: string) => (requirePermission(p, 'policies.read'), getPolicy(db, p.tenant.id, name)),
  getVersion: (db: DbTx, p: Principal, name: string, n: number) => (requirePermission(p, 'policies.read'), getPolicyVersion(db, p.tenant.id, name, n)),
  createVersion: (db: DbTx, deps: PolicyServiceDeps, p: Principal, body: CreatePolicyVersionInput) => (
    requirePermission(p, 'policies.write'), createPolicyVersion(db, deps, callerOf(p), body)
  ),
  activate: (db: DbTx, p: Principal, body: ActivatePolicyVersionInput) => (requirePermission(p, 'policies.write'), activatePolicyVersion(db, callerOf(p), body)),
  decisions: (db: DbTx, p: Principal, q: DecisionLogQuery) => (requirePermission(p, 'policies.read'), queryDecisionLogs(db, p.tenant.id, q)),
  check: (deps: Pick<PolicyServiceDeps, 'compiler'>, p: Principal, modules: unknown) => (requirePermission(p, 'policies.read'), checkRego(deps, modules)),
  format: (deps: Pick<PolicyServiceDeps, 'compiler'>, p: Principal, module: unknown) => (requirePermission(p, 'policies.read'), formatRego(deps, module)),
  test: (deps: Pick<PolicyServiceDeps, 'compiler'>, p: Principal, modules: unknown, data?: Record<string, unknown>) => (
    requirePermission(p, 'policies.read'), testRego(deps, modules, data)
  ),
};
