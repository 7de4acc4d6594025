/**
 * Runs a failover / traffic-steering playbook (contracts/playbook.schema.ts) against a target:
 *   graph steps (shiftWeight in N increments, shiftPriority, drain, outlier detection, health check, local
 *       rate limit) → applyPlaybookGraphChange derives a revision from the live graph (core/playbook) and
 *       publishes it; the step counts only once awaitProxyAck saw every proxy of every node group ACK it;
 *   pushXdpRules → applyPlaybookXdpChange stores the group's next XDP policy version and makes it desired;
 *       counts once awaitAgentAck saw every connected agent apply it;
 *   wait (duration, or until a health condition holds, with timeout), verify (Envoy stats thresholds),
 *   approval (role, separation of duties, timeout), notify (webhooks).
 * A failed verification (or a wait that timed out) compensates every applied step in reverse order, or
 * pauses for a human (resume carries on, abort compensates), as the playbook says. A rejection, an approval
 * timeout, a NACK, an ACK timeout or an abort compensate. L7 and XDP changes are compensated together.
 * Workflow id playbook:<tenant>:<target>: Temporal refuses a second run for the target while one is active.
 * Every transition is recorded (PostgreSQL + audit) with an idempotency key (run, seq); every change has an
 * idempotency key (run, `s<step>.<increment>` / `c<step>`), so a retried activity never applies it twice.
 *
 * Deterministic code only; contracts are imported as types, the math from core/.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  AppliedChange,
  FailoverPlaybookInput,
  GraphStep,
  HealthCondition,
  PlaybookActivities,
  PlaybookFailure,
  PlaybookMessageArgs,
  PlaybookRunState,
  PlaybookStatus,
  PlaybookStep,
  PlaybookTriggerInput,
  PushXdpRulesStep,
  TouchedObjects,
} from '../contracts/playbook.schema';
import type { ApprovalRecord, ApprovalStep, ClusterStatsSample } from '../contracts/rollout.schema';
import type { Actor, PublishActivities } from '../contracts/workflows.schema';
import type { XdpActivities } from '../contracts/xdp.schema';
import type { NotifyActivities } from '../contracts/notify.schema';
import { evaluateHealth, type HealthMeasurement } from '../core/playbook/health';
import { initialPlaybookState, playbookStatus } from '../core/playbook/status';
import { diffSamples } from '../core/rollout/analysis';
import { approvalRefusal } from '../core/rollout/status';
import { roleRank } from '../core/rollout/validate';
import { errorText } from './activity-failure';

export const playbookStatusQuery = defineQuery<PlaybookStatus>('playbookStatus');
export const approvePlaybookStepUpdate = defineUpdate<PlaybookStatus, [PlaybookMessageArgs]>('approvePlaybookStep');
export const rejectPlaybookStepUpdate = defineUpdate<PlaybookStatus, [PlaybookMessageArgs]>('rejectPlaybookStep');
export const resumePlaybookUpdate = defineUpdate<PlaybookStatus, [PlaybookMessageArgs]>('resumePlaybook');
export const abortPlaybookUpdate = defineUpdate<PlaybookStatus, [PlaybookMessageArgs]>('abortPlaybook');

const CONTROLLER: Actor = { type: 'system', id: 'playbook-controller', name: 'playbook controller' };
const REFUSED = 'PlaybookRequestRefused';
// Same strings as PublishFailureType (values cannot be imported: the bundle stays zod-free).
const NACK = 'ProxyNack';
const XDP_REJECTED = 'XdpAgentRejected';

type StepResult = 'next' | 'end';

function refuse(message: string): never {
  throw ApplicationFailure.create({ type: REFUSED, message, nonRetryable: true });
}

function stepIncrements(step: GraphStep): number {
  return step.kind === 'shiftWeight' ? step.increments : 1;
}

export async function failoverPlaybookWorkflow(input: FailoverPlaybookInput): Promise<PlaybookStatus> {
  const spec = input.spec;
  const state: PlaybookRunState = initialPlaybookState(Date.now());
  const ids = { runId: input.runId, tenantId: input.tenantId, target: input.target };
  const status = () => playbookStatus(ids, spec, state, Date.now());
  const retry = { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 10 } as const;

  const { ensurePlaybookRun, applyPlaybookGraphChange, applyPlaybookXdpChange } = proxyActivities<PlaybookActivities>({ startToCloseTimeout: '2 minutes', retry });
  const { readPlaybookHealth, recordPlaybookEvent } = proxyActivities<PlaybookActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { ...retry, maximumAttempts: 20 },
  });
  const { awaitProxyAck } = proxyActivities<PublishActivities>({
    startToCloseTimeout: spec.ackTimeoutMs + 60_000,
    heartbeatTimeout: '20 seconds',
    retry: { ...retry, maximumAttempts: 5 },
  });
  const { awaitAgentAck } = proxyActivities<XdpActivities>({
    startToCloseTimeout: spec.ackTimeoutMs + 60_000,
    heartbeatTimeout: '20 seconds',
    retry: { ...retry, maximumAttempts: 5 },
  });
  const { notify } = proxyActivities<NotifyActivities>({ startToCloseTimeout: '30 seconds', retry: { ...retry, maximumAttempts: 5 } });

  const record = async (action: string, actor: Actor, detail?: Record<string, unknown>, approval?: ApprovalRecord) => {
    state.seq += 1;
    await recordPlaybookEvent({
      tenantId: input.tenantId,
      runId: input.runId,
      seq: state.seq,
      action,
      actor,
      stepIndex: Math.min(state.stepIndex, spec.steps.length),
      status: status(),
      ...(detail ? { detail } : {}),
      ...(approval ? { approval } : {}),
    });
  };

  const finished = () => state.outcome !== null || state.compensating;
  const interrupted = () => state.abort !== null || state.failure !== null;
  const currentStep = (): PlaybookStep | undefined => spec.steps[state.stepIndex];

  // ---- messages ------------------------------------------------------------------------------------------
  setHandler(playbookStatusQuery, status);

  const approvalOpts = () => {
    const step = currentStep();
    const asApproval: ApprovalStep | undefined =
      step?.kind === 'approval'
        ? { kind: 'approval', requiredRole: step.requiredRole, approvers: step.approvers, separationOfDuties: step.separationOfDuties, timeoutMs: step.timeoutMs, onTimeout: 'abort' }
        : undefined;
    return {
      step: asApproval,
      waiting: state.pause?.reason === 'AwaitingApproval' && !finished() && !interrupted(),
      requiredRole: step?.kind === 'approval' ? step.requiredRole : 'admin',
      authors: input.authors,
      approvals: state.approvals.filter((a) => a.stepIndex === state.stepIndex),
    };
  };
  const decision = (kind: 'approve' | 'reject') => ({
    validator: (args: PlaybookMessageArgs) => {
      const why = approvalRefusal(approvalOpts(), args.principal);
      if (why !== null) refuse(why.replace('the rollout', 'the playbook run').replace('the author of the change', 'whoever started the run'));
    },
    handler: async (args: PlaybookMessageArgs) => {
      const rec: ApprovalRecord = {
        stepIndex: state.stepIndex,
        decision: kind,
        principalId: args.principal.id,
        name: args.principal.name,
        role: args.principal.role,
        ...(args.comment ? { comment: args.comment } : {}),
        at: new Date().toISOString(),
      };
      state.approvals.push(rec);
      if (kind === 'reject') {
        state.failure ??= { reason: 'rejected', message: `rejected by ${args.principal.name}${args.comment ? `: ${args.comment}` : ''}`, stepIndex: state.stepIndex };
      }
      await record(kind === 'approve' ? 'playbook.approval.granted' : 'playbook.approval.rejected', args.principal.actor, { comment: args.comment ?? null }, rec);
      return status();
    },
  });
  setHandler(approvePlaybookStepUpdate, decision('approve').handler, { validator: decision('approve').validator });
  setHandler(rejectPlaybookStepUpdate, decision('reject').handler, { validator: decision('reject').validator });
  setHandler(
    resumePlaybookUpdate,
    async (args) => {
      state.resumeRequested = true;
      await record('playbook.resumed', args.principal.actor, { was: state.pause?.reason ?? null, reason: args.comment ?? null });
      return status();
    },
    {
      validator: (args) => {
        if (roleRank(args.principal.role) < roleRank('operator')) refuse(`role ${args.principal.role} cannot resume a playbook run: it needs operator or above`);
        if (finished()) refuse(`the playbook run is ${status().phase}`);
        if (state.pause?.reason !== 'VerifyFailed') refuse('the playbook run is not paused after a failed verification');
      },
    },
  );
  setHandler(
    abortPlaybookUpdate,
    async (args) => {
      const reason = `aborted by ${args.principal.name}${args.comment ? `: ${args.comment}` : ''}`;
      state.abort = { by: args.principal.id, reason };
      state.failure ??= { reason: 'aborted', message: reason, stepIndex: state.stepIndex };
      await record('playbook.abort.requested', args.principal.actor, { reason: args.comment ?? null });
      return status();
    },
    {
      validator: (args) => {
        if (roleRank(args.principal.role) < roleRank('operator')) refuse(`role ${args.principal.role} cannot abort a playbook run: it needs operator or above`);
        if (finished()) refuse(`the playbook run is ${status().phase}`);
      },
    },
  );

  // ---- changes and their ACKs ----------------------------------------------------------------------------

  const fail = (failure: PlaybookFailure): StepResult => {
    state.failure ??= failure;
    return 'end';
  };

  const failureOf = (err: unknown): PlaybookFailure => {
    const cause = err instanceof ActivityFailure ? err.cause : err;
    const type = cause instanceof ApplicationFailure ? cause.type : undefined;
    return { reason: type === NACK || type === XDP_REJECTED ? 'nack' : 'error', message: errorText(err), stepIndex: state.stepIndex };
  };

  /** Applies one graph change and waits until every proxy ACKed it; null when ACKed, else the failure. */
  const applyGraph = async (key: string, change: Parameters<typeof applyPlaybookGraphChange>[0]['change']) => {
    const r = await applyPlaybookGraphChange({ tenantId: input.tenantId, runId: input.runId, key, stepIndex: state.stepIndex, change, actor: input.actor });
    if (r.revisionId) state.revisions.push(r.revisionId);
    const acks = await Promise.all(
      r.targets.map((t) =>
        awaitProxyAck({ tenantId: input.tenantId, revisionId: r.revisionId ?? r.liveRevisionId, actor: input.actor, nodeGroup: t.nodeGroup, version: t.version, timeoutMs: spec.ackTimeoutMs }),
      ),
    );
    const late = acks.find((a) => a.outcome === 'timedOut');
    return { result: r, late: late ? `node group ${late.nodeGroup}: ${late.pending.length} proxies did not ACK ${late.version} within ${spec.ackTimeoutMs} ms` : null, proxies: acks.reduce((n, a) => n + a.acked.length, 0) };
  };

  const applyXdp = async (key: string, change: Parameters<typeof applyPlaybookXdpChange>[0]['change']) => {
    const r = await applyPlaybookXdpChange({ tenantId: input.tenantId, runId: input.runId, key, stepIndex: state.stepIndex, change, actor: input.actor });
    state.xdpVersions.push({ nodeGroup: r.nodeGroup, version: r.version, policyId: r.policyId });
    const ack = await awaitAgentAck({ tenantId: input.tenantId, nodeGroup: r.nodeGroup, version: r.version, timeoutMs: spec.ackTimeoutMs });
    return { result: r, ack, late: ack.outcome === 'timedOut' ? `node group ${r.nodeGroup}: ${ack.pending.length} agents did not apply ${r.version} within ${spec.ackTimeoutMs} ms` : null };
  };

  const runGraphStep = async (step: GraphStep): Promise<StepResult> => {
    const n = stepIncrements(step);
    for (let k = state.increment + 1; k <= n; k++) {
      const applied = state.applied.find((a) => a.stepIndex === state.stepIndex && a.kind === 'graph');
      const before: TouchedObjects | undefined = applied?.kind === 'graph' ? applied.before : undefined;
      const key = `s${state.stepIndex}.${k}`;
      const { result, late, proxies } = await applyGraph(key, { kind: 'step', step, increment: k, ...(before ? { before } : {}) });
      if (!applied) state.applied.push({ stepIndex: state.stepIndex, kind: 'graph', compensation: step.compensation, before: result.before });
      if (late) return fail({ reason: 'ackTimeout', message: late, stepIndex: state.stepIndex });
      state.increment = k;
      await record('playbook.change.acked', CONTROLLER, { key, increment: k, increments: n, revisionId: result.revisionId, graphHash: result.graphHash, targets: result.targets, proxies });
      if (step.kind === 'shiftWeight' && step.bakeMs > 0 && (await condition(interrupted, step.bakeMs))) return 'end';
      if (interrupted()) return 'end';
    }
    return 'next';
  };

  const runXdpStep = async (step: PushXdpRulesStep): Promise<StepResult> => {
    const key = `s${state.stepIndex}.1`;
    const { result, ack, late } = await applyXdp(key, { kind: 'add', step });
    if (!state.applied.some((a) => a.stepIndex === state.stepIndex)) {
      state.applied.push({ stepIndex: state.stepIndex, kind: 'xdp', compensation: step.compensation, nodeGroup: step.nodeGroup, before: result.before });
    }
    if (late) return fail({ reason: 'ackTimeout', message: late, stepIndex: state.stepIndex });
    await record('playbook.xdp.acked', CONTROLLER, { key, nodeGroup: result.nodeGroup, policyId: result.policyId, version: result.version, outcome: ack.outcome, agents: ack.acked.length });
    return 'next';
  };

  // ---- health --------------------------------------------------------------------------------------------

  const sample = (c: HealthCondition) => readPlaybookHealth({ tenantId: input.tenantId, nodeGroups: c.nodeGroups, clusters: c.clusters });
  /** One measurement window; null when interrupted meanwhile. */
  const measure = async (c: HealthCondition, base?: ClusterStatsSample): Promise<{ m: HealthMeasurement; after: ClusterStatsSample } | null> => {
    const before = base ?? (await sample(c));
    if (await condition(interrupted, c.windowMs)) return null;
    const after = await sample(c);
    return { m: evaluateHealth(c, diffSamples(after, before), after.ejections.clusters), after };
  };

  const afterVerifyFailure = async (failure: PlaybookFailure): Promise<StepResult> => {
    if (spec.onVerifyFailure === 'compensate') return fail(failure);
    state.pause = { reason: 'VerifyFailed', message: failure.message };
    await record('playbook.paused', CONTROLLER, { reason: failure.reason, message: failure.message });
    await condition(() => state.resumeRequested || interrupted());
    state.pause = null;
    state.resumeRequested = false;
    return interrupted() ? 'end' : 'next';
  };

  const runWait = async (step: Extract<PlaybookStep, { kind: 'wait' }>): Promise<StepResult> => {
    if (step.until === undefined) {
      return (await condition(interrupted, step.durationMs ?? step.timeoutMs)) ? 'end' : 'next';
    }
    const deadline = Date.now() + step.timeoutMs;
    let base: ClusterStatsSample | undefined;
    for (let run = 1; ; run++) {
      const w = await measure(step.until, base);
      if (!w) return 'end';
      base = w.after;
      await record('playbook.health.measured', CONTROLLER, { run, verdict: w.m.verdict, successRate: w.m.successRate, requests: w.m.requests, latencyP99Ms: w.m.latencyP99Ms, ejectionsActive: w.m.ejectionsActive, reasons: w.m.reasons });
      if (w.m.verdict === 'holds') return 'next';
      if (Date.now() >= deadline) {
        return afterVerifyFailure({ reason: 'waitTimeout', message: `the health condition did not hold within ${step.timeoutMs} ms: ${w.m.reasons.join('; ')}`, stepIndex: state.stepIndex });
      }
    }
  };

  const runVerify = async (step: Extract<PlaybookStep, { kind: 'verify' }>): Promise<StepResult> => {
    let last: HealthMeasurement | null = null;
    for (let run = 1; run <= step.attempts; run++) {
      const w = await measure(step.condition);
      if (!w) return 'end';
      last = w.m;
      await record(`playbook.verify.${w.m.verdict === 'holds' ? 'passed' : w.m.verdict === 'fails' ? 'failed' : 'inconclusive'}`, CONTROLLER, {
        run,
        successRate: w.m.successRate,
        requests: w.m.requests,
        latencyP99Ms: w.m.latencyP99Ms,
        ejectionsActive: w.m.ejectionsActive,
        reasons: w.m.reasons,
      });
      if (w.m.verdict === 'holds') return 'next';
      if (w.m.verdict === 'fails') break;
    }
    return afterVerifyFailure({ reason: 'verify', message: `verification failed: ${last?.reasons.join('; ') ?? 'no measurement'}`, stepIndex: state.stepIndex });
  };

  const runApproval = async (step: Extract<PlaybookStep, { kind: 'approval' }>): Promise<StepResult> => {
    state.pause = { reason: 'AwaitingApproval' };
    await record('playbook.approval.requested', CONTROLLER, { requiredRole: step.requiredRole, approvers: step.approvers, timeoutMs: step.timeoutMs });
    const approved = () => state.approvals.filter((a) => a.stepIndex === state.stepIndex && a.decision === 'approve').length;
    const ok = await condition(() => approved() >= step.approvers || interrupted(), step.timeoutMs);
    await condition(allHandlersFinished);
    state.pause = null;
    if (!ok) {
      await record('playbook.approval.timed_out', CONTROLLER, { approvals: approved(), needed: step.approvers });
      return fail({ reason: 'approvalTimeout', message: `no approval within ${step.timeoutMs} ms`, stepIndex: state.stepIndex });
    }
    return interrupted() ? 'end' : 'next';
  };

  const runNotify = async (step: Extract<PlaybookStep, { kind: 'notify' }>): Promise<StepResult> => {
    const r = await notify({
      tenantId: input.tenantId,
      kind: 'playbook.step.notify',
      severity: step.severity,
      subject: step.subject,
      details: { runId: input.runId, playbook: input.playbook.name, version: input.playbook.version, target: input.target, stepIndex: state.stepIndex },
      dedupeKey: `playbook:${input.runId}:s${state.stepIndex}`,
    });
    await record('playbook.notified', CONTROLLER, { delivered: r.delivered, skipped: r.skipped });
    return 'next';
  };

  const runStep = async (step: PlaybookStep): Promise<StepResult> => {
    switch (step.kind) {
      case 'pushXdpRules':
        return runXdpStep(step);
      case 'wait':
        return runWait(step);
      case 'verify':
        return runVerify(step);
      case 'approval':
        return runApproval(step);
      case 'notify':
        return runNotify(step);
      default:
        return runGraphStep(step);
    }
  };

  // ---- main ----------------------------------------------------------------------------------------------
  await ensurePlaybookRun({
    tenantId: input.tenantId,
    runId: input.runId,
    workflowId: workflowInfo().workflowId,
    playbookId: input.playbook.id,
    target: input.target,
    params: input.params,
    actor: input.actor,
    trigger: input.trigger,
  });
  await record('playbook.started', input.actor, { playbook: input.playbook, target: input.target, params: input.params, trigger: input.trigger, steps: spec.steps.map((s) => s.kind) });

  while (state.stepIndex < spec.steps.length && !interrupted()) {
    const step = spec.steps[state.stepIndex]!;
    await record('playbook.step.started', CONTROLLER, { kind: step.kind });
    let result: StepResult;
    try {
      result = await runStep(step);
    } catch (err) {
      result = fail(failureOf(err));
    }
    if (result === 'end') break;
    await record('playbook.step.completed', CONTROLLER, { kind: step.kind });
    state.stepIndex += 1;
    state.increment = 0;
  }

  if (state.failure === null && state.abort === null) {
    state.outcome = 'Completed';
    state.finishedAtMs = Date.now();
    await record('playbook.completed', CONTROLLER, { revisions: state.revisions, xdpVersions: state.xdpVersions, elapsedMs: state.finishedAtMs - state.startedAtMs, timeBudgetMs: spec.timeBudgetMs });
    await condition(allHandlersFinished);
    return status();
  }

  // Compensate every applied change in reverse order: L7 and XDP together.
  const failure = state.failure ?? { reason: 'aborted', message: state.abort?.reason ?? 'aborted', stepIndex: state.stepIndex };
  state.failure = failure;
  state.compensating = true;
  state.pause = null;
  await record('playbook.compensation.started', CONTROLLER, { failure, changes: state.applied.map((a) => ({ stepIndex: a.stepIndex, kind: a.kind, compensation: a.compensation })) });
  const errors: string[] = [];
  for (const a of [...state.applied].reverse() as AppliedChange[]) {
    if (a.compensation === 'none') continue;
    const key = `c${a.stepIndex}`;
    try {
      if (a.kind === 'graph') {
        const { result, late } = await applyGraph(key, { kind: 'restore', before: a.before });
        if (late) errors.push(late);
        await record('playbook.compensation.acked', CONTROLLER, { key, stepIndex: a.stepIndex, kind: 'graph', revisionId: result.revisionId, graphHash: result.graphHash });
      } else {
        const { result, late } = await applyXdp(key, { kind: 'restore', nodeGroup: a.nodeGroup, before: a.before });
        if (late) errors.push(late);
        await record('playbook.compensation.acked', CONTROLLER, { key, stepIndex: a.stepIndex, kind: 'xdp', nodeGroup: result.nodeGroup, version: result.version });
      }
    } catch (err) {
      errors.push(`step ${a.stepIndex}: ${errorText(err)}`);
    }
  }
  state.compensating = false;
  state.outcome = errors.length === 0 ? 'Compensated' : 'Failed';
  state.finishedAtMs = Date.now();
  await record(errors.length === 0 ? 'playbook.compensated' : 'playbook.failed', CONTROLLER, { failure, errors });
  try {
    await notify({
      tenantId: input.tenantId,
      kind: errors.length === 0 ? 'playbook.compensated' : 'playbook.failed',
      severity: 'critical',
      subject: `playbook ${input.playbook.name} on ${input.target}: ${failure.message}`.slice(0, 500),
      details: { runId: input.runId, failure, errors },
      dedupeKey: `playbook:${input.runId}:end`,
    });
  } catch {
    // A webhook that keeps failing must not change the run's outcome (the delivery is recorded as failed).
  }
  await condition(allHandlersFinished);
  return status();
}

// ---- automatic trigger -----------------------------------------------------------------------------------

const TRIGGER_ITERATIONS_PER_RUN = 500;

/**
 * Watches a health condition (Envoy stats, sampled every intervalMs) and starts the playbook when it holds
 * over a whole window, at most once per cooldown. The run's workflow id is the target's: while a run is
 * active for the target, Temporal refuses another (recorded as skipped). Runs until cancelled.
 */
export async function playbookTriggerWorkflow(input: PlaybookTriggerInput): Promise<void> {
  const { readPlaybookHealth, recordTriggerEvent } = proxyActivities<PlaybookActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 20 },
  });
  let lastFiredAtMs = input.lastFiredAtMs ?? null;
  let skippedAtMs: number | null = null;
  const samples: { at: number; s: ClusterStatsSample }[] = [];
  const c = input.condition;
  for (let i = 0; i < TRIGGER_ITERATIONS_PER_RUN; i++) {
    const s = await readPlaybookHealth({ tenantId: input.tenantId, nodeGroups: c.nodeGroups, clusters: c.clusters });
    const now = Date.now();
    samples.push({ at: now, s });
    // Keep the newest sample at least one window old as the base, and nothing older.
    while (samples.length > 2 && samples[1]!.at <= now - c.windowMs) samples.shift();
    const base = samples[0]!;
    if (base.at <= now - c.windowMs) {
      const m = evaluateHealth(c, diffSamples(s, base.s), s.ejections.clusters);
      const cooling = lastFiredAtMs !== null && now - lastFiredAtMs < input.cooldownMs;
      if (m.verdict === 'holds' && !cooling) {
        const runId = uuid4();
        const reason = `condition held over ${c.windowMs} ms: success rate ${m.successRate?.toFixed(4) ?? 'n/a'} over ${m.requests} requests, ${m.ejectionsActive} ejected`;
        try {
          await startChild(failoverPlaybookWorkflow, {
            workflowId: `playbook:${input.tenantId}:${input.target}`,
            parentClosePolicy: ParentClosePolicy.ABANDON,
            args: [
              {
                tenantId: input.tenantId,
                runId,
                playbook: input.playbook,
                spec: input.spec,
                target: input.target,
                params: input.params,
                actor: input.actor,
                authors: input.authors,
                trigger: { type: 'auto', triggerId: input.triggerId, reason },
              },
            ],
          });
          lastFiredAtMs = now;
          await recordTriggerEvent({ tenantId: input.tenantId, triggerId: input.triggerId, action: 'playbook.trigger.fired', detail: { runId, reason, measurement: m }, fired: true });
        } catch (err) {
          if (!(err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError')) throw err;
          if (skippedAtMs === null || now - skippedAtMs >= input.cooldownMs) {
            skippedAtMs = now;
            await recordTriggerEvent({ tenantId: input.tenantId, triggerId: input.triggerId, action: 'playbook.trigger.skipped', detail: { reason: `a run for ${input.target} is already active` }, fired: false });
          }
        }
      }
    }
    await sleep(input.intervalMs);
  }
  await continueAsNew<typeof playbookTriggerWorkflow>({ ...input, lastFiredAtMs });
}
