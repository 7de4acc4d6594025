/**
 * Canary rollouts, the use cases behind /api/v1/rollouts and the CLI: start (validate the spec against the
 * live graph, store the rollout, start canaryPromotionWorkflow), read status and history, and send the
 * workflow its messages (approve, reject, pause, resume, abort, promote, retry) as Temporal updates whose
 * validators decide; a refused request is audited with its reason and answered 403/409.
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import {
  CANARY_PROMOTION_WORKFLOW,
  RolloutMessages,
  rolloutWorkflowId,
  validateRolloutSpec,
  type CanaryPromotionInput,
  type RolloutPrincipal,
  type RolloutStatus,
} from '../../contracts/rollout.schema';
import { RouteGraphSchema } from '../../contracts/route-graph.schema';
import { stepsHash } from '../../core/rollout/status';
import { appendAudit } from '../audit/audit.service';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import type { Db } from '../db/client';
import { revisionAuthorUserIds } from '../db/revision-approval.repo';
import { findLiveRevision } from '../db/revision-read.repo';
import {
  findRevisionGraph,
  findRollout,
  findRolloutByWorkflowId,
  insertRollout,
  listRolloutApprovals,
  listRolloutEvents,
  listRollouts as listRolloutRows,
  updateRolloutStatus,
  type RolloutRow,
} from '../db/rollout.repo';
import { inTransaction, isUniqueViolation } from '../db/tx';
import { getEnv } from '../env';
import { AppError, conflict, notFound } from '../errors';
import { getTemporalClient, type ProxyShardTemporal } from '../temporal/client';

let temporalProvider: (() => Promise<ProxyShardTemporal>) | undefined;

/** Tests (and scripts) point the service at their Temporal; default: the one in the environment. */
export function setRolloutTemporal(provider: (() => Promise<ProxyShardTemporal>) | undefined): void {
  temporalProvider = provider;
}

function temporal(): Promise<ProxyShardTemporal> {
  return temporalProvider ? temporalProvider() : getTemporalClient(getEnv());
}

const FINISHED = new Set(['Promoted', 'Failed', 'Aborted']);

export function rolloutPrincipalOf(principal: Principal): RolloutPrincipal {
  return { id: `user:${principal.user.id}`, name: principal.user.username, role: principal.role, actor: auditActorOf(principal) };
}

export interface RolloutView {
  id: string;
  workflowId: string;
  route: string;
  revisionId: string;
  phase: string;
  currentStepIndex: number;
  pauseReason: string | null;
  canaryWeight: number;
  stepsHash: string;
  steps: number;
  spec: unknown;
  failure: unknown;
  status: unknown;
  startedBy: { id: string; name: string };
  lastGoodRevisionId: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

function view(r: RolloutRow): RolloutView {
  return {
    id: r.id,
    workflowId: r.workflowId,
    route: r.routeName,
    revisionId: r.revisionId,
    phase: r.phase,
    currentStepIndex: r.currentStepIndex,
    pauseReason: r.pauseReason,
    canaryWeight: r.canaryWeight,
    stepsHash: r.stepsHash,
    steps: r.spec.steps.length,
    spec: r.spec,
    failure: r.failure,
    status: r.status,
    startedBy: { id: r.startedById, name: r.startedByName },
    lastGoodRevisionId: r.lastGoodRevisionId,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
  };
}

/**
 * Who may not approve the rollout's steps (separation of duties), as rollout principal ids (`user:<id>`): the
 * user who wrote the change — its revision's author, or the owner of the API token that created it — and the
 * user who starts the rollout.
 */
async function rolloutAuthors(db: Db, tenantId: string, revisionCreatedById: string, starter: RolloutPrincipal): Promise<string[]> {
  const userIds = await revisionAuthorUserIds(db, tenantId, revisionCreatedById);
  return [...new Set([...[...userIds].map((id) => (id.startsWith('user:') ? id : `user:${id}`)), starter.id])];
}

export async function startRollout(
  db: Db,
  principal: Principal,
  body: { revisionId: string; spec: unknown },
  opts: { stepsPerRun?: number } = {},
): Promise<{ rollout: RolloutView; created: boolean }> {
  requirePermission(principal, 'rollouts.write');
  const tenantId = principal.tenant.id;
  const revision = await findRevisionGraph(db, tenantId, body.revisionId);
  if (!revision) throw notFound('revision');
  const live = await findLiveRevision(db, tenantId);
  if (!live) throw conflict('nothing is live yet: publish a revision before rolling out a change');
  const changeGraph = RouteGraphSchema.safeParse(revision.graph);
  const clusters = [...live.graph.clusters, ...(changeGraph.success ? changeGraph.data.clusters.filter((c) => !live.graph.clusters.some((l) => l.name === c.name)) : [])];
  const v = validateRolloutSpec(body.spec, { routes: live.graph.routes, clusters });
  if (!v.ok) throw new AppError('bad_request', 'the rollout spec is not valid', v.issues.map((i) => ({ path: i.path ? `spec.${i.path}` : 'spec', message: i.message })));
  const spec = v.spec;
  const workflowId = rolloutWorkflowId({ tenantId, routeName: spec.route, revisionId: revision.id });

  const existing = await findRolloutByWorkflowId(db, tenantId, workflowId);
  if (existing) return { rollout: view(existing), created: false };
  const active = (await listRolloutRows(db, tenantId, { limit: 50, route: spec.route })).find((r) => !FINISHED.has(r.phase));
  if (active) throw conflict(`route ${spec.route} already has a rollout in progress (${active.id})`);

  const baseRoute = live.graph.routes.find((r) => r.name === spec.route)!;
  const rp = rolloutPrincipalOf(principal);
  const authors = await rolloutAuthors(db, tenantId, revision.createdById, rp);
  let row: RolloutRow;
  try {
    row = await inTransaction(db, async (tx) => {
      const created = await insertRollout(tx, {
        tenantId,
        workflowId,
        routeName: spec.route,
        revisionId: revision.id,
        spec,
        stepsHash: stepsHash(spec.steps),
        authors,
        startedById: rp.id,
        startedByName: rp.name,
        lastGoodRevisionId: live.id,
      });
      await appendAudit(tx, {
        tenantId,
        actor: rp.actor,
        action: 'rollout.create',
        target: { type: 'rollout', id: created.id },
        after: spec,
        details: { route: spec.route, revisionId: revision.id, workflowId, lastGoodRevisionId: live.id, steps: spec.steps.map((s) => s.kind) },
      });
      return created;
    });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const raced = await findRolloutByWorkflowId(db, tenantId, workflowId);
    if (!raced) throw err;
    return { rollout: view(raced), created: false };
  }

  const input: CanaryPromotionInput = {
    tenantId,
    rolloutId: row.id,
    revisionId: revision.id,
    spec,
    authors,
    actor: rp.actor,
    baseRoute,
    lastGoodRevisionId: live.id,
    ...(opts.stepsPerRun ? { stepsPerRun: opts.stepsPerRun } : {}),
  };
  try {
    const t = await temporal();
    await t.client.workflow.start(CANARY_PROMOTION_WORKFLOW, {
      taskQueue: t.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  } catch (err) {
    await updateRolloutStatus(db, tenantId, row.id, {
      ...emptyStatus(row),
      phase: 'Failed',
      failure: { reason: 'error', message: 'the rollout workflow could not be started', stepIndex: 0 },
    });
    throw err;
  }
  return { rollout: view(row), created: true };
}

function emptyStatus(row: RolloutRow): RolloutStatus {
  return {
    rolloutId: row.id,
    tenantId: row.tenantId,
    route: row.routeName,
    phase: 'Progressing',
    currentStepIndex: 0,
    stepsHash: row.stepsHash,
    pauseReason: null,
    steps: row.spec.steps.length,
    currentStep: row.spec.steps[0] ?? null,
    traffic: { weight: 0, headerRoute: null, mirrorPercent: 0 },
    approvals: [],
    analyses: [],
    failure: null,
    revisions: [],
    runs: 1,
  };
}

export async function listRollouts(db: Db, principal: Principal, query: { route?: string; limit?: number }): Promise<{ rollouts: RolloutView[] }> {
  requirePermission(principal, 'rollouts.read');
  const rows = await listRolloutRows(db, principal.tenant.id, { limit: query.limit ?? 50, ...(query.route ? { route: query.route } : {}) });
  return { rollouts: rows.map(view) };
}

export async function getRollout(db: Db, principal: Principal, id: string) {
  requirePermission(principal, 'rollouts.read');
  const row = await findRollout(db, principal.tenant.id, id);
  if (!row) throw notFound('rollout');
  const [events, approvals] = await Promise.all([listRolloutEvents(db, row.tenantId, row.id), listRolloutApprovals(db, row.tenantId, row.id)]);
  return {
    rollout: view(row),
    events: events.map((e) => ({ ...e, at: e.at.toISOString() })),
    approvals: approvals.map((a) => ({ ...a, at: a.at.toISOString() })),
  };
}

export type RolloutCommand = 'approve' | 'reject' | 'pause' | 'resume' | 'abort' | 'promote' | 'retry';

const COMMAND_UPDATE: Record<RolloutCommand, string> = {
  approve: RolloutMessages.approve,
  reject: RolloutMessages.reject,
  pause: RolloutMessages.pause,
  resume: RolloutMessages.resume,
  abort: RolloutMessages.abort,
  promote: RolloutMessages.promote,
  retry: RolloutMessages.retry,
};

/** Permission each command needs at the API (the workflow's validators check the role again, per step). */
export const COMMAND_PERMISSION = {
  approve: 'approvals.decide',
  reject: 'approvals.decide',
  promote: 'approvals.decide',
  pause: 'rollouts.write',
  resume: 'rollouts.write',
  abort: 'rollouts.write',
  retry: 'rollouts.write',
} as const satisfies Record<RolloutCommand, string>;

/**
 * Sends `command` to the rollout's workflow as an update. The workflow's validator decides; a refusal is
 * written to the audit log (rollout.<command>.refused, with the reason) and answered 403 (role, separation
 * of duties) or 409 (wrong state).
 */
export async function sendRolloutCommand(
  db: Db,
  principal: Principal,
  id: string,
  command: RolloutCommand,
  body: { comment?: string; reason?: string },
): Promise<{ status: RolloutStatus }> {
  requirePermission(principal, 'rollouts.read');
  const row = await findRollout(db, principal.tenant.id, id);
  if (!row) throw notFound('rollout');
  requirePermission(principal, COMMAND_PERMISSION[command]);
  const rp = rolloutPrincipalOf(principal);
  const refused = async (reason: string, code: 'forbidden' | 'conflict') => {
    await appendAudit(db, {
      tenantId: row.tenantId,
      actor: rp.actor,
      action: `rollout.${command}.refused`,
      target: { type: 'rollout', id: row.id },
      details: { reason, role: rp.role, stepIndex: row.currentStepIndex },
    });
    return new AppError(code, reason);
  };
  if (FINISHED.has(row.phase)) throw await refused(`the rollout is ${row.phase}`, 'conflict');
  const t = await temporal();
  const handle: WorkflowHandle = t.client.workflow.getHandle(row.workflowId);
  const comment = body.comment ?? body.reason;
  try {
    const status = await handle.executeUpdate<RolloutStatus, [{ principal: RolloutPrincipal; comment?: string }]>(COMMAND_UPDATE[command], {
      args: [{ principal: rp, ...(comment ? { comment } : {}) }],
    });
    return { status };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const reason = err.cause instanceof Error ? err.cause.message : err.message;
      const code = /^role |author of the change/.test(reason) ? 'forbidden' : 'conflict';
      throw await refused(reason, code);
    }
    throw err;
  }
}
