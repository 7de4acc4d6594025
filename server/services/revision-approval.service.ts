/**
 * Approvals of revisions that admission marks as needing one, and the gate every path to "live" passes.
 *
 * When the tenant's guardrails answer `require_approval` for a revision, it goes live only after a member
 * whose role may decide approvals (approver, admin) and who is not its author approved it — separation of
 * duties as in rollouts (server/services/rollout.service.ts). An author's attempt is refused and audited
 * (`revision.approve.refused`); an approval is audited (`revision.approve`) with the reasons it approved.
 *
 * `requireGoLive` is the gate: admission must allow the revision (AdmissionDeniedError otherwise) and, when
 * it asks for an approval, one by a non-author must exist; otherwise the refusal is audited
 * (`revision.apply.refused` / `revision.publish.refused`) and ApprovalRequiredError (409) is thrown. It runs
 * when a revision is applied (before the publish workflow starts: a clear answer at once) and again in the
 * publish activity itself (publishAdmittedRevision), so a publish workflow started any other way cannot
 * skip it, and for a rollout's final promotion (workers/rollout.activities.ts, admitRolloutPromotion).
 */
import type { AdmissionActor, AdmissionDecision, PolicyReason } from '../../core/policy/admission';
import { appendAudit } from '../audit/audit.service';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import { findRevision } from '../db/revision-read.repo';
import { listRolloutApprovals } from '../db/rollout.repo';
import { insertRevisionApproval, listRevisionApprovals, revisionAuthorUserIds, type RevisionApprovalRow } from '../db/revision-approval.repo';
import type { DbTx } from '../db/tx';
import { AppError, conflict, notFound } from '../errors';
import { getPolicyDeps } from '../opa/policy-deps';
import { AdmissionDeniedError, admitRevision, type AdmissionAuditMode, type AdmissionDeps } from './admission.service';
import { publishRevision, type PublishRevisionInput, type PublishRevisionResult } from './publish.service';

export class ApprovalRequiredError extends AppError {
  constructor(
    revisionNumber: number,
    readonly approvalReasons: PolicyReason[],
  ) {
    super(
      'conflict',
      `revision ${revisionNumber} needs an approval before it can go live (by a member who may decide approvals and is not its author): ${approvalReasons.map((r) => `${r.policy}: ${r.message}`).join('; ')}`,
      approvalReasons.map((r) => ({ path: `policies.${r.policy}`, message: r.message })),
      { details: { approvalReasons } },
    );
  }
}

export interface ApprovalView {
  revisionId: string;
  approver: { userId: string; name: string; role: string };
  comment: string;
  reasons: PolicyReason[];
  at: string;
}

function viewOf(a: RevisionApprovalRow): ApprovalView {
  return { revisionId: a.revisionId, approver: { userId: a.userId, name: a.name, role: a.role }, comment: a.comment, reasons: a.reasons, at: a.at.toISOString() };
}

/** Approvals of the revision that count: those by someone other than its author. */
async function validApprovals(db: DbTx, tenantId: string, revision: { id: string; createdById: string }): Promise<RevisionApprovalRow[]> {
  const authors = await revisionAuthorUserIds(db, tenantId, revision.createdById);
  return (await listRevisionApprovals(db, tenantId, revision.id)).filter((a) => !authors.has(a.userId));
}

export interface ApproveRevisionResult {
  approval: ApprovalView;
  /** False when this member had approved the revision already (the first approval stands). */
  created: boolean;
  approvalReasons: PolicyReason[];
}

/** POST /api/v1/revisions/[id]/approve: the principal approves revision `id`. */
export async function approveRevision(
  db: DbTx,
  principal: Principal,
  id: string,
  body: { comment?: string },
  deps: AdmissionDeps = getPolicyDeps(),
): Promise<ApproveRevisionResult> {
  requirePermission(principal, 'approvals.decide');
  const tenantId = principal.tenant.id;
  const revision = await findRevision(db, tenantId, id);
  if (revision === null) throw notFound('revision');
  const actor = auditActorOf(principal);
  const refuse = (reason: string) =>
    appendAudit(db, {
      tenantId,
      actor,
      action: 'revision.approve.refused',
      target: { type: 'revision', id: revision.id },
      details: { number: revision.number, reason, role: principal.role },
    });
  if (revision.state === 'rejected') {
    await refuse('rejected');
    throw conflict(`revision ${revision.number} was rejected and cannot be approved`);
  }
  if (revision.live) {
    await refuse('live');
    throw conflict(`revision ${revision.number} is live already`);
  }
  const authors = await revisionAuthorUserIds(db, tenantId, revision.createdById);
  if (authors.has(principal.user.id)) {
    await refuse('author');
    throw new AppError('forbidden', `the author of revision ${revision.number} cannot approve it (separation of duties)`);
  }
  // What is being approved: the guardrails' reasons now (audited as revision.admission). A denied revision
  // cannot be approved into going live; one that needs no approval has nothing to approve.
  const decision = await admitRevision(db, deps, { tenantId, revisionId: revision.id, actor: admissionActorOf(principal) });
  if (!decision.allowed) {
    await refuse('denied');
    throw new AdmissionDeniedError(decision);
  }
  if (decision.approvalReasons.length === 0) {
    await refuse('not_needed');
    throw conflict(`revision ${revision.number} does not need an approval: no admission policy asks for one`);
  }
  const { approval, created } = await insertRevisionApproval(db, {
    tenantId,
    revisionId: revision.id,
    userId: principal.user.id,
    name: principal.user.username,
    role: principal.role,
    comment: body.comment ?? '',
    reasons: decision.approvalReasons,
  });
  if (created) {
    await appendAudit(db, {
      tenantId,
      actor,
      action: 'revision.approve',
      target: { type: 'revision', id: revision.id },
      details: { number: revision.number, role: principal.role, comment: approval.comment, approvalReasons: decision.approvalReasons, evaluated: decision.evaluated },
    });
  }
  return { approval: viewOf(approval), created, approvalReasons: decision.approvalReasons };
}

export function admissionActorOf(principal: Principal): AdmissionActor {
  return { ...auditActorOf(principal), role: principal.role };
}

export interface GoLiveDecision {
  decision: AdmissionDecision;
  /** Approvals that satisfy the guardrails' require_approval (empty when none was needed). */
  approvals: ApprovalView[];
}

/**
 * The gate before a revision goes live: admission allows it (else AdmissionDeniedError, 403) and, when it
 * asks for an approval, a non-author approved the revision (else ApprovalRequiredError, 409). Refusals
 * for a missing approval are audited as `refusedAction`; the admission decision itself always is.
 */
export async function requireGoLive(
  db: DbTx,
  deps: AdmissionDeps,
  input: { tenantId: string; revisionId: string; actor: AdmissionActor; refusedAction: string; audit?: AdmissionAuditMode },
): Promise<GoLiveDecision> {
  const revision = await findRevision(db, input.tenantId, input.revisionId);
  if (revision === null) throw notFound('revision');
  const decision = await admitRevision(db, deps, {
    tenantId: input.tenantId,
    revisionId: revision.id,
    actor: input.actor,
    ...(input.audit !== undefined ? { audit: input.audit } : {}),
  });
  if (!decision.allowed) throw new AdmissionDeniedError(decision);
  if (decision.approvalReasons.length === 0) return { decision, approvals: [] };
  const approvals = await validApprovals(db, input.tenantId, revision);
  if (approvals.length === 0) {
    await appendAudit(db, {
      tenantId: input.tenantId,
      actor: { type: input.actor.type, id: input.actor.id, name: input.actor.name },
      action: input.refusedAction,
      target: { type: 'revision', id: revision.id },
      details: { number: revision.number, reason: 'approval_required', approvalReasons: decision.approvalReasons },
    });
    throw new ApprovalRequiredError(revision.number, decision.approvalReasons);
  }
  return { decision, approvals: approvals.map(viewOf) };
}

/**
 * publishRevision behind the gate: what the publish workflow's activity runs (workers/worker/main.ts), so a
 * revision reaches proxies only through admission, whoever started the workflow. The gate evaluates afresh;
 * its decision is audited only when it differs from the one recorded last (by the apply that started the
 * workflow, normally), so one apply leaves one `revision.admission` entry.
 */
export async function publishAdmittedRevision(db: DbTx, deps: AdmissionDeps, input: PublishRevisionInput & { actor: AdmissionActor }): Promise<PublishRevisionResult> {
  await requireGoLive(db, deps, { tenantId: input.tenantId, revisionId: input.revisionId, actor: input.actor, refusedAction: 'revision.publish.refused', audit: 'whenChanged' });
  return publishRevision(db, input);
}

/**
 * The gate before a rollout's final promotion publishes its revision (`promotedRevisionId`, derived from the
 * live graph with the change fully applied): admission must allow it, and when it asks for an approval,
 * either the change revision was approved by a non-author or the rollout itself recorded an approval
 * (its approval steps already refuse the change's authors). Throws AdmissionDeniedError or
 * ApprovalRequiredError; the caller (workers/rollout.activities.ts) rolls its transaction back and audits
 * the refusal outside it.
 */
export async function admitRolloutPromotion(
  db: DbTx,
  deps: AdmissionDeps,
  input: { tenantId: string; rolloutId: string; changeRevisionId: string; promotedRevisionId: string; actor: AdmissionActor },
): Promise<AdmissionDecision> {
  const promoted = await findRevision(db, input.tenantId, input.promotedRevisionId);
  if (promoted === null) throw notFound('revision');
  const decision = await admitRevision(db, deps, { tenantId: input.tenantId, revisionId: promoted.id, actor: input.actor });
  if (!decision.allowed) throw new AdmissionDeniedError(decision);
  if (decision.approvalReasons.length === 0) return decision;
  const change = await findRevision(db, input.tenantId, input.changeRevisionId);
  const approved =
    (change !== null && (await validApprovals(db, input.tenantId, change)).length > 0) ||
    (await listRolloutApprovals(db, input.tenantId, input.rolloutId)).some((a) => a.decision === 'approve');
  if (!approved) throw new ApprovalRequiredError(promoted.number, decision.approvalReasons);
  return decision;
}
