/** What GET /api/v1/rollouts[/id] returns (server/services/rollout.service.ts RolloutView), as the console reads it. */
import type { ApprovalRecord, RolloutFailure, RolloutSpec, RolloutStatus } from '@/contracts/rollout.schema';

export interface RolloutItem {
  id: string;
  route: string;
  revisionId: string;
  phase: string;
  currentStepIndex: number;
  pauseReason: string | null;
  canaryWeight: number;
  steps: number;
  spec: RolloutSpec;
  failure: RolloutFailure | null;
  status: Partial<RolloutStatus>;
  startedBy: { id: string; name: string };
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface RolloutDetail {
  rollout: RolloutItem;
  events: { action?: string; stepIndex?: number; at: string; actor?: unknown; detail?: unknown; seq?: number }[];
  approvals: (ApprovalRecord & { at: string })[];
}

export const FINISHED = new Set(['Promoted', 'Failed', 'Aborted']);

export function phaseClass(phase: string): string {
  return phase === 'Promoted' ? 'promoted' : phase === 'Failed' || phase === 'Aborted' ? 'failed' : phase === 'Paused' ? 'paused' : 'live';
}
