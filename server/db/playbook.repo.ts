/**
 * Playbooks (versioned), their runs with transitions, approvals and applied changes, and triggers. Every
 * query filters by tenantId.
 */
import type { PlaybookFailure, PlaybookStatus } from '../../contracts/playbook.schema';
import type { DbTx } from './tx';
import { isUuid } from './tx';

export interface PlaybookRow {
  id: string;
  tenantId: string;
  name: string;
  version: number;
  spec: unknown;
  createdBy: string;
  createdAt: Date;
}

export async function insertPlaybookVersion(db: DbTx, p: { tenantId: string; name: string; spec: unknown; createdBy: string }): Promise<PlaybookRow> {
  const last = await db.playbook.findFirst({ where: { tenantId: p.tenantId, name: p.name }, orderBy: { version: 'desc' }, select: { version: true } });
  return db.playbook.create({ data: { tenantId: p.tenantId, name: p.name, version: (last?.version ?? 0) + 1, spec: p.spec as object, createdBy: p.createdBy } });
}

export async function findPlaybook(db: DbTx, tenantId: string, id: string): Promise<PlaybookRow | null> {
  if (!isUuid(id)) return null;
  return db.playbook.findFirst({ where: { tenantId, id } });
}

/** A version of the playbook `id` belongs to (same name); default the newest. */
export async function findPlaybookVersion(db: DbTx, tenantId: string, name: string, version?: number): Promise<PlaybookRow | null> {
  return db.playbook.findFirst({ where: { tenantId, name, ...(version !== undefined ? { version } : {}) }, orderBy: { version: 'desc' } });
}

/** The newest version of every playbook of the tenant, by name. */
export async function listLatestPlaybooks(db: DbTx, tenantId: string): Promise<PlaybookRow[]> {
  const rows = await db.playbook.findMany({ where: { tenantId }, orderBy: [{ name: 'asc' }, { version: 'desc' }], distinct: ['name'] });
  return rows;
}

export async function listPlaybookVersions(db: DbTx, tenantId: string, name: string): Promise<PlaybookRow[]> {
  return db.playbook.findMany({ where: { tenantId, name }, orderBy: { version: 'desc' } });
}

// ---------------------------------------------------------------- runs

export interface PlaybookRunRow {
  id: string;
  tenantId: string;
  playbookId: string;
  workflowId: string;
  target: string;
  params: unknown;
  triggerType: string;
  triggerId: string | null;
  startedById: string;
  startedByName: string;
  phase: string;
  currentStepIndex: number;
  pauseReason: string | null;
  status: unknown;
  failure: unknown;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

/** Creates the run row unless it exists (the service and the workflow both ensure it). */
export async function ensurePlaybookRunRow(
  db: DbTx,
  r: { id: string; tenantId: string; playbookId: string; workflowId: string; target: string; params: unknown; triggerType: string; triggerId: string | null; startedById: string; startedByName: string },
): Promise<void> {
  await db.playbookRun.createMany({ data: [{ ...r, params: r.params as object, phase: 'Running' }], skipDuplicates: true });
}

export async function findPlaybookRun(db: DbTx, tenantId: string, id: string): Promise<PlaybookRunRow | null> {
  if (!isUuid(id)) return null;
  return db.playbookRun.findFirst({ where: { tenantId, id } });
}

export async function listPlaybookRuns(db: DbTx, tenantId: string, opts: { limit: number; target?: string }): Promise<PlaybookRunRow[]> {
  return db.playbookRun.findMany({
    where: { tenantId, ...(opts.target ? { target: opts.target } : {}) },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: opts.limit,
  });
}

export async function updatePlaybookRunStatus(db: DbTx, tenantId: string, runId: string, status: PlaybookStatus): Promise<void> {
  const finished = ['Completed', 'Compensated', 'Failed'].includes(status.phase);
  await db.playbookRun.updateMany({
    where: { tenantId, id: runId },
    data: {
      phase: status.phase,
      currentStepIndex: status.currentStepIndex,
      pauseReason: status.pauseReason,
      status: status as object,
      ...(status.failure ? { failure: status.failure as object } : {}),
      ...(finished ? { finishedAt: new Date() } : {}),
    },
  });
}

export async function failPlaybookRun(db: DbTx, tenantId: string, runId: string, failure: PlaybookFailure): Promise<void> {
  await db.playbookRun.updateMany({ where: { tenantId, id: runId }, data: { phase: 'Failed', failure: failure as object, finishedAt: new Date() } });
}

/** Inserts the event unless (runId, seq) exists; true when inserted. */
export async function insertPlaybookRunEvent(
  db: DbTx,
  e: { tenantId: string; runId: string; seq: number; action: string; stepIndex: number; phase: string; actor: { type: string; id: string; name: string }; detail: Record<string, unknown> },
): Promise<boolean> {
  const { count } = await db.playbookRunEvent.createMany({
    data: [
      {
        tenantId: e.tenantId,
        runId: e.runId,
        seq: e.seq,
        action: e.action,
        stepIndex: e.stepIndex,
        phase: e.phase,
        actorType: e.actor.type,
        actorId: e.actor.id,
        actorName: e.actor.name,
        detail: e.detail as object,
      },
    ],
    skipDuplicates: true,
  });
  return count === 1;
}

export async function listPlaybookRunEvents(db: DbTx, tenantId: string, runId: string) {
  const rows = await db.playbookRunEvent.findMany({ where: { tenantId, runId }, orderBy: { seq: 'asc' } });
  return rows.map((r) => ({ seq: r.seq, action: r.action, stepIndex: r.stepIndex, phase: r.phase, actor: { type: r.actorType, id: r.actorId, name: r.actorName }, detail: r.detail, at: r.at }));
}

export async function insertPlaybookApproval(
  db: DbTx,
  a: { tenantId: string; runId: string; stepIndex: number; decision: string; principalId: string; name: string; role: string; comment?: string; at: string },
): Promise<void> {
  await db.playbookApproval.createMany({ data: [{ ...a, comment: a.comment ?? '', at: new Date(a.at) }], skipDuplicates: true });
}

export async function listPlaybookApprovals(db: DbTx, tenantId: string, runId: string) {
  const rows = await db.playbookApproval.findMany({ where: { tenantId, runId }, orderBy: { at: 'asc' } });
  return rows.map((r) => ({ stepIndex: r.stepIndex, decision: r.decision, principalId: r.principalId, name: r.name, role: r.role, comment: r.comment, at: r.at }));
}

// ---------------------------------------------------------------- applied changes

export async function findPlaybookChange(db: DbTx, tenantId: string, runId: string, key: string): Promise<{ result: unknown } | null> {
  return db.playbookChange.findFirst({ where: { tenantId, runId, key }, select: { result: true } });
}

export async function insertPlaybookChange(
  db: DbTx,
  c: { tenantId: string; runId: string; key: string; stepIndex: number; kind: 'graph' | 'xdp'; revisionId: string | null; policyId: string | null; version: string; result: unknown },
): Promise<void> {
  await db.playbookChange.create({ data: { ...c, result: c.result as object } });
}

export async function listPlaybookChanges(db: DbTx, tenantId: string, runId: string) {
  return db.playbookChange.findMany({ where: { tenantId, runId }, orderBy: { at: 'asc' } });
}

// ---------------------------------------------------------------- triggers

export interface PlaybookTriggerRow {
  id: string;
  tenantId: string;
  playbookId: string;
  target: string;
  params: unknown;
  condition: unknown;
  intervalMs: number;
  cooldownMs: number;
  enabled: boolean;
  workflowId: string;
  createdById: string;
  createdByName: string;
  lastFiredAt: Date | null;
  createdAt: Date;
}

export async function insertPlaybookTrigger(
  db: DbTx,
  t: { id: string; tenantId: string; playbookId: string; target: string; params: unknown; condition: unknown; intervalMs: number; cooldownMs: number; workflowId: string; createdById: string; createdByName: string },
): Promise<PlaybookTriggerRow> {
  return db.playbookTrigger.create({ data: { ...t, params: t.params as object, condition: t.condition as object } });
}

export async function findPlaybookTrigger(db: DbTx, tenantId: string, id: string): Promise<PlaybookTriggerRow | null> {
  if (!isUuid(id)) return null;
  return db.playbookTrigger.findFirst({ where: { tenantId, id } });
}

export async function listPlaybookTriggers(db: DbTx, tenantId: string, playbookIds?: string[]): Promise<PlaybookTriggerRow[]> {
  return db.playbookTrigger.findMany({ where: { tenantId, ...(playbookIds ? { playbookId: { in: playbookIds } } : {}) }, orderBy: { createdAt: 'desc' } });
}

export async function setPlaybookTriggerEnabled(db: DbTx, tenantId: string, id: string, enabled: boolean): Promise<void> {
  await db.playbookTrigger.updateMany({ where: { tenantId, id }, data: { enabled } });
}

export async function markPlaybookTriggerFired(db: DbTx, tenantId: string, id: string): Promise<void> {
  await db.playbookTrigger.updateMany({ where: { tenantId, id }, data: { lastFiredAt: new Date() } });
}
