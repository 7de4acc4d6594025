/**
 * A canary rollout of one route, step by step (steps are data: contracts/rollout.schema.ts):
 *   setWeight / setHeaderRoute / mirror → derive + publish a revision changing only the route, wait until every
 *       proxy of the node groups serving it ACKed it (and its config dump shows the weights); bake;
 *   pause → for a duration or until resumed;
 *   analysis → measurement windows over Envoy's own stats (canary vs stable, thresholds); a failure rolls
 *       back, too many inconclusive windows pause for a human;
 *   approval → blocks until enough distinct, allowed people approve (Temporal updates with validators), a
 *       rejection or the timeout (abort, or escalate to a higher role first).
 * Then promote (canary 100 %, the only cluster of the route) or roll back (the route as it was at the start),
 * recording why. Controls: pause, resume, abort, promote now, retry (updates); rolloutStatusQuery.
 * Every transition is recorded (PostgreSQL + audit) by recordRolloutEvent with an idempotency key (seq).
 * State is plain JSON and moves to a new run with continue-as-new every `stepsPerRun` steps.
 *
 * Deterministic code only; contracts are imported as types, the stepper and analysis math from core/.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  Actor,
} from '../contracts/workflows.schema';
import type {
  AnalysisMeasurement,
  AnalysisStep,
  ApprovalRecord,
  ApprovalStep,
  CanaryPromotionInput,
  ClusterStatsSample,
  RolloutActivities,
  RolloutFailure,
  RolloutMessageArgs,
  RolloutStatus,
  RecordRolloutEventInput,
  RolloutStep,
  RolloutWorkflowState,
  TrafficChange,
} from '../contracts/rollout.schema';
import { analysisOutcome, diffSamples, evaluateAnalysisWindow } from '../core/rollout/analysis';
import { approvalRefusal, initialRolloutState, rolloutStatus, trafficOfStep } from '../core/rollout/status';
import { roleRank } from '../core/rollout/validate';

export const rolloutStatusQuery = defineQuery<RolloutStatus>('rolloutStatus');
export const approveStepUpdate = defineUpdate<RolloutStatus, [RolloutMessageArgs]>('approveStep');
export const rejectStepUpdate = defineUpdate<RolloutStatus, [RolloutMessageArgs]>('rejectStep');
export const pauseRolloutUpdate = defineUpdate<RolloutStatus, [RolloutMessageArgs]>('pauseRollout');
export const resumeRolloutUpdate = defineUpdate<RolloutStatus, [RolloutMessageArgs]>('resumeRollout');
export const abortRolloutUpdate = defineUpdate<RolloutStatus, [RolloutMessageArgs]>('abortRollout');
export const promoteRolloutUpdate = defineUpdate<RolloutStatus, [RolloutMessageArgs]>('promoteRollout');
export const retryRolloutUpdate = defineUpdate<RolloutStatus, [RolloutMessageArgs]>('retryRollout');

const CONTROLLER: Actor = { type: 'system', id: 'rollout-controller', name: 'rollout controller' };
const REFUSED = 'RolloutRequestRefused';
const DEFAULT_STEPS_PER_RUN = 25;
const KEEP_ANALYSES = 50;
/**
 * Runs that start with this patch record their transitions in batches — written by the next traffic step's
 * activity, or by recordRolloutEvents before the workflow waits (a timer, a condition, a control message's
 * answer, the end) — and carry out a traffic step (publish, ACK, config dump) in one activity
 * (serveRolloutTraffic). Histories recorded before it replay the one-activity-per-transition path.
 */
const BATCHED_STEPS_PATCH = 'rollout-batched-steps';
/**
 * Runs that start with this patch (batched ones) write their last transitions (the rollout has ended:
 * promoted, failed or aborted) with a local activity: no activity task for the server to schedule, dispatch
 * and complete, and no workflow task after it — a marker in the task that ended the rollout. The write is
 * idempotent (once per rollout and seq; a rollout's row never goes back to an older status), so a worker
 * that dies before the task completes and a new worker that runs it again change nothing. Writes before a
 * wait stay regular activities: a human acts on what they show (approve, resume), and the workflow must
 * already be in that state when the row shows it, even if the worker dies right after the write.
 * Histories recorded before it replay the regular activity.
 */
const LOCAL_FLUSH_PATCH = 'rollout-local-final-flush';

type StepResult = 'next' | 'retry' | 'end';

function refuse(message: string): never {
  throw ApplicationFailure.create({ type: REFUSED, message, nonRetryable: true });
}

export async function canaryPromotionWorkflow(input: CanaryPromotionInput): Promise<RolloutStatus> {
  const spec = input.spec;
  const state: RolloutWorkflowState = input.state ?? initialRolloutState(spec);
  const ids = { rolloutId: input.rolloutId, tenantId: input.tenantId };
  const status = () => rolloutStatus(ids, spec, state);
  const stepsPerRun = input.stepsPerRun ?? DEFAULT_STEPS_PER_RUN;

  const { applyRolloutTraffic } = proxyActivities<RolloutActivities>({
    startToCloseTimeout: '2 minutes',
    retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 10 },
  });
  const { awaitRolloutServing } = proxyActivities<RolloutActivities>({
    startToCloseTimeout: spec.ackTimeoutMs + 60_000,
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds', maximumAttempts: 5 },
  });
  const { readClusterStats, recordRolloutEvent, recordRolloutEvents } = proxyActivities<RolloutActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 20 },
  });
  const { serveRolloutTraffic } = proxyActivities<RolloutActivities>({
    // Publishing (group-committed with other rollouts' steps) plus the wait for the proxies.
    startToCloseTimeout: spec.ackTimeoutMs + 180_000,
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 10 },
  });

  const { recordRolloutEvents: recordRolloutEventsLocally } = proxyLocalActivities<RolloutActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 20 },
  });

  const batched = patched(BATCHED_STEPS_PATCH);
  const writeLocally = batched && patched(LOCAL_FLUSH_PATCH);
  /** Transitions recorded but not written yet (batched runs only). */
  const unwritten: RecordRolloutEventInput[] = [];

  const record = async (action: string, actor: Actor, detail?: Record<string, unknown>, approval?: ApprovalRecord, at?: string) => {
    state.seq += 1;
    const event: RecordRolloutEventInput = {
      tenantId: input.tenantId,
      rolloutId: input.rolloutId,
      seq: state.seq,
      action,
      actor,
      stepIndex: Math.min(state.stepIndex, spec.steps.length),
      status: status(),
      ...(detail ? { detail } : {}),
      ...(approval ? { approval } : {}),
    };
    if (!batched) {
      await recordRolloutEvent(event);
      return;
    }
    // Workflow time: when the workflow task that made this transition started.
    unwritten.push({ ...event, at: at ?? new Date().toISOString() });
  };
  /** Writes the transitions recorded so far (before anything the workflow may wait on). */
  const flush = async (): Promise<void> => {
    if (unwritten.length === 0) return;
    await (writeLocally && state.outcome !== null ? recordRolloutEventsLocally : recordRolloutEvents)(unwritten.splice(0));
  };
  /**
   * condition(), with the transitions so far written first (a batched run may wait long). Unbatched runs get
   * condition()'s own promise, so replayed histories see the same sequence as before.
   */
  function waitFor(fn: () => boolean): Promise<void>;
  function waitFor(fn: () => boolean, timeoutMs: number): Promise<boolean>;
  function waitFor(fn: () => boolean, timeoutMs?: number): Promise<boolean | void> {
    const wait = (): Promise<boolean | void> => (timeoutMs === undefined ? condition(fn) : condition(fn, timeoutMs));
    return batched ? flush().then(wait) : wait();
  }
  /** record() whose write is done before it returns (what a control message answers after). */
  const recordNow: typeof record = batched
    ? async (...args) => {
        await record(...args);
        await flush();
      }
    : record;

  const finished = () => state.outcome !== null || state.ending !== null;
  const interrupted = () => state.abort !== null || state.promoteNow !== null;
  const currentStep = (): RolloutStep | undefined => spec.steps[state.stepIndex];
  const requireRole = (args: RolloutMessageArgs, role: string, what: string) => {
    if (roleRank(args.principal.role) < roleRank(role)) refuse(`role ${args.principal.role} cannot ${what}: it needs ${role} or above`);
  };
  const requireRunning = () => {
    if (finished()) refuse(`the rollout is ${status().phase}`);
    if (interrupted()) refuse('the rollout is already being ended (abort or promote requested)');
  };
  const approvalOpts = () => {
    const step = currentStep();
    return {
      step,
      waiting: state.pause?.reason === 'AwaitingApproval' && !finished() && !interrupted(),
      requiredRole: state.approvalRole ?? (step?.kind === 'approval' ? step.requiredRole : 'admin'),
      authors: input.authors,
      approvals: state.approvals.filter((a) => a.stepIndex === state.stepIndex),
    };
  };

  // ---- messages ------------------------------------------------------------------------------------------
  setHandler(rolloutStatusQuery, status);

  const decision = (kind: 'approve' | 'reject') => ({
    validator: (args: RolloutMessageArgs) => {
      const why = approvalRefusal(approvalOpts(), args.principal);
      if (why !== null) refuse(why);
    },
    handler: async (args: RolloutMessageArgs) => {
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
        state.failure = { reason: 'rejected', message: `rejected by ${args.principal.name}${args.comment ? `: ${args.comment}` : ''}`, stepIndex: state.stepIndex };
        state.abort = { by: args.principal.id, reason: state.failure.message };
      }
      await recordNow(kind === 'approve' ? 'rollout.approval.granted' : 'rollout.approval.rejected', args.principal.actor, { comment: args.comment ?? null }, rec);
      return status();
    },
  });
  setHandler(approveStepUpdate, decision('approve').handler, { validator: decision('approve').validator });
  setHandler(rejectStepUpdate, decision('reject').handler, { validator: decision('reject').validator });

  setHandler(
    pauseRolloutUpdate,
    async (args) => {
      state.pause = { reason: 'Manual', by: args.principal.id, ...(args.comment ? { message: args.comment } : {}) };
      await recordNow('rollout.paused', args.principal.actor, { reason: args.comment ?? null });
      return status();
    },
    {
      validator: (args) => {
        requireRole(args, 'operator', 'pause a rollout');
        requireRunning();
        if (state.pause) refuse(`the rollout is already paused (${state.pause.reason})`);
      },
    },
  );
  setHandler(
    resumeRolloutUpdate,
    async (args) => {
      const was = state.pause?.reason ?? null;
      state.pause = null;
      await recordNow('rollout.resumed', args.principal.actor, { was, reason: args.comment ?? null });
      return status();
    },
    {
      validator: (args) => {
        requireRole(args, 'operator', 'resume a rollout');
        requireRunning();
        if (!state.pause) refuse('the rollout is not paused');
        if (state.pause.reason === 'AwaitingApproval') refuse('the rollout waits for an approval: approve or reject it');
      },
    },
  );
  setHandler(
    abortRolloutUpdate,
    async (args) => {
      const reason = `aborted by ${args.principal.name}${args.comment ? `: ${args.comment}` : ''}`;
      state.abort = { by: args.principal.id, reason };
      state.failure ??= { reason: 'aborted', message: reason, stepIndex: state.stepIndex };
      await recordNow('rollout.abort.requested', args.principal.actor, { reason: args.comment ?? null });
      return status();
    },
    {
      validator: (args) => {
        requireRole(args, 'operator', 'abort a rollout');
        requireRunning();
      },
    },
  );
  setHandler(
    promoteRolloutUpdate,
    async (args) => {
      state.promoteNow = { by: args.principal.id };
      await recordNow('rollout.promote.requested', args.principal.actor, { reason: args.comment ?? null, skippedFromStep: state.stepIndex });
      return status();
    },
    {
      validator: (args) => {
        requireRole(args, 'approver', 'promote a rollout now (it skips the remaining gates)');
        requireRunning();
      },
    },
  );
  setHandler(
    retryRolloutUpdate,
    async (args) => {
      const was = state.pause?.reason ?? null;
      state.pause = null;
      state.retryRequested = true;
      await recordNow('rollout.retry', args.principal.actor, { was, step: state.stepIndex });
      return status();
    },
    {
      validator: (args) => {
        requireRole(args, 'operator', 'retry a step');
        requireRunning();
        if (state.pause?.reason !== 'AnalysisInconclusive' && state.pause?.reason !== 'AckTimeout') {
          refuse('retry applies to a step paused after an inconclusive analysis or an ACK timeout');
        }
      },
    },
  );

  // ---- steps ---------------------------------------------------------------------------------------------

  const fail = (failure: RolloutFailure): StepResult => {
    state.failure ??= failure;
    return 'end';
  };

  /** Publishes a traffic change and waits until every proxy serves it. */
  const applyAndServe = async (change: TrafficChange, actor: Actor): Promise<{ outcome: 'serving' | 'nacked' | 'timedOut'; error?: string }> => {
    const applyInput = {
      tenantId: input.tenantId,
      rolloutId: input.rolloutId,
      revisionId: input.revisionId,
      spec: { route: spec.route, stableCluster: spec.stableCluster, canaryCluster: spec.canaryCluster },
      baseRoute: input.baseRoute,
      change,
      actor,
    };
    if (batched) {
      // One activity: the transitions recorded so far, the publish, the wait for every proxy.
      const served = await serveRolloutTraffic({ ...applyInput, timeoutMs: spec.ackTimeoutMs, events: unwritten.splice(0) });
      const { applied } = served;
      if (applied.revisionId && !state.revisions.includes(applied.revisionId)) state.revisions.push(applied.revisionId);
      if (served.outcome !== 'serving') return { outcome: served.outcome, error: served.error ?? served.outcome };
      await record(
        'rollout.traffic.serving',
        actor,
        { change: change.kind, revisionId: applied.revisionId, targets: applied.targets, expected: applied.expected, proxies: served.proxies, verifiedInConfigDump: served.verified },
        undefined,
        served.servingAt,
      );
      return { outcome: 'serving' };
    }
    const applied = await applyRolloutTraffic(applyInput);
    if (applied.revisionId) state.revisions.push(applied.revisionId);
    const results = await Promise.all(
      applied.targets.map((t) =>
        awaitRolloutServing({
          tenantId: input.tenantId,
          nodeGroup: t.nodeGroup,
          version: t.version,
          route: spec.route,
          expected: applied.expected,
          timeoutMs: spec.ackTimeoutMs,
        }),
      ),
    );
    const nacked = results.find((r) => r.outcome === 'nacked');
    if (nacked) return { outcome: 'nacked', error: nacked.error ?? 'NACK' };
    const late = results.find((r) => r.outcome === 'timedOut');
    if (late) return { outcome: 'timedOut', error: late.error ?? 'timed out' };
    await record('rollout.traffic.serving', actor, {
      change: change.kind,
      revisionId: applied.revisionId,
      targets: applied.targets,
      expected: applied.expected,
      proxies: results.reduce((n, r) => n + r.proxies, 0),
      verifiedInConfigDump: results.reduce((n, r) => n + r.verified, 0),
    });
    return { outcome: 'serving' };
  };

  const waitWhilePaused = async (): Promise<void> => {
    await waitFor(() => state.pause === null || interrupted());
  };

  const runTrafficStep = async (step: RolloutStep): Promise<StepResult> => {
    const traffic = trafficOfStep(state.traffic, step);
    const served = await applyAndServe({ kind: 'set', traffic }, input.actor);
    if (served.outcome === 'nacked') {
      return fail({ reason: 'nack', message: `a proxy rejected the configuration: ${served.error}`, stepIndex: state.stepIndex });
    }
    if (served.outcome === 'timedOut') {
      state.pause = { reason: 'AckTimeout', message: served.error ?? '' };
      await record('rollout.paused', CONTROLLER, { reason: 'AckTimeout', error: served.error ?? null });
      await waitWhilePaused();
      if (interrupted()) return 'end';
      if (state.retryRequested) {
        state.retryRequested = false;
        return 'retry';
      }
      // Resumed by a human: carry on with the traffic as published.
    }
    state.traffic = traffic;
    if (step.kind === 'setWeight' && step.bakeMs > 0) {
      if (await waitFor(interrupted, step.bakeMs)) return 'end';
    }
    return 'next';
  };

  const runPause = async (step: Extract<RolloutStep, { kind: 'pause' }>): Promise<StepResult> => {
    state.pause = { reason: 'PauseStep' };
    await record('rollout.paused', CONTROLLER, { reason: 'PauseStep', durationMs: step.durationMs ?? null });
    if (step.durationMs !== undefined) await waitFor(() => state.pause === null || interrupted(), step.durationMs);
    else await waitWhilePaused();
    if (interrupted()) return 'end';
    if (state.pause?.reason === 'PauseStep') state.pause = null;
    await waitWhilePaused(); // a manual pause placed during the step
    return interrupted() ? 'end' : 'next';
  };

  const sample = (): Promise<ClusterStatsSample> =>
    readClusterStats({ tenantId: input.tenantId, nodeGroups: [], clusters: [spec.stableCluster, spec.canaryCluster] });

  const runAnalysis = async (step: AnalysisStep): Promise<StepResult> => {
    const runs: AnalysisMeasurement[] = [];
    let before = await sample();
    for (let run = 1; ; run++) {
      if (await waitFor(interrupted, step.intervalMs)) return 'end';
      const after = await sample();
      const d = diffSamples(after, before);
      before = after;
      const m = evaluateAnalysisWindow(
        step,
        { canary: d[spec.canaryCluster]!, stable: state.traffic.weight < 100 ? (d[spec.stableCluster] ?? null) : null },
        { stepIndex: state.stepIndex, run },
      );
      runs.push(m);
      state.analyses.push(m);
      if (state.analyses.length > KEEP_ANALYSES) state.analyses.splice(0, state.analyses.length - KEEP_ANALYSES);
      await record(`rollout.analysis.${m.verdict === 'pass' ? 'passed' : m.verdict === 'fail' ? 'failed' : 'inconclusive'}`, CONTROLLER, {
        run,
        canaryRequests: m.canaryRequests,
        stableRequests: m.stableRequests,
        proxies: after.proxies,
        metrics: m.metrics,
      });
      const outcome = analysisOutcome(step, runs);
      if (outcome === 'pass') return 'next';
      if (outcome === 'fail') {
        const failing = runs.flatMap((r) => r.metrics).filter((x) => x.verdict === 'fail');
        return fail({
          reason: 'analysis',
          message: `analysis failed: ${[...new Set(failing.map((x) => x.reason))].join('; ')}`,
          stepIndex: state.stepIndex,
          metrics: failing,
        });
      }
      if (outcome === 'inconclusive') {
        state.pause = { reason: 'AnalysisInconclusive', message: m.metrics.map((x) => x.reason).join('; ') };
        await record('rollout.paused', CONTROLLER, { reason: 'AnalysisInconclusive', metrics: m.metrics });
        await waitWhilePaused();
        if (interrupted()) return 'end';
        if (state.retryRequested) {
          state.retryRequested = false;
          return 'retry';
        }
        return 'next';
      }
    }
  };

  const runApproval = async (step: ApprovalStep): Promise<StepResult> => {
    state.approvalRole = step.requiredRole;
    state.pause = { reason: 'AwaitingApproval' };
    await record('rollout.approval.requested', CONTROLLER, { requiredRole: step.requiredRole, approvers: step.approvers, timeoutMs: step.timeoutMs });
    const approved = () => state.approvals.filter((a) => a.stepIndex === state.stepIndex && a.decision === 'approve').length;
    const decided = () => approved() >= step.approvers || interrupted();
    let ok = await waitFor(decided, step.timeoutMs);
    if (!ok && step.onTimeout === 'escalate' && step.escalation) {
      state.approvalRole = step.escalation.role;
      await record('rollout.approval.escalated', CONTROLLER, { role: step.escalation.role, timeoutMs: step.escalation.timeoutMs });
      ok = await waitFor(decided, step.escalation.timeoutMs);
    }
    await waitFor(allHandlersFinished);
    state.pause = null;
    state.approvalRole = null;
    if (!ok) {
      const message = `no decision within ${step.timeoutMs} ms${step.escalation && step.onTimeout === 'escalate' ? ` (+ ${step.escalation.timeoutMs} ms after escalation to ${step.escalation.role})` : ''}: aborted`;
      await record('rollout.approval.timed_out', CONTROLLER, { approvals: approved(), needed: step.approvers });
      return fail({ reason: 'approvalTimeout', message, stepIndex: state.stepIndex });
    }
    return interrupted() ? 'end' : 'next';
  };

  const runStep = async (step: RolloutStep): Promise<StepResult> => {
    switch (step.kind) {
      case 'setWeight':
      case 'setHeaderRoute':
      case 'mirror':
        return runTrafficStep(step);
      case 'pause':
        return runPause(step);
      case 'analysis':
        return runAnalysis(step);
      case 'approval':
        return runApproval(step);
    }
  };

  // ---- main loop -----------------------------------------------------------------------------------------
  if (!input.state) await record('rollout.started', input.actor, { route: spec.route, steps: spec.steps.length, stepsHash: state.stepsHash });

  let stepsThisRun = 0;
  try {
    while (state.stepIndex < spec.steps.length && !interrupted() && state.failure === null) {
      if (state.pause?.reason === 'Manual') {
        await waitWhilePaused();
        continue;
      }
      if (stepsThisRun >= stepsPerRun || workflowInfo().continueAsNewSuggested) {
        await waitFor(allHandlersFinished);
        state.runs += 1;
        return await continueAsNew<typeof canaryPromotionWorkflow>({ ...input, state });
      }
      const step = spec.steps[state.stepIndex]!;
      await record('rollout.step.started', CONTROLLER, { kind: step.kind });
      const result = await runStep(step);
      if (result === 'end') break;
      if (result === 'next') {
        await record('rollout.step.completed', CONTROLLER, { kind: step.kind, traffic: state.traffic });
        state.stepIndex += 1;
        stepsThisRun += 1;
      }
    }
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err; // not a failure: this run hands over to the next
    const cause = err instanceof ActivityFailure ? err.cause : err;
    state.failure ??= { reason: 'error', message: cause instanceof Error ? cause.message : String(cause), stepIndex: state.stepIndex };
  }

  if (state.failure === null && state.abort !== null) {
    state.failure = { reason: 'aborted', message: state.abort.reason, stepIndex: state.stepIndex };
  }

  if (state.failure === null) {
    state.ending = 'promoting';
    state.pause = null;
    const by = state.promoteNow ? { type: 'user' as const, id: state.promoteNow.by, name: state.promoteNow.by } : CONTROLLER;
    await record('rollout.promoting', by, { skippedSteps: spec.steps.length - state.stepIndex });
    try {
      const served = await applyAndServe({ kind: 'promote' }, input.actor);
      if (served.outcome === 'serving') {
        state.traffic = { weight: 100, headerRoute: null, mirrorPercent: 0 };
        state.ending = null;
        state.outcome = 'promoted';
        await record('rollout.promoted', CONTROLLER, { revisions: state.revisions });
        await waitFor(allHandlersFinished);
        return status();
      }
      state.failure = { reason: served.outcome === 'nacked' ? 'nack' : 'ackTimeout', message: `promotion not served: ${served.error ?? ''}`, stepIndex: state.stepIndex };
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : err;
      state.failure = { reason: 'error', message: `promotion failed: ${cause instanceof Error ? cause.message : String(cause)}`, stepIndex: state.stepIndex };
    }
  }

  // Roll back: the route as it was when the rollout started.
  const failure: RolloutFailure = state.failure;
  state.ending = 'rollingBack';
  state.pause = null;
  await record('rollout.rollback.started', CONTROLLER, { failure, lastGoodRevisionId: input.lastGoodRevisionId });
  let rollbackError: string | null = null;
  try {
    const served = await applyAndServe({ kind: 'rollback', reason: failure.message }, input.actor);
    if (served.outcome !== 'serving') rollbackError = `rollback not served: ${served.error ?? served.outcome}`;
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : err;
    rollbackError = `rollback failed: ${cause instanceof Error ? cause.message : String(cause)}`;
  }
  state.traffic = { weight: 0, headerRoute: null, mirrorPercent: 0 };
  state.ending = null;
  const aborted = failure.reason === 'aborted' || failure.reason === 'rejected' || failure.reason === 'approvalTimeout';
  state.outcome = aborted ? 'aborted' : 'failed';
  await record(aborted ? 'rollout.aborted' : 'rollout.failed', CONTROLLER, { failure, rollbackError, lastGoodRevisionId: input.lastGoodRevisionId });
  await waitFor(allHandlersFinished);
  return status();
}
