/**
 * Activities of failoverPlaybookWorkflow and playbookTriggerWorkflow, from createPlaybookActivities(deps).
 *
 * Idempotency: a change (graph or XDP) is applied in one transaction that also writes a PlaybookChange row
 * keyed by (run, key); a retried attempt whose first try committed finds the row and returns what it
 * returned, so no step is applied twice. The graph of a change is derived from the live graph by
 * core/playbook (the dry run uses the same functions); the revision is published by the publish service in
 * the same transaction. recordPlaybookEvent writes once per (run, seq). readPlaybookHealth only reads.
 * Failure policy: domain errors (step does not apply, nothing live, invalid XDP spec) are non-retryable
 * ApplicationFailures; anything else is retried by Temporal.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type {
  ApplyGraphChangeInput,
  ApplyGraphChangeResult,
  ApplyXdpChangeInput,
  ApplyXdpChangeResult,
  EnsurePlaybookRunInput,
  PlaybookActivities,
  RecordPlaybookEventInput,
} from '../contracts/playbook.schema';
import type { ReadClusterStatsInput } from '../contracts/rollout.schema';
import type { XdpPolicySpec } from '../contracts/xdp.schema';
import { canonicalJson } from '../core/canonical-json';
import { PlaybookStepError, addXdpRules, applyGraphChange, captureXdpRules, restoreXdpRules } from '../core/playbook/transform';
import type { MetricsSource } from '../core/rollout/ports';
import { contentHash } from '../core/xds/snapshot';
import { lockAuditChain } from '../server/db/audit.repo';
import type { Db } from '../server/db/client';
import {
  ensurePlaybookRunRow,
  findPlaybookChange,
  insertPlaybookApproval,
  insertPlaybookChange,
  insertPlaybookRunEvent,
  markPlaybookTriggerFired,
  updatePlaybookRunStatus,
} from '../server/db/playbook.repo';
import { findLiveRevision } from '../server/db/revision-read.repo';
import { lockTenantForPublish } from '../server/db/revision-publish.repo';
import { insertDerivedRevision } from '../server/db/rollout.repo';
import { listLatestSnapshotVersions } from '../server/db/snapshot.repo';
import { inTransaction } from '../server/db/tx';
import { findXdpPolicyVersion, listXdpGroupStates } from '../server/db/xdp-policy.repo';
import { catalogProgramResolver, createXdpPolicyAs, publishXdpPolicy, type XdpProgramResolver } from '../server/services/xdp.service';
import { isDomainError } from './publish.activities';
import type { AppendAuditInTxFn, PublishInTxFn } from './rollout.activities';

export interface PlaybookActivityDeps {
  db: Db;
  publishRevision: PublishInTxFn;
  appendAudit: AppendAuditInTxFn;
  metrics: MetricsSource;
  /** Resolves XDP program builds (default: the catalog in PostgreSQL, as the web does). */
  programs?: XdpProgramResolver;
}

export const PlaybookFailureType = { rejected: 'PlaybookChangeRejected' } as const;

function rejected(message: string, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: PlaybookFailureType.rejected, nonRetryable: true, message, cause: cause instanceof Error ? cause : undefined });
}

function domain<T>(fn: () => Promise<T>): Promise<T> {
  return fn().catch((err: unknown) => {
    if (err instanceof ApplicationFailure) throw err;
    if (err instanceof PlaybookStepError) throw rejected(`${err.message} (step field ${err.path})`, err);
    if (isDomainError(err)) throw rejected(err instanceof Error ? err.message : String(err), err);
    throw err;
  });
}

/** The group's desired XDP policy spec (null when nothing was pushed to it). */
export async function desiredXdpSpec(db: Parameters<typeof listXdpGroupStates>[0], tenantId: string, nodeGroup: string): Promise<XdpPolicySpec | null> {
  const [state] = await listXdpGroupStates(db, tenantId, nodeGroup);
  if (!state) return null;
  return (await findXdpPolicyVersion(db, tenantId, state.desiredPolicyId))?.spec ?? null;
}

export function createPlaybookActivities(deps: PlaybookActivityDeps): PlaybookActivities {
  const programs = deps.programs ?? catalogProgramResolver(deps.db);
  return {
    async ensurePlaybookRun(input: EnsurePlaybookRunInput): Promise<void> {
      await ensurePlaybookRunRow(deps.db, {
        id: input.runId,
        tenantId: input.tenantId,
        playbookId: input.playbookId,
        workflowId: input.workflowId,
        target: input.target,
        params: input.params,
        triggerType: input.trigger.type,
        triggerId: input.trigger.type === 'auto' ? input.trigger.triggerId : null,
        startedById: input.actor.id,
        startedByName: input.actor.name,
      });
    },

    applyPlaybookGraphChange(input: ApplyGraphChangeInput): Promise<ApplyGraphChangeResult> {
      return domain(() =>
        inTransaction(deps.db, async (tx) => {
          // Lock order audit chain → tenant row, as the rollout activities (see there).
          await lockAuditChain(tx, input.tenantId);
          if ((await lockTenantForPublish(tx, input.tenantId)) === null) throw rejected(`tenant ${input.tenantId} not found`);
          const done = await findPlaybookChange(tx, input.tenantId, input.runId, input.key);
          if (done) return done.result as ApplyGraphChangeResult;
          const live = await findLiveRevision(tx, input.tenantId);
          if (!live) throw rejected('the tenant has no live revision');
          const { graph, before } = applyGraphChange(live.graph, input.change);
          const graphHash = contentHash(graph);
          let result: ApplyGraphChangeResult;
          if (canonicalJson(graph) === canonicalJson(live.graph)) {
            const versions = await listLatestSnapshotVersions(tx, input.tenantId);
            result = { revisionId: null, liveRevisionId: live.id, graphHash, before, targets: versions.map((v) => ({ nodeGroup: v.nodeGroup, version: v.version })) };
          } else {
            const what = input.change.kind === 'restore' ? 'compensate' : `${input.change.step.kind} ${input.change.increment}`;
            const revisionId = await insertDerivedRevision(tx, {
              tenantId: input.tenantId,
              parentId: live.id,
              graph,
              graphHash,
              createdById: `playbook:${input.runId}`,
              message: `playbook run ${input.runId} [${input.key}]: ${what}`.slice(0, 1000),
            });
            const published = await deps.publishRevision(tx, { tenantId: input.tenantId, revisionId, actor: input.actor });
            result = { revisionId, liveRevisionId: revisionId, graphHash, before, targets: published.snapshots.map((s) => ({ nodeGroup: s.nodeGroup, version: s.version })) };
          }
          await insertPlaybookChange(tx, {
            tenantId: input.tenantId,
            runId: input.runId,
            key: input.key,
            stepIndex: input.stepIndex,
            kind: 'graph',
            revisionId: result.revisionId,
            policyId: null,
            version: graphHash,
            result,
          });
          return result;
        }),
      );
    },

    applyPlaybookXdpChange(input: ApplyXdpChangeInput): Promise<ApplyXdpChangeResult> {
      return domain(() =>
        inTransaction(deps.db, async (tx) => {
          await lockAuditChain(tx, input.tenantId);
          const done = await findPlaybookChange(tx, input.tenantId, input.runId, input.key);
          if (done) return done.result as ApplyXdpChangeResult;
          const nodeGroup = input.change.kind === 'add' ? input.change.step.nodeGroup : input.change.nodeGroup;
          const current = await desiredXdpSpec(tx, input.tenantId, nodeGroup);
          let next: XdpPolicySpec;
          let before;
          if (input.change.kind === 'add') {
            before = captureXdpRules(current, input.change.step.rules.map((r) => r.name));
            next = addXdpRules(current, input.change.step);
          } else {
            if (current === null) throw rejected(`node group ${nodeGroup} has no XDP policy to restore`);
            before = captureXdpRules(current, input.change.before.names);
            next = restoreXdpRules(current, input.change.before);
          }
          const row = await createXdpPolicyAs(tx, input.tenantId, input.actor, { nodeGroup, spec: next }, programs);
          await publishXdpPolicy(tx, { tenantId: input.tenantId, nodeGroup, policyId: row.id, actor: input.actor });
          const result: ApplyXdpChangeResult = { nodeGroup, policyId: row.id, version: row.version, before };
          await insertPlaybookChange(tx, {
            tenantId: input.tenantId,
            runId: input.runId,
            key: input.key,
            stepIndex: input.stepIndex,
            kind: 'xdp',
            revisionId: null,
            policyId: row.id,
            version: row.version,
            result,
          });
          return result;
        }),
      );
    },

    async readPlaybookHealth(input: ReadClusterStatsInput) {
      const [sample, ejections] = await Promise.all([
        deps.metrics.readClusterStats(input),
        deps.metrics.readOutlierEjections ? deps.metrics.readOutlierEjections(input) : Promise.resolve({}),
      ]);
      return { ...sample, ejections: { clusters: ejections } };
    },

    async recordPlaybookEvent(input: RecordPlaybookEventInput): Promise<void> {
      await inTransaction(deps.db, async (tx) => {
        const inserted = await insertPlaybookRunEvent(tx, {
          tenantId: input.tenantId,
          runId: input.runId,
          seq: input.seq,
          action: input.action,
          stepIndex: input.stepIndex,
          phase: input.status.phase,
          actor: input.actor,
          detail: input.detail ?? {},
        });
        if (!inserted) return; // recorded by an earlier attempt
        await updatePlaybookRunStatus(tx, input.tenantId, input.runId, input.status);
        if (input.approval) await insertPlaybookApproval(tx, { tenantId: input.tenantId, runId: input.runId, ...input.approval });
        await deps.appendAudit(tx, {
          tenantId: input.tenantId,
          actor: input.actor,
          action: input.action,
          target: { type: 'playbook_run', id: input.runId },
          details: { seq: input.seq, stepIndex: input.stepIndex, phase: input.status.phase, target: input.status.target, ...(input.detail ?? {}) },
        });
      });
    },

    async recordTriggerEvent(input) {
      await inTransaction(deps.db, async (tx) => {
        if (input.fired) await markPlaybookTriggerFired(tx, input.tenantId, input.triggerId);
        await deps.appendAudit(tx, {
          tenantId: input.tenantId,
          actor: { type: 'system', id: `playbook-trigger:${input.triggerId}`, name: 'playbook trigger' },
          action: input.action,
          target: { type: 'playbook_trigger', id: input.triggerId },
          details: input.detail,
        });
      });
    },
  };
}
