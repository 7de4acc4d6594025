/**
 * Admission: every live admission policy of the tenant evaluates { revision, diff, actor, tenant }
 * (core/policy/conventions.ts). Any `deny` reason refuses the revision; any `require_approval` reason marks
 * it as needing an approval (rollouts use that). A policy that cannot be evaluated refuses the revision
 * (fail closed) with a reason naming it. Every decision is written to the audit log (`revision.admission`).
 *
 * The revision-apply path calls `admitRevision` before it starts the publish workflow (or
 * `requireAdmission`, which throws AdmissionDeniedError — a 403 with the reasons as issues — so a refused
 * revision never reaches publishRevision and nothing changes live). The publish activity evaluates again
 * (policies or the live graph may have changed since) with `audit: 'whenChanged'`: its decision is written
 * only when it differs from the revision's last recorded one, so a plain apply leaves one
 * `revision.admission` entry, while a revision that never went through apply gets its decision recorded there.
 */
import type { RouteGraph } from '../../contracts/route-graph.schema';
import {
  diffRouteGraphs,
  reasonMessages,
  type AdmissionActor,
  type AdmissionDecision,
  type AdmissionInput,
  type PolicyReason,
  type RouteGraphDiff,
} from '../../core/policy/admission';
import { ADMISSION_APPROVAL_ENTRYPOINT, ADMISSION_DENY_ENTRYPOINT } from '../../core/policy/conventions';
import type { PolicyEvaluator } from '../../core/policy/ports';
import { appendAudit } from '../audit/audit.service';
import { canonicalJson } from '../audit/canonical-json';
import { listAuditEntries } from '../db/audit.repo';
import { listLivePolicies } from '../db/policy.repo';
import { findLiveRevision, findRevision } from '../db/revision-read.repo';
import { findTenantById } from '../db/tenant.repo';
import type { DbTx } from '../db/tx';
import { AppError, notFound } from '../errors';

export interface AdmissionDeps {
  evaluator: PolicyEvaluator;
}

export interface EvaluateAdmissionInput {
  tenant: { id: string; slug: string };
  revision: { id?: string; number?: number; message?: string; graph: RouteGraph };
  /** Default: computed against the tenant's live revision. */
  diff?: RouteGraphDiff;
  actor: AdmissionActor;
  /**
   * `always` (default): every decision is a `revision.admission` audit entry. `whenChanged` (a stored revision
   * only): not when the revision's last recorded decision is the same (same policy versions, same reasons).
   */
  audit?: 'always' | 'whenChanged';
}

export type AdmissionAuditMode = NonNullable<EvaluateAdmissionInput['audit']>;

export class AdmissionDeniedError extends AppError {
  constructor(readonly decision: AdmissionDecision) {
    super(
      'forbidden',
      `admission policies refused the revision: ${decision.denyReasons.map((r) => `${r.policy}: ${r.message}`).join('; ')}`,
      decision.denyReasons.map((r) => ({ path: `policies.${r.policy}`, message: r.message })),
      { details: { denyReasons: decision.denyReasons, approvalReasons: decision.approvalReasons, evaluated: decision.evaluated } },
    );
  }
}

/** Evaluates the tenant's live admission policies and audits the decision. */
export async function evaluateAdmission(db: DbTx, deps: AdmissionDeps, input: EvaluateAdmissionInput): Promise<AdmissionDecision> {
  let diff = input.diff;
  if (diff === undefined) {
    const live = await findLiveRevision(db, input.tenant.id);
    diff = diffRouteGraphs(live?.graph ?? null, input.revision.graph);
  }
  const policyInput: AdmissionInput = {
    revision: {
      ...input.revision.graph,
      ...(input.revision.id !== undefined ? { id: input.revision.id } : {}),
      ...(input.revision.number !== undefined ? { number: input.revision.number } : {}),
      ...(input.revision.message !== undefined ? { message: input.revision.message } : {}),
    },
    diff,
    actor: input.actor,
    tenant: input.tenant,
  };

  const policies = await listLivePolicies(db, input.tenant.id, 'admission');
  const denyReasons: PolicyReason[] = [];
  const approvalReasons: PolicyReason[] = [];
  for (const p of policies) {
    const ref = { wasm: p.wasm, wasmSha256: p.wasmSha256, data: p.data };
    try {
      const entrypoints = new Set(p.entrypoints);
      if (entrypoints.has(ADMISSION_DENY_ENTRYPOINT)) {
        for (const message of reasonMessages(await deps.evaluator.evaluate(ref, ADMISSION_DENY_ENTRYPOINT, policyInput))) {
          denyReasons.push({ policy: p.name, message });
        }
      }
      if (entrypoints.has(ADMISSION_APPROVAL_ENTRYPOINT)) {
        for (const message of reasonMessages(await deps.evaluator.evaluate(ref, ADMISSION_APPROVAL_ENTRYPOINT, policyInput))) {
          approvalReasons.push({ policy: p.name, message });
        }
      }
    } catch (err) {
      denyReasons.push({ policy: p.name, message: `policy could not be evaluated (fail closed): ${errorMessage(err)}` });
    }
  }
  const decision: AdmissionDecision = {
    allowed: denyReasons.length === 0,
    denyReasons,
    approvalReasons,
    evaluated: policies.map((p) => ({ policy: p.name, versionId: p.versionId })),
  };
  const details = {
    allowed: decision.allowed,
    needsApproval: approvalReasons.length > 0,
    denyReasons,
    approvalReasons,
    evaluated: decision.evaluated,
    revisionNumber: input.revision.number ?? null,
  };
  const target = { type: 'revision', id: input.revision.id ?? 'unsaved' };
  if (input.audit === 'whenChanged' && input.revision.id !== undefined) {
    const [last] = await listAuditEntries(db, input.tenant.id, { action: 'revision.admission', targetType: target.type, targetId: target.id, limit: 1 });
    if (last !== undefined && canonicalJson(last.details) === canonicalJson(details)) return decision;
  }
  await appendAudit(db, {
    tenantId: input.tenant.id,
    actor: { type: input.actor.type, id: input.actor.id, name: input.actor.name },
    action: 'revision.admission',
    target,
    details,
  });
  return decision;
}

/** Evaluates admission for a stored revision of the tenant. */
export async function admitRevision(
  db: DbTx,
  deps: AdmissionDeps,
  input: { tenantId: string; revisionId: string; actor: AdmissionActor; audit?: AdmissionAuditMode },
): Promise<AdmissionDecision> {
  const tenant = await findTenantById(db, input.tenantId);
  if (tenant === null) throw notFound('tenant');
  const revision = await findRevision(db, input.tenantId, input.revisionId);
  if (revision === null) throw notFound('revision');
  return evaluateAdmission(db, deps, {
    tenant: { id: tenant.id, slug: tenant.slug },
    revision: { id: revision.id, number: revision.number, message: revision.message, graph: revision.graph },
    actor: input.actor,
    ...(input.audit !== undefined ? { audit: input.audit } : {}),
  });
}

/** admitRevision, throwing AdmissionDeniedError when a policy denies. Returns the decision otherwise. */
export async function requireAdmission(
  db: DbTx,
  deps: AdmissionDeps,
  input: { tenantId: string; revisionId: string; actor: AdmissionActor },
): Promise<AdmissionDecision> {
  const decision = await admitRevision(db, deps, input);
  if (!decision.allowed) throw new AdmissionDeniedError(decision);
  return decision;
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}
