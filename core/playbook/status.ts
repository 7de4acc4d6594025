/**
 * Progress of a playbook run as plain data: the initial state and the status (phase, current step, budget)
 * computed from it. Pure.
 */
import type { PlaybookPhase, PlaybookRunState, PlaybookSpec, PlaybookStatus } from '../../contracts/playbook.schema';

export function initialPlaybookState(startedAtMs: number): PlaybookRunState {
  return {
    stepIndex: 0,
    seq: 0,
    increment: 0,
    applied: [],
    approvals: [],
    pause: null,
    failure: null,
    abort: null,
    resumeRequested: false,
    compensating: false,
    outcome: null,
    revisions: [],
    xdpVersions: [],
    startedAtMs,
    finishedAtMs: null,
  };
}

export function playbookPhase(state: Pick<PlaybookRunState, 'outcome' | 'compensating' | 'pause'>): PlaybookPhase {
  if (state.outcome) return state.outcome;
  if (state.compensating) return 'Compensating';
  if (state.pause?.reason === 'AwaitingApproval') return 'AwaitingApproval';
  if (state.pause) return 'Paused';
  return 'Running';
}

export function playbookStatus(ids: { runId: string; tenantId: string; target: string }, spec: PlaybookSpec, state: PlaybookRunState, nowMs: number): PlaybookStatus {
  const elapsedMs = (state.finishedAtMs ?? nowMs) - state.startedAtMs;
  return {
    ...ids,
    phase: playbookPhase(state),
    currentStepIndex: Math.min(state.stepIndex, spec.steps.length),
    steps: spec.steps.length,
    currentStep: spec.steps[state.stepIndex] ?? null,
    pauseReason: state.pause?.reason ?? null,
    approvals: state.approvals,
    failure: state.failure,
    revisions: state.revisions,
    xdpVersions: state.xdpVersions,
    applied: state.applied.length,
    elapsedMs,
    timeBudgetMs: spec.timeBudgetMs,
    withinBudget: state.outcome === 'Completed' ? elapsedMs <= spec.timeBudgetMs : null,
  };
}
