/**
 * The policies use cases as the REST API (app/api/v1/policies/**) and the console call them: a principal,
 * its tenant, and the process-wide OPA deps (server/opa/policy-deps.ts). A policy is addressed by its id or
 * its name (`ref`); another tenant's policy is not_found, exactly like one that does not exist.
 *
 * Creating a version here never stores Rego that fails check, test or build: the request is refused with a
 * 400 whose issues locate each diagnostic (PolicyCompileError) and nothing is written, so nothing live
 * changes. The playground (`evaluatePolicy`) runs a stored, compiled version through the same Wasm
 * evaluator and reading rules as admission and ext_authz, and stores nothing.
 */
import type {
  CreatePolicyBody,
  CreatePolicyVersionBody,
  EvaluatePolicyBody,
  PolicyDecisionsQuery,
  PolicyKind,
  RegoModuleInput,
} from '../../contracts/policy.schema';
import { reasonMessages } from '../../core/policy/admission';
import { ADMISSION_APPROVAL_ENTRYPOINT, ADMISSION_DENY_ENTRYPOINT, REQUEST_ALLOW_ENTRYPOINT } from '../../core/policy/conventions';
import type { PolicyEvaluator, RegoModule } from '../../core/policy/ports';
import { interpretRequestResult, type RequestDecision } from '../../core/policy/request';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import { listDecisionLogs, type DecisionLogEntry } from '../db/policy-decision-log.repo';
import {
  findCompiledPolicyVersion,
  findPolicyById,
  findPolicyByName,
  findPolicyVersion,
  listPolicies,
  listPolicyVersions,
  type PolicyRow,
  type PolicyVersionFull,
  type PolicyVersionSummary,
} from '../db/policy.repo';
import { isUuid, type DbTx } from '../db/tx';
import { AppError, badRequest, conflict, notFound } from '../errors';
import { activatePolicyVersion, createPolicyVersion, type CreatePolicyVersionResult, type PolicyServiceDeps } from './policy.service';

type Deps = PolicyServiceDeps & { evaluator: PolicyEvaluator };

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** The caller's policy by id or name; not_found otherwise (also for another tenant's). */
export async function resolvePolicy(db: DbTx, tenantId: string, ref: string): Promise<PolicyRow> {
  const byId = isUuid(ref) ? await findPolicyById(db, tenantId, ref) : null;
  const policy = byId ?? (NAME.test(ref) && ref.length <= 63 ? await findPolicyByName(db, tenantId, ref) : null);
  if (policy === null) throw notFound('policy');
  return policy;
}

function versionNumber(raw: string): number {
  const n = /^[1-9]\d{0,8}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n)) throw notFound('policy version');
  return n;
}

export async function listPoliciesFor(db: DbTx, p: Principal, kind?: PolicyKind) {
  requirePermission(p, 'policies.read');
  return listPolicies(db, p.tenant.id, kind);
}

export async function getPolicyFor(db: DbTx, p: Principal, ref: string): Promise<{ policy: PolicyRow; versions: PolicyVersionSummary[] }> {
  requirePermission(p, 'policies.read');
  const policy = await resolvePolicy(db, p.tenant.id, ref);
  return { policy, versions: await listPolicyVersions(db, p.tenant.id, policy.id) };
}

export async function getPolicyVersionFor(db: DbTx, p: Principal, ref: string, version: string): Promise<PolicyVersionFull> {
  requirePermission(p, 'policies.read');
  const policy = await resolvePolicy(db, p.tenant.id, ref);
  const v = await findPolicyVersion(db, p.tenant.id, policy.id, versionNumber(version));
  if (v === null) throw notFound('policy version');
  return v;
}

/** A new policy and its first version (check → test → build); 409 when the name is taken. */
export async function createPolicyFor(db: DbTx, deps: PolicyServiceDeps, p: Principal, body: CreatePolicyBody): Promise<CreatePolicyVersionResult> {
  requirePermission(p, 'policies.write');
  return createPolicyVersion(db, deps, { tenantId: p.tenant.id, actor: auditActorOf(p) }, body, { storeFailed: false, mustCreate: true });
}

/** The next version of an existing policy; activated at once when asked and it compiled. */
export async function createPolicyVersionFor(
  db: DbTx,
  deps: PolicyServiceDeps,
  p: Principal,
  ref: string,
  body: CreatePolicyVersionBody,
): Promise<CreatePolicyVersionResult> {
  requirePermission(p, 'policies.write');
  const policy = await resolvePolicy(db, p.tenant.id, ref);
  return createPolicyVersion(
    db,
    deps,
    { tenantId: p.tenant.id, actor: auditActorOf(p) },
    { name: policy.name, kind: policy.kind, modules: body.modules, ...(body.data !== undefined ? { data: body.data } : {}), ...(body.activate !== undefined ? { activate: body.activate } : {}) },
    { storeFailed: false },
  );
}

export async function activatePolicyFor(db: DbTx, p: Principal, ref: string, version: number): Promise<{ policy: PolicyRow; version: PolicyVersionSummary }> {
  requirePermission(p, 'policies.write');
  const policy = await resolvePolicy(db, p.tenant.id, ref);
  const v = await activatePolicyVersion(db, { tenantId: p.tenant.id, actor: auditActorOf(p) }, { name: policy.name, version });
  return { policy: (await findPolicyById(db, p.tenant.id, policy.id))!, version: v };
}

// ------------------------------------------------------------------------------ editor tools (no saving)

export async function checkRegoFor(deps: Pick<PolicyServiceDeps, 'compiler'>, p: Principal, modules: RegoModuleInput[]) {
  requirePermission(p, 'policies.read');
  const r = await deps.compiler.check(modules);
  return { ok: r.ok, diagnostics: r.ok ? [] : locate(r.diagnostics, modules) };
}

export async function formatRegoFor(deps: Pick<PolicyServiceDeps, 'compiler'>, p: Principal, module: RegoModuleInput) {
  requirePermission(p, 'policies.read');
  const r = await deps.compiler.format(module);
  return r.ok ? { ok: true, source: r.source, changed: r.changed, diagnostics: [] } : { ok: false, diagnostics: locate(r.diagnostics, [module]) };
}

/** `opa test` with per-test results; `ok` is false when a module does not compile or a test fails. */
export async function testRegoFor(deps: Pick<PolicyServiceDeps, 'compiler'>, p: Principal, modules: RegoModuleInput[], data?: Record<string, unknown>) {
  requirePermission(p, 'policies.read');
  const r = await deps.compiler.test(modules, data);
  if (!r.ok) return { ok: false, results: [], summary: { passed: 0, failed: 0, skipped: 0 }, diagnostics: locate(r.diagnostics, modules) };
  const summary = {
    passed: r.results.filter((t) => t.passed).length,
    failed: r.results.filter((t) => !t.passed && !t.skipped).length,
    skipped: r.results.filter((t) => t.skipped).length,
  };
  return { ok: summary.failed === 0, results: r.results, summary, diagnostics: [] };
}

function locate<D extends { file: string }>(diagnostics: D[], modules: readonly RegoModule[]): (D & { module: number })[] {
  return diagnostics.map((d) => ({ ...d, module: modules.findIndex((m) => m.file === d.file) }));
}

// ---------------------------------------------------------------------------------------------- playground

export type PlaygroundDecision =
  | { kind: 'admission'; allowed: boolean; needsApproval: boolean; denyReasons: string[]; approvalReasons: string[] }
  | ({ kind: 'request' } & RequestDecision);

export async function evaluatePolicyFor(
  db: DbTx,
  deps: Pick<Deps, 'evaluator'>,
  p: Principal,
  ref: string,
  body: EvaluatePolicyBody,
): Promise<{ policy: { id: string; name: string; kind: PolicyKind }; version: { id: string; number: number; live: boolean }; result: Record<string, unknown>; decision: PlaygroundDecision }> {
  requirePermission(p, 'policies.read');
  const policy = await resolvePolicy(db, p.tenant.id, ref);
  const v = await findCompiledPolicyVersion(db, p.tenant.id, policy, body.version);
  if (v === null) throw body.version !== undefined ? notFound('policy version') : conflict(`policy ${policy.name} has no compiled version to evaluate`);
  if (v.status !== 'compiled' || v.wasm === null || v.wasmSha256 === null) {
    throw new AppError('conflict', `version ${v.number} of ${policy.name} did not compile and cannot be evaluated`, [{ path: 'version', message: 'not compiled' }]);
  }
  const compiled = { wasm: v.wasm, wasmSha256: v.wasmSha256, data: v.data };
  const run = async (entrypoint: string): Promise<unknown> => {
    if (!v.entrypoints.includes(entrypoint)) return undefined;
    try {
      return await deps.evaluator.evaluate(compiled, entrypoint, body.input);
    } catch (err) {
      const message = err instanceof Error ? err.message : String((err as { message?: unknown })?.message ?? err);
      throw badRequest(`evaluating ${policy.name} v${v.number} failed: ${message}`, [{ path: 'input', message }]);
    }
  };
  const result: Record<string, unknown> = {};
  let decision: PlaygroundDecision;
  if (policy.kind === 'admission') {
    const deny = await run(ADMISSION_DENY_ENTRYPOINT);
    const approval = await run(ADMISSION_APPROVAL_ENTRYPOINT);
    if (deny !== undefined) result.deny = deny;
    if (approval !== undefined) result.require_approval = approval;
    const denyReasons = reasonMessages(deny);
    const approvalReasons = reasonMessages(approval);
    decision = { kind: 'admission', allowed: denyReasons.length === 0, needsApproval: approvalReasons.length > 0, denyReasons, approvalReasons };
  } else {
    const allow = await run(REQUEST_ALLOW_ENTRYPOINT);
    if (allow !== undefined) result.allow = allow;
    decision = { kind: 'request', ...interpretRequestResult(allow) };
  }
  return {
    policy: { id: policy.id, name: policy.name, kind: policy.kind },
    version: { id: v.id, number: v.number, live: policy.liveVersionId === v.id },
    result,
    decision,
  };
}

// ------------------------------------------------------------------------------------------ decision logs

export type DecisionLogJson = Omit<DecisionLogEntry, 'id'> & { id: string };

/** Sampled ext_authz decisions of the policy, newest first; `nextBefore` pages on (ids are strings: they are 64-bit). */
export async function listPolicyDecisionsFor(
  db: DbTx,
  p: Principal,
  ref: string,
  q: PolicyDecisionsQuery,
): Promise<{ decisions: DecisionLogJson[]; nextBefore: string | null }> {
  requirePermission(p, 'policies.read');
  const policy = await resolvePolicy(db, p.tenant.id, ref);
  const limit = q.limit ?? 50;
  const rows = await listDecisionLogs(db, p.tenant.id, {
    policy: policy.name,
    limit,
    ...(q.allowed !== undefined ? { allowed: q.allowed === 'true' } : {}),
    ...(q.method !== undefined ? { method: q.method.toUpperCase() } : {}),
    ...(q.route !== undefined ? { route: q.route } : {}),
    ...(q.since !== undefined ? { since: new Date(q.since) } : {}),
    ...(q.before !== undefined ? { before: BigInt(q.before) } : {}),
  });
  const decisions = rows.map((r) => ({ ...r, id: r.id.toString() }));
  return { decisions, nextBefore: rows.length === limit ? decisions.at(-1)!.id : null };
}
