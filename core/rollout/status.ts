/**
 * The rollout stepper's status, computed from the workflow's plain-JSON state by pure functions (the way
 * argo-rollouts derives currentStepIndex / stepsHash / phase / pauseReason): the workflow only records what
 * happened; what it means is decided here.
 */
import type {
  PauseReason,
  RolloutPhase,
  RolloutSpec,
  RolloutStatus,
  RolloutStep,
  RolloutTraffic,
  RolloutWorkflowState,
} from '../../contracts/rollout.schema';
import { canonicalJson } from '../canonical-json';
import { sha256Hex } from '../hash/sha256';

/** Content hash of the steps: a spec whose steps change is a different rollout. */
export function stepsHash(steps: readonly RolloutStep[]): string {
  return sha256Hex(canonicalJson(steps)).slice(0, 16);
}

export function initialRolloutState(spec: RolloutSpec): RolloutWorkflowState {
  return {
    stepIndex: 0,
    stepsHash: stepsHash(spec.steps),
    pause: null,
    abort: null,
    promoteNow: null,
    retryRequested: false,
    outcome: null,
    ending: null,
    traffic: { weight: 0, headerRoute: null, mirrorPercent: 0 },
    approvals: [],
    approvalRole: null,
    analyses: [],
    revisions: [],
    failure: null,
    seq: 0,
    runs: 1,
  };
}

export function currentStepIndex(spec: Pick<RolloutSpec, 'steps'>, state: Pick<RolloutWorkflowState, 'stepIndex'>): number {
  return Math.max(0, Math.min(state.stepIndex, spec.steps.length));
}

export function phase(state: Pick<RolloutWorkflowState, 'outcome' | 'ending' | 'pause'>): RolloutPhase {
  if (state.outcome === 'promoted') return 'Promoted';
  if (state.outcome === 'failed') return 'Failed';
  if (state.outcome === 'aborted') return 'Aborted';
  if (state.ending === 'rollingBack') return 'RollingBack';
  if (state.ending === 'promoting') return 'Promoting';
  if (state.pause) return 'Paused';
  return 'Progressing';
}

export function pauseReason(state: Pick<RolloutWorkflowState, 'pause' | 'outcome'>): PauseReason | null {
  return state.outcome === null ? (state.pause?.reason ?? null) : null;
}

export function isFinished(state: Pick<RolloutWorkflowState, 'outcome'>): boolean {
  return state.outcome !== null;
}

/** The traffic the route serves once steps[0..index-1] have been applied (setWeight, setHeaderRoute, mirror). */
export function trafficAfterSteps(steps: readonly RolloutStep[], index: number): RolloutTraffic {
  const t: RolloutTraffic = { weight: 0, headerRoute: null, mirrorPercent: 0 };
  for (const step of steps.slice(0, index)) {
    if (step.kind === 'setWeight') t.weight = step.weight;
    else if (step.kind === 'setHeaderRoute') t.headerRoute = step.match ? { ...step.match } : null;
    else if (step.kind === 'mirror') t.mirrorPercent = step.percent;
  }
  return t;
}

/** The traffic after applying one step to `current` (unchanged for pause, analysis, approval). */
export function trafficOfStep(current: RolloutTraffic, step: RolloutStep): RolloutTraffic {
  switch (step.kind) {
    case 'setWeight':
      return { ...current, weight: step.weight };
    case 'setHeaderRoute':
      return { ...current, headerRoute: step.match ? { ...step.match } : null };
    case 'mirror':
      return { ...current, mirrorPercent: step.percent };
    default:
      return current;
  }
}

export function rolloutStatus(
  ids: { rolloutId: string; tenantId: string },
  spec: RolloutSpec,
  state: RolloutWorkflowState,
): RolloutStatus {
  const index = currentStepIndex(spec, state);
  return {
    rolloutId: ids.rolloutId,
    tenantId: ids.tenantId,
    route: spec.route,
    phase: phase(state),
    currentStepIndex: index,
    stepsHash: state.stepsHash,
    pauseReason: pauseReason(state),
    steps: spec.steps.length,
    currentStep: spec.steps[index] ?? null,
    traffic: { ...state.traffic },
    approvals: state.approvals.map((a) => ({ ...a })),
    analyses: state.analyses.slice(-10),
    failure: state.failure,
    revisions: [...state.revisions],
    runs: state.runs,
  };
}

const RANK: Record<string, number> = { viewer: 0, operator: 1, approver: 2, admin: 3 };

/**
 * Why `principal` may not approve (or reject) the current approval step, or null when they may. Used by the
 * workflow's update validators.
 */
export function approvalRefusal(
  opts: {
    step: RolloutStep | undefined;
    waiting: boolean;
    requiredRole: string;
    authors: readonly string[];
    approvals: readonly { principalId: string }[];
  },
  principal: { id: string; role: string },
): string | null {
  if (!opts.step || opts.step.kind !== 'approval' || !opts.waiting) return 'the rollout is not waiting for an approval';
  if ((RANK[principal.role] ?? -1) < (RANK[opts.requiredRole] ?? 99)) {
    return `role ${principal.role} cannot approve this step: it needs ${opts.requiredRole} or above`;
  }
  if (opts.step.separationOfDuties && opts.authors.includes(principal.id)) {
    return 'the author of the change cannot approve it (separation of duties)';
  }
  if (opts.approvals.some((a) => a.principalId === principal.id)) return 'you already decided on this step';
  return null;
}
