/**
 * Failover playbooks, the use cases behind /api/v1/playbooks and the CLI: store versions, dry-run one
 * against the live graph (the exact revisions and XDP bundles each step would apply, computed by the same
 * core functions the run's activities use), start runs (failoverPlaybookWorkflow; one active run per target,
 * enforced by Temporal through the workflow id), send runs their messages (approve, reject, resume, abort:
 * Temporal updates whose validators decide; refusals are audited), and configure automatic triggers
 * (playbookTriggerWorkflow per trigger).
 */
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import {
  FAILOVER_PLAYBOOK_WORKFLOW,
  FINISHED_PLAYBOOK_PHASES,
  PLAYBOOK_TRIGGER_WORKFLOW,
  PlaybookMessages,
  PlaybookSpecSchema,
  playbookRunWorkflowId,
  playbookTriggerWorkflowId,
  type CreateTriggerBody,
  type FailoverPlaybookInput,
  type PlaybookParams,
  type PlaybookPhase,
  type PlaybookSpec,
  type PlaybookStatus,
  type PlaybookTriggerInput,
} from '../../contracts/playbook.schema';
import { issuePath, type RolloutPrincipal } from '../../contracts/rollout.schema';
import type { XdpBundle, XdpPolicySpec } from '../../contracts/xdp.schema';
import { missingParams, planPlaybook, PlaybookStepError, substituteParams } from '../../core/playbook/transform';
import { appendAudit } from '../audit/audit.service';
import { requirePermission, type Principal } from '../auth/principal';
import type { Db } from '../db/client';
import {
  ensurePlaybookRunRow,
  findPlaybook,
  findPlaybookRun,
  findPlaybookTrigger,
  findPlaybookVersion,
  insertPlaybookTrigger,
  insertPlaybookVersion,
  listLatestPlaybooks,
  listPlaybookApprovals,
  listPlaybookChanges,
  listPlaybookRunEvents,
  listPlaybookRuns,
  listPlaybookTriggers,
  listPlaybookVersions,
  setPlaybookTriggerEnabled,
  type PlaybookRow,
  type PlaybookRunRow,
  type PlaybookTriggerRow,
} from '../db/playbook.repo';
import { findLiveRevision } from '../db/revision-read.repo';
import { inTransaction, type DbTx } from '../db/tx';
import { findXdpPolicyVersion, listXdpGroupStates } from '../db/xdp-policy.repo';
import { getEnv } from '../env';
import { AppError, badRequest, conflict, notFound } from '../errors';
import { getTemporalClient, type ProxyShardTemporal } from '../temporal/client';
import { rolloutPrincipalOf } from './rollout.service';
import { catalogProgramResolver, compileXdpPolicyForGroup, type XdpProgramResolver } from './xdp.service';

let temporalProvider: (() => Promise<ProxyShardTemporal>) | undefined;
let programResolver: ((db: DbTx) => XdpProgramResolver) | undefined;

/** Tests (and scripts) point the service at their Temporal; default: the one in the environment. */
export function setPlaybookTemporal(provider: (() => Promise<ProxyShardTemporal>) | undefined): void {
  temporalProvider = provider;
}

/** Tests may resolve XDP program builds elsewhere; default: the catalog in PostgreSQL (as the worker). */
export function setPlaybookPrograms(resolver: ((db: DbTx) => XdpProgramResolver) | undefined): void {
  programResolver = resolver;
}

function temporal(): Promise<ProxyShardTemporal> {
  return temporalProvider ? temporalProvider() : getTemporalClient(getEnv());
}

const FINISHED = new Set<string>(FINISHED_PLAYBOOK_PHASES);

// ---------------------------------------------------------------- playbooks

export interface PlaybookView {
  id: string;
  name: string;
  version: number;
  spec: unknown;
  createdBy: string;
  createdAt: string;
  /** `${name}` parameters the spec refers to. */
  params: string[];
}

function playbookView(p: PlaybookRow): PlaybookView {
  return { id: p.id, name: p.name, version: p.version, spec: p.spec, createdBy: p.createdBy, createdAt: p.createdAt.toISOString(), params: missingParams(p.spec) };
}

function specIssues(err: { issues: { path: PropertyKey[]; message: string; code: string; keys?: string[] }[] }, prefix: string) {
  return err.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' && i.keys
      ? i.keys.map((k) => ({ path: `${prefix}.${issuePath([...i.path, k])}`.replace(/\.$/, ''), message: 'unknown field' }))
      : [{ path: i.path.length ? `${prefix}.${issuePath(i.path)}` : prefix, message: i.message }],
  );
}

/** Substitutes the run's parameters and validates the result (issues name `spec.steps[i]…` or `params`). */
export function resolvePlaybookSpec(raw: unknown, params: PlaybookParams): PlaybookSpec {
  const substituted = substituteParams(raw, params);
  const missing = missingParams(substituted);
  if (missing.length > 0) throw badRequest('parameters are missing', missing.map((m) => ({ path: `params.${m}`, message: 'required by the playbook' })));
  const parsed = PlaybookSpecSchema.safeParse(substituted);
  if (!parsed.success) throw badRequest('the playbook is not valid', specIssues(parsed.error as never, 'spec'));
  return parsed.data;
}

/** Stores a new version of the playbook `name` (version 1 when new). */
export async function createPlaybook(db: Db, principal: Principal, body: { name: string; spec: unknown }): Promise<PlaybookView> {
  requirePermission(principal, 'playbooks.write');
  const spec = body.spec;
  // Without parameters the spec must be complete now; with them it is validated again per run.
  if (missingParams(spec).length === 0) resolvePlaybookSpec(spec, {});
  else {
    const placeholder = Object.fromEntries(missingParams(spec).map((m) => [m, 'x']));
    const r = PlaybookSpecSchema.safeParse(substituteParams(spec, placeholder));
    const structural = r.success ? [] : specIssues(r.error as never, 'spec').filter((i) => /unknown field|expected (object|array)/.test(i.message));
    if (structural.length > 0) throw badRequest('the playbook is not valid', structural);
  }
  const rp = rolloutPrincipalOf(principal);
  const row = await inTransaction(db, async (tx) => {
    const created = await insertPlaybookVersion(tx, { tenantId: principal.tenant.id, name: body.name, spec, createdBy: rp.name });
    await appendAudit(tx, {
      tenantId: principal.tenant.id,
      actor: rp.actor,
      action: 'playbook.create',
      target: { type: 'playbook', id: created.id },
      after: spec,
      details: { name: created.name, version: created.version },
    });
    return created;
  });
  return playbookView(row);
}

export async function listPlaybooks(db: Db, principal: Principal): Promise<{ playbooks: PlaybookView[] }> {
  requirePermission(principal, 'playbooks.read');
  return { playbooks: (await listLatestPlaybooks(db, principal.tenant.id)).map(playbookView) };
}

export async function getPlaybook(db: Db, principal: Principal, id: string) {
  requirePermission(principal, 'playbooks.read');
  const p = await findPlaybook(db, principal.tenant.id, id);
  if (!p) throw notFound('playbook');
  const versions = await listPlaybookVersions(db, principal.tenant.id, p.name);
  const triggers = await listPlaybookTriggers(db, principal.tenant.id, versions.map((v) => v.id));
  return { playbook: playbookView(p), versions: versions.map((v) => ({ id: v.id, version: v.version, createdAt: v.createdAt.toISOString(), createdBy: v.createdBy })), triggers: triggers.map(triggerView) };
}

async function playbookFor(db: DbTx, tenantId: string, id: string, version?: number): Promise<PlaybookRow> {
  const p = await findPlaybook(db, tenantId, id);
  if (!p) throw notFound('playbook');
  if (version === undefined || version === p.version) return version === undefined ? ((await findPlaybookVersion(db, tenantId, p.name)) ?? p) : p;
  const v = await findPlaybookVersion(db, tenantId, p.name, version);
  if (!v) throw badRequest('no such version', [{ path: 'version', message: `playbook ${p.name} has no version ${version}` }]);
  return v;
}

// ---------------------------------------------------------------- dry run

export type DryRunAction =
  | { key: string; stepIndex: number; step: string; kind: 'revision'; graphHash: string; changed: boolean; graph: unknown }
  | { key: string; stepIndex: number; step: string; kind: 'xdp'; nodeGroup: string; version: string; spec: XdpPolicySpec; bundle: XdpBundle }
  | { key: string; stepIndex: number; step: string; kind: 'gate' };

export interface DryRunView {
  playbook: { id: string; name: string; version: number };
  target: string;
  liveRevisionId: string;
  spec: PlaybookSpec;
  actions: DryRunAction[];
}

/** What a run would apply, change by change, from the live graph and the node groups' XDP policies. */
async function computePlan(db: DbTx, tenantId: string, p: PlaybookRow, target: string, params: PlaybookParams): Promise<DryRunView> {
  const spec = resolvePlaybookSpec(p.spec, params);
  const live = await findLiveRevision(db, tenantId);
  if (!live) throw conflict('nothing is live yet: publish a revision before running a playbook');
  const groups = [...new Set(spec.steps.flatMap((s) => (s.kind === 'pushXdpRules' ? [s.nodeGroup] : [])))];
  const xdp: Record<string, XdpPolicySpec | null> = {};
  for (const g of groups) {
    const [state] = await listXdpGroupStates(db, tenantId, g);
    xdp[g] = state ? ((await findXdpPolicyVersion(db, tenantId, state.desiredPolicyId))?.spec ?? null) : null;
  }
  let planned;
  try {
    planned = planPlaybook(spec, live.graph, xdp);
  } catch (err) {
    if (err instanceof PlaybookStepError) {
      const failing = spec.steps.findIndex((_, i) => {
        try {
          planPlaybook({ ...spec, steps: spec.steps.slice(0, i + 1) }, live.graph, xdp);
          return false;
        } catch {
          return true;
        }
      });
      throw badRequest('the playbook does not apply to the live graph', [{ path: `spec.steps[${failing}].${err.path}`, message: err.message }]);
    }
    throw err;
  }
  const programs = (programResolver ?? catalogProgramResolver)(db);
  const actions: DryRunAction[] = [];
  for (const a of planned) {
    const step = spec.steps[a.stepIndex]!.kind;
    if (a.kind === 'graph') actions.push({ key: a.key, stepIndex: a.stepIndex, step, kind: 'revision', graphHash: a.graphHash, changed: a.changed, graph: a.graph });
    else if (a.kind === 'xdp') {
      const compiled = await compileXdpPolicyForGroup(db, tenantId, { nodeGroup: a.nodeGroup, spec: a.spec }, programs).catch((err: unknown) => {
        if (err instanceof AppError) throw new AppError(err.code, err.message, err.issues?.map((i) => ({ ...i, path: `spec.steps[${a.stepIndex}].rules` })));
        throw err;
      });
      actions.push({ key: a.key, stepIndex: a.stepIndex, step, kind: 'xdp', nodeGroup: a.nodeGroup, version: compiled.bundle.version, spec: compiled.spec, bundle: compiled.bundle });
    } else actions.push({ key: a.key, stepIndex: a.stepIndex, step, kind: 'gate' });
  }
  return { playbook: { id: p.id, name: p.name, version: p.version }, target, liveRevisionId: live.id, spec, actions };
}

export async function dryRunPlaybook(db: Db, principal: Principal, id: string, body: { target: string; params: PlaybookParams; version?: number }): Promise<DryRunView> {
  requirePermission(principal, 'playbooks.read');
  const p = await playbookFor(db, principal.tenant.id, id, body.version);
  return computePlan(db, principal.tenant.id, p, body.target, body.params);
}

// ---------------------------------------------------------------- runs

export interface PlaybookRunView {
  id: string;
  workflowId: string;
  playbookId: string;
  target: string;
  params: unknown;
  trigger: { type: string; triggerId: string | null };
  phase: string;
  currentStepIndex: number;
  pauseReason: string | null;
  status: unknown;
  failure: unknown;
  startedBy: { id: string; name: string };
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

function runView(r: PlaybookRunRow): PlaybookRunView {
  return {
    id: r.id,
    workflowId: r.workflowId,
    playbookId: r.playbookId,
    target: r.target,
    params: r.params,
    trigger: { type: r.triggerType, triggerId: r.triggerId },
    phase: r.phase,
    currentStepIndex: r.currentStepIndex,
    pauseReason: r.pauseReason,
    status: r.status,
    failure: r.failure,
    startedBy: { id: r.startedById, name: r.startedByName },
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
  };
}

/** Starts a run (409 while another run for the same target is active). */
export async function startPlaybookRun(
  db: Db,
  principal: Principal,
  id: string,
  body: { target: string; params: PlaybookParams; version?: number },
): Promise<{ run: PlaybookRunView }> {
  requirePermission(principal, 'playbooks.write');
  const tenantId = principal.tenant.id;
  const p = await playbookFor(db, tenantId, id, body.version);
  const plan = await computePlan(db, tenantId, p, body.target, body.params);
  const rp = rolloutPrincipalOf(principal);
  const runId = randomUUID();
  const workflowId = playbookRunWorkflowId({ tenantId, target: body.target });
  const input: FailoverPlaybookInput = {
    tenantId,
    runId,
    playbook: { id: p.id, name: p.name, version: p.version },
    spec: plan.spec,
    target: body.target,
    params: body.params,
    actor: rp.actor,
    authors: [rp.id],
    trigger: { type: 'manual' },
  };
  const t = await temporal();
  try {
    await t.client.workflow.start(FAILOVER_PLAYBOOK_WORKFLOW, { taskQueue: t.taskQueue, workflowId, args: [input], workflowIdConflictPolicy: 'FAIL' });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      await appendAudit(db, { tenantId, actor: rp.actor, action: 'playbook.run.refused', target: { type: 'playbook', id: p.id }, details: { target: body.target, reason: 'a run for the target is active' } });
      throw conflict(`a playbook run for target ${body.target} is already active`);
    }
    throw err;
  }
  await inTransaction(db, async (tx) => {
    await ensurePlaybookRunRow(tx, { id: runId, tenantId, playbookId: p.id, workflowId, target: body.target, params: body.params, triggerType: 'manual', triggerId: null, startedById: rp.actor.id, startedByName: rp.actor.name });
    await appendAudit(tx, { tenantId, actor: rp.actor, action: 'playbook.run.start', target: { type: 'playbook_run', id: runId }, details: { playbook: p.name, version: p.version, target: body.target, params: body.params, workflowId } });
  });
  const row = await findPlaybookRun(db, tenantId, runId);
  return { run: runView(row!) };
}

export async function listRuns(db: Db, principal: Principal, query: { target?: string; limit?: number }): Promise<{ runs: PlaybookRunView[] }> {
  requirePermission(principal, 'playbooks.read');
  const rows = await listPlaybookRuns(db, principal.tenant.id, { limit: query.limit ?? 50, ...(query.target ? { target: query.target } : {}) });
  return { runs: rows.map(runView) };
}

export async function getRun(db: Db, principal: Principal, id: string) {
  requirePermission(principal, 'playbooks.read');
  const row = await findPlaybookRun(db, principal.tenant.id, id);
  if (!row) throw notFound('playbook run');
  const [events, approvals, changes] = await Promise.all([
    listPlaybookRunEvents(db, row.tenantId, row.id),
    listPlaybookApprovals(db, row.tenantId, row.id),
    listPlaybookChanges(db, row.tenantId, row.id),
  ]);
  return {
    run: runView(row),
    events: events.map((e) => ({ ...e, at: e.at.toISOString() })),
    approvals: approvals.map((a) => ({ ...a, at: a.at.toISOString() })),
    changes: changes.map((c) => ({ key: c.key, stepIndex: c.stepIndex, kind: c.kind, revisionId: c.revisionId, policyId: c.policyId, version: c.version, at: c.at.toISOString() })),
  };
}

export type PlaybookCommand = 'approve' | 'reject' | 'resume' | 'abort';

const COMMAND_UPDATE: Record<PlaybookCommand, string> = {
  approve: PlaybookMessages.approve,
  reject: PlaybookMessages.reject,
  resume: PlaybookMessages.resume,
  abort: PlaybookMessages.abort,
};

export const PLAYBOOK_COMMAND_PERMISSION = {
  approve: 'approvals.decide',
  reject: 'approvals.decide',
  resume: 'playbooks.write',
  abort: 'playbooks.write',
} as const satisfies Record<PlaybookCommand, string>;

/** Sends `command` to the run's workflow as an update; a refusal is audited and answered 403 / 409. */
export async function sendPlaybookCommand(db: Db, principal: Principal, id: string, command: PlaybookCommand, body: { comment?: string }): Promise<{ status: PlaybookStatus }> {
  requirePermission(principal, 'playbooks.read');
  const row = await findPlaybookRun(db, principal.tenant.id, id);
  if (!row) throw notFound('playbook run');
  requirePermission(principal, PLAYBOOK_COMMAND_PERMISSION[command]);
  const rp: RolloutPrincipal = rolloutPrincipalOf(principal);
  const refused = async (reason: string, code: 'forbidden' | 'conflict') => {
    await appendAudit(db, { tenantId: row.tenantId, actor: rp.actor, action: `playbook.${command}.refused`, target: { type: 'playbook_run', id: row.id }, details: { reason, role: rp.role, stepIndex: row.currentStepIndex } });
    return new AppError(code, reason);
  };
  if (FINISHED.has(row.phase)) throw await refused(`the playbook run is ${row.phase}`, 'conflict');
  const t = await temporal();
  try {
    // The workflow id is shared by the target's runs: make sure the one running is this run.
    const handle = t.client.workflow.getHandle(row.workflowId);
    const current = await handle.query<PlaybookStatus>(PlaybookMessages.status);
    if (current.runId !== row.id) throw await refused('the playbook run is no longer active', 'conflict');
    const status = await handle.executeUpdate<PlaybookStatus, [{ principal: RolloutPrincipal; comment?: string }]>(COMMAND_UPDATE[command], {
      args: [{ principal: rp, ...(body.comment ? { comment: body.comment } : {}) }],
    });
    return { status };
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof WorkflowUpdateFailedError) {
      const reason = err.cause instanceof Error ? err.cause.message : err.message;
      throw await refused(reason, /^role |started the run/.test(reason) ? 'forbidden' : 'conflict');
    }
    if (err instanceof WorkflowNotFoundError) throw await refused('the playbook run is no longer active', 'conflict');
    throw err;
  }
}

// ---------------------------------------------------------------- triggers

export interface TriggerView {
  id: string;
  playbookId: string;
  target: string;
  params: unknown;
  condition: unknown;
  intervalMs: number;
  cooldownMs: number;
  enabled: boolean;
  workflowId: string;
  createdBy: { id: string; name: string };
  lastFiredAt: string | null;
  createdAt: string;
}

function triggerView(t: PlaybookTriggerRow): TriggerView {
  return {
    id: t.id,
    playbookId: t.playbookId,
    target: t.target,
    params: t.params,
    condition: t.condition,
    intervalMs: t.intervalMs,
    cooldownMs: t.cooldownMs,
    enabled: t.enabled,
    workflowId: t.workflowId,
    createdBy: { id: t.createdById, name: t.createdByName },
    lastFiredAt: t.lastFiredAt?.toISOString() ?? null,
    createdAt: t.createdAt.toISOString(),
  };
}

/** Stores a trigger and starts its watcher (playbookTriggerWorkflow). */
export async function createTrigger(db: Db, principal: Principal, playbookId: string, body: CreateTriggerBody): Promise<{ trigger: TriggerView }> {
  requirePermission(principal, 'playbooks.write');
  const tenantId = principal.tenant.id;
  const p = await playbookFor(db, tenantId, playbookId, body.version);
  const plan = await computePlan(db, tenantId, p, body.target, body.params);
  const rp = rolloutPrincipalOf(principal);
  const id = randomUUID();
  const workflowId = playbookTriggerWorkflowId({ tenantId, triggerId: id });
  const row = await inTransaction(db, async (tx) => {
    const created = await insertPlaybookTrigger(tx, {
      id,
      tenantId,
      playbookId: p.id,
      target: body.target,
      params: body.params,
      condition: body.condition,
      intervalMs: body.intervalMs,
      cooldownMs: body.cooldownMs,
      workflowId,
      createdById: rp.id,
      createdByName: rp.name,
    });
    await appendAudit(tx, { tenantId, actor: rp.actor, action: 'playbook.trigger.create', target: { type: 'playbook_trigger', id }, after: body, details: { playbook: p.name, version: p.version } });
    return created;
  });
  const input: PlaybookTriggerInput = {
    tenantId,
    triggerId: id,
    playbook: { id: p.id, name: p.name, version: p.version },
    spec: plan.spec,
    target: body.target,
    params: body.params,
    condition: body.condition,
    intervalMs: body.intervalMs,
    cooldownMs: body.cooldownMs,
    actor: { type: 'system', id: `playbook-trigger:${id}`, name: `trigger of ${p.name} (by ${rp.name})` },
    authors: [rp.id],
  };
  const t = await temporal();
  await t.client.workflow.start(PLAYBOOK_TRIGGER_WORKFLOW, { taskQueue: t.taskQueue, workflowId, args: [input], workflowIdConflictPolicy: 'USE_EXISTING' });
  return { trigger: triggerView(row) };
}

export async function listTriggers(db: Db, principal: Principal): Promise<{ triggers: TriggerView[] }> {
  requirePermission(principal, 'playbooks.read');
  return { triggers: (await listPlaybookTriggers(db, principal.tenant.id)).map(triggerView) };
}

/** Disables a trigger: its watcher is cancelled (runs it started go on). */
export async function disableTrigger(db: Db, principal: Principal, id: string): Promise<{ trigger: TriggerView }> {
  requirePermission(principal, 'playbooks.write');
  const row = await findPlaybookTrigger(db, principal.tenant.id, id);
  if (!row) throw notFound('playbook trigger');
  const rp = rolloutPrincipalOf(principal);
  if (row.enabled) {
    const t = await temporal();
    await t.client.workflow
      .getHandle(row.workflowId)
      .cancel()
      .catch((err: unknown) => {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      });
    await inTransaction(db, async (tx) => {
      await setPlaybookTriggerEnabled(tx, row.tenantId, row.id, false);
      await appendAudit(tx, { tenantId: row.tenantId, actor: rp.actor, action: 'playbook.trigger.disable', target: { type: 'playbook_trigger', id: row.id }, details: { target: row.target } });
    });
  }
  return { trigger: triggerView((await findPlaybookTrigger(db, principal.tenant.id, id))!) };
}

export function isFinishedPhase(phase: string): phase is PlaybookPhase {
  return FINISHED.has(phase);
}
