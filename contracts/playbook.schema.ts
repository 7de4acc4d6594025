/**
 * Failover and incident traffic-steering playbooks (issue 9): playbooks are versioned data, an ordered array
 * of steps (a discriminated union on `kind`), each declaring its compensation. failoverPlaybookWorkflow runs
 * one against a target; triggers start runs from health signals read from Envoy's own statistics.
 *
 * Workflow code imports this module with `import type` only (zod stays out of the workflow bundle).
 */
import { z } from 'zod';
import { ApprovalRoleSchema, type ApprovalRecord, type ClusterStatsSample, type ReadClusterStatsInput, type RolloutPrincipal } from './rollout.schema';
import { ClusterSchema, ResourceNameSchema, RouteSchema, type Cluster, type Route } from './route-graph.schema';
import type { Actor } from './workflows.schema';
import { XdpRuleSchema, type XdpPolicySpec } from './xdp.schema';
import { NotificationSeveritySchema } from './notify.schema';

const MAX_DURATION_MS = 24 * 3_600_000;
const DurationSchema = z.number().int().min(1).max(MAX_DURATION_MS);
const nodeGroupName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lowercase letters, digits, ".", "_", "-"; at most 63');

/**
 * How a step is undone when the run compensates: `restore` puts the objects the step touched (routes,
 * clusters, the node group's XDP rules) back as they were before the step; `none` leaves them.
 */
export const CompensationSchema = z.enum(['restore', 'none']);
export type Compensation = z.infer<typeof CompensationSchema>;

/**
 * A health condition over one measurement window of Envoy's statistics (summed over the clusters' proxies).
 * It holds when every bound given holds; a window with fewer than minRequests requests is inconclusive
 * (unless only outlier ejections are asked for).
 */
export const HealthConditionSchema = z
  .strictObject({
    clusters: z.array(ResourceNameSchema).min(1).max(20),
    /** Node groups whose proxies are read; default: every proxy of the tenant. */
    nodeGroups: z.array(nodeGroupName).max(20).default([]),
    successRate: z.strictObject({ min: z.number().min(0).max(1).optional(), max: z.number().min(0).max(1).optional() }).optional(),
    latencyP99Ms: z.strictObject({ max: z.number().min(0) }).optional(),
    /** Endpoints currently ejected by outlier detection (envoy cluster.<name>.outlier_detection.ejections_active). */
    ejectionsActive: z.strictObject({ min: z.number().int().min(0).optional(), max: z.number().int().min(0).optional() }).optional(),
    windowMs: z.number().int().min(200).max(3_600_000).default(5_000),
    minRequests: z.number().int().min(1).max(10_000_000).default(20),
  })
  .refine((c) => c.successRate !== undefined || c.latencyP99Ms !== undefined || c.ejectionsActive !== undefined, {
    message: 'name at least one of successRate, latencyP99Ms, ejectionsActive',
  });
export type HealthCondition = z.infer<typeof HealthConditionSchema>;

const LocalityRefSchema = z.strictObject({ region: z.string().min(1).max(128), zone: z.string().max(128).optional() });
export type LocalityRef = z.infer<typeof LocalityRefSchema>;

/** Between two clusters of a route (weighted clusters), or between two localities of one cluster (endpoint weights). */
export const ShiftBetweenSchema = z.discriminatedUnion('level', [
  z.strictObject({ level: z.literal('clusters'), route: ResourceNameSchema, from: ResourceNameSchema, to: ResourceNameSchema }),
  z.strictObject({ level: z.literal('localities'), cluster: ResourceNameSchema, from: LocalityRefSchema, to: LocalityRefSchema }),
]);
export type ShiftBetween = z.infer<typeof ShiftBetweenSchema>;

const compensation = CompensationSchema.default('restore');

export const ShiftWeightStepSchema = z.strictObject({
  kind: z.literal('shiftWeight'),
  between: ShiftBetweenSchema,
  /** Share (0..100) of `from`'s traffic moved to `to` by the end of the step. */
  percent: z.number().int().min(1).max(100).default(100),
  /** Moved in this many equal increments, each published and ACKed before the next. */
  increments: z.number().int().min(1).max(20).default(1),
  /** Wait after each increment is ACKed. */
  bakeMs: z.number().int().min(0).max(MAX_DURATION_MS).default(0),
  compensation,
});

export const ShiftPriorityStepSchema = z.strictObject({
  kind: z.literal('shiftPriority'),
  cluster: ResourceNameSchema,
  /** Endpoints of this locality become priority 0; every other endpoint moves one priority down. */
  to: LocalityRefSchema,
  compensation,
});

export const DrainStepSchema = z.strictObject({
  kind: z.literal('drain'),
  cluster: ResourceNameSchema,
  /**
   * Without `endpoints` / `locality`: the cluster gets no traffic (removed from every route's weighted
   * clusters, its weight given to the others in proportion). With them: those endpoints leave the cluster.
   */
  endpoints: z.array(z.strictObject({ address: z.string().min(1).max(253), port: z.number().int().min(1).max(65535) })).max(1000).optional(),
  locality: LocalityRefSchema.optional(),
  compensation,
});

export const SetOutlierDetectionStepSchema = z.strictObject({
  kind: z.literal('setOutlierDetection'),
  cluster: ResourceNameSchema,
  /** null clears outlier detection. */
  outlierDetection: ClusterSchema.shape.outlierDetection.unwrap().nullable(),
  compensation,
});

export const SetHealthCheckStepSchema = z.strictObject({
  kind: z.literal('setHealthCheck'),
  cluster: ResourceNameSchema,
  /** null clears the active health check. */
  healthCheck: ClusterSchema.shape.healthCheck.unwrap().nullable(),
  compensation,
});

export const SetRateLimitStepSchema = z.strictObject({
  kind: z.literal('setRateLimit'),
  route: ResourceNameSchema,
  /** Envoy local rate limit of the route (raise or lower); null removes it. */
  rateLimit: RouteSchema.shape.rateLimit.unwrap().nullable(),
  compensation,
});

export const PushXdpRulesStepSchema = z.strictObject({
  kind: z.literal('pushXdpRules'),
  nodeGroup: nodeGroupName,
  /** Added to (or replacing, by name) the rules of the group's current XDP policy. */
  rules: z.array(XdpRuleSchema).min(1).max(100),
  /** Interfaces when the group has no XDP policy yet. */
  interfaces: z.array(z.string().regex(/^[A-Za-z0-9._@-]{1,15}$/)).min(1).max(64).optional(),
  compensation,
});

export const WaitStepSchema = z.strictObject({
  kind: z.literal('wait'),
  /** A fixed wait … */
  durationMs: DurationSchema.optional(),
  /** … or until the condition holds (checked window after window), at most timeoutMs. */
  until: HealthConditionSchema.optional(),
  timeoutMs: DurationSchema.default(300_000),
});

export const PlaybookApprovalStepSchema = z.strictObject({
  kind: z.literal('approval'),
  requiredRole: ApprovalRoleSchema.default('approver'),
  approvers: z.number().int().min(1).max(10).default(1),
  /** Whoever started the run (or configured its trigger) cannot approve it. */
  separationOfDuties: z.boolean().default(true),
  /** No decision by then: the run compensates. */
  timeoutMs: DurationSchema,
});

export const VerifyStepSchema = z.strictObject({
  kind: z.literal('verify'),
  condition: HealthConditionSchema,
  /** Windows measured before the verdict; an inconclusive one is measured again (up to this many). */
  attempts: z.number().int().min(1).max(100).default(3),
});

export const NotifyStepSchema = z.strictObject({
  kind: z.literal('notify'),
  severity: NotificationSeveritySchema.default('info'),
  subject: z.string().min(1).max(500),
});

export const PlaybookStepSchema = z.discriminatedUnion('kind', [
  ShiftWeightStepSchema,
  ShiftPriorityStepSchema,
  DrainStepSchema,
  SetOutlierDetectionStepSchema,
  SetHealthCheckStepSchema,
  SetRateLimitStepSchema,
  PushXdpRulesStepSchema,
  WaitStepSchema,
  PlaybookApprovalStepSchema,
  VerifyStepSchema,
  NotifyStepSchema,
]);
export type PlaybookStep = z.infer<typeof PlaybookStepSchema>;
export type ShiftWeightStep = z.infer<typeof ShiftWeightStepSchema>;
export type PushXdpRulesStep = z.infer<typeof PushXdpRulesStepSchema>;
export type WaitStep = z.infer<typeof WaitStepSchema>;
export type PlaybookApprovalStep = z.infer<typeof PlaybookApprovalStepSchema>;
export type VerifyStep = z.infer<typeof VerifyStepSchema>;

/** The steps that change the route graph (published as a revision and ACKed by the proxies). */
export const GRAPH_STEP_KINDS = ['shiftWeight', 'shiftPriority', 'drain', 'setOutlierDetection', 'setHealthCheck', 'setRateLimit'] as const;
export type GraphStep = Extract<PlaybookStep, { kind: (typeof GRAPH_STEP_KINDS)[number] }>;

export const PlaybookSpecSchema = z.strictObject({
  description: z.string().max(2000).default(''),
  steps: z.array(PlaybookStepSchema).min(1).max(100),
  /** A failed verification (or wait timeout): compensate every applied step in reverse order, or pause for a human. */
  onVerifyFailure: z.enum(['compensate', 'pause']).default('compensate'),
  /** How long each change may take to be ACKed by every proxy / agent. */
  ackTimeoutMs: z.number().int().min(1_000).max(3_600_000).default(60_000),
  /** What the playbook promises (shown with the run; the run records whether it held). */
  timeBudgetMs: DurationSchema.default(600_000),
});
export type PlaybookSpec = z.infer<typeof PlaybookSpecSchema>;
export type PlaybookSpecInput = z.input<typeof PlaybookSpecSchema>;

/** Parameters substituted into string values of a playbook (`${name}`; a whole-string `${n}` may become a number). */
export const PlaybookParamsSchema = z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]{0,62}$/), z.union([z.string().max(500), z.number()]));
export type PlaybookParams = z.infer<typeof PlaybookParamsSchema>;

const playbookName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and "-"; at most 63');
/** What a run is about (one active run per target): e.g. `route:api`, `region:eu-west`. */
export const PlaybookTargetSchema = z.string().regex(/^[a-z0-9][a-z0-9:._-]{0,127}$/, 'lowercase letters, digits, ":", ".", "_", "-"; at most 128');

// ---------------------------------------------------------------- REST bodies

export const CreatePlaybookBodySchema = z.strictObject({ name: playbookName, spec: z.unknown() });
export const StartPlaybookRunBodySchema = z.strictObject({
  target: PlaybookTargetSchema,
  params: PlaybookParamsSchema.default({}),
  /** A version of the playbook; default the newest. */
  version: z.number().int().min(1).optional(),
});
export const DryRunBodySchema = StartPlaybookRunBodySchema;
export const PlaybookDecisionBodySchema = z.strictObject({ comment: z.string().max(2000).optional() });
export const CreateTriggerBodySchema = z.strictObject({
  target: PlaybookTargetSchema,
  params: PlaybookParamsSchema.default({}),
  version: z.number().int().min(1).optional(),
  /** Fires when this condition holds for one whole window (e.g. successRate.max 0.95 of the region's cluster). */
  condition: HealthConditionSchema,
  /** How often the watcher samples Envoy's stats. */
  intervalMs: z.number().int().min(200).max(600_000).default(1_000),
  /** No new run from this trigger until this long after the last one started. */
  cooldownMs: z.number().int().min(0).max(MAX_DURATION_MS).default(600_000),
});
export type CreateTriggerBody = z.infer<typeof CreateTriggerBodySchema>;

// ---------------------------------------------------------------- workflow

export const FAILOVER_PLAYBOOK_WORKFLOW = 'failoverPlaybookWorkflow';
export const PLAYBOOK_TRIGGER_WORKFLOW = 'playbookTriggerWorkflow';

/** One active run per target: Temporal refuses a second workflow with this id while one runs. */
export function playbookRunWorkflowId(key: { tenantId: string; target: string }): string {
  return `playbook:${key.tenantId}:${key.target}`;
}
export function playbookTriggerWorkflowId(key: { tenantId: string; triggerId: string }): string {
  return `playbook-trigger:${key.tenantId}:${key.triggerId}`;
}

export const PlaybookMessages = {
  approve: 'approvePlaybookStep',
  reject: 'rejectPlaybookStep',
  resume: 'resumePlaybook',
  abort: 'abortPlaybook',
  status: 'playbookStatus',
} as const;

export type PlaybookPhase = 'Running' | 'AwaitingApproval' | 'Paused' | 'Compensating' | 'Completed' | 'Compensated' | 'Failed';
export const FINISHED_PLAYBOOK_PHASES: readonly PlaybookPhase[] = ['Completed', 'Compensated', 'Failed'];

export interface PlaybookFailure {
  reason: 'verify' | 'waitTimeout' | 'approvalTimeout' | 'rejected' | 'aborted' | 'nack' | 'ackTimeout' | 'error';
  message: string;
  stepIndex: number;
}

/** What a step changed, so it can be compensated (plain JSON). */
export type AppliedChange =
  | { stepIndex: number; kind: 'graph'; compensation: Compensation; before: TouchedObjects }
  | { stepIndex: number; kind: 'xdp'; compensation: Compensation; nodeGroup: string; before: XdpRulesBefore };

/** Routes and clusters as they were before a step (null: did not exist). */
export interface TouchedObjects {
  routes: Record<string, Route | null>;
  clusters: Record<string, Cluster | null>;
}

/** The group's XDP spec before a step, restricted to the step's rule names (null: no policy yet). */
export interface XdpRulesBefore {
  hadPolicy: boolean;
  names: string[];
  rules: XdpPolicySpec['rules'];
}

export interface PlaybookRunState {
  stepIndex: number;
  seq: number;
  /** Increments of the current step already applied (a shiftWeight resumes after the last one). */
  increment: number;
  applied: AppliedChange[];
  approvals: ApprovalRecord[];
  pause: { reason: 'VerifyFailed' | 'AwaitingApproval'; message?: string } | null;
  failure: PlaybookFailure | null;
  abort: { by: string; reason: string } | null;
  resumeRequested: boolean;
  compensating: boolean;
  outcome: 'Completed' | 'Compensated' | 'Failed' | null;
  revisions: string[];
  xdpVersions: { nodeGroup: string; version: string; policyId: string }[];
  startedAtMs: number;
  finishedAtMs: number | null;
}

export interface FailoverPlaybookInput {
  tenantId: string;
  runId: string;
  playbook: { id: string; name: string; version: number };
  /** Parameters already substituted and validated. */
  spec: PlaybookSpec;
  target: string;
  params: PlaybookParams;
  actor: Actor;
  /** Principal ids that count as the run's starters (separation of duties). */
  authors: string[];
  trigger: { type: 'manual' } | { type: 'auto'; triggerId: string; reason: string };
}

export interface PlaybookStatus {
  runId: string;
  tenantId: string;
  target: string;
  phase: PlaybookPhase;
  currentStepIndex: number;
  steps: number;
  currentStep: PlaybookStep | null;
  pauseReason: string | null;
  approvals: ApprovalRecord[];
  failure: PlaybookFailure | null;
  revisions: string[];
  xdpVersions: { nodeGroup: string; version: string; policyId: string }[];
  applied: number;
  elapsedMs: number;
  timeBudgetMs: number;
  withinBudget: boolean | null;
}

export interface PlaybookMessageArgs {
  principal: RolloutPrincipal;
  comment?: string;
}

// ---------------------------------------------------------------- activities

/** A change of the route graph, computed from the live graph by core/playbook (same code for the dry run). */
export type GraphChange =
  /** `before`: the touched objects at the step's start (from the first increment's result; absent on the first). */
  | { kind: 'step'; step: GraphStep; increment: number; before?: TouchedObjects }
  | { kind: 'restore'; before: TouchedObjects };

export interface ApplyGraphChangeInput {
  tenantId: string;
  runId: string;
  /** Idempotency key inside the run, e.g. `s2.1` (step 2, increment 1) or `c2` (compensation of step 2). */
  key: string;
  stepIndex: number;
  change: GraphChange;
  actor: Actor;
}

export interface ApplyGraphChangeResult {
  /** The revision this change created (or found, on a retry); null when the live graph already had it. */
  revisionId: string | null;
  liveRevisionId: string;
  graphHash: string;
  /** The touched objects before the change (what `restore` puts back). */
  before: TouchedObjects;
  /** Snapshot versions to await, per node group. */
  targets: { nodeGroup: string; version: string }[];
}

export type XdpChange = { kind: 'add'; step: PushXdpRulesStep } | { kind: 'restore'; nodeGroup: string; before: XdpRulesBefore };

export interface ApplyXdpChangeInput {
  tenantId: string;
  runId: string;
  key: string;
  stepIndex: number;
  change: XdpChange;
  actor: Actor;
}

export interface ApplyXdpChangeResult {
  nodeGroup: string;
  policyId: string;
  version: string;
  before: XdpRulesBefore;
}

export interface RecordPlaybookEventInput {
  tenantId: string;
  runId: string;
  seq: number;
  action: string;
  actor: Actor;
  stepIndex: number;
  status: PlaybookStatus;
  detail?: Record<string, unknown>;
  approval?: ApprovalRecord;
}

export interface EnsurePlaybookRunInput {
  tenantId: string;
  runId: string;
  workflowId: string;
  playbookId: string;
  target: string;
  params: PlaybookParams;
  actor: Actor;
  trigger: FailoverPlaybookInput['trigger'];
}

/** Envoy outlier ejections per cluster (active now), summed over the proxies read. */
export interface EjectionSample {
  clusters: Record<string, number>;
}

export interface PlaybookActivities {
  ensurePlaybookRun(input: EnsurePlaybookRunInput): Promise<void>;
  applyPlaybookGraphChange(input: ApplyGraphChangeInput): Promise<ApplyGraphChangeResult>;
  applyPlaybookXdpChange(input: ApplyXdpChangeInput): Promise<ApplyXdpChangeResult>;
  readPlaybookHealth(input: ReadClusterStatsInput): Promise<ClusterStatsSample & { ejections: EjectionSample }>;
  recordPlaybookEvent(input: RecordPlaybookEventInput): Promise<void>;
  recordTriggerEvent(input: { tenantId: string; triggerId: string; action: string; detail: Record<string, unknown>; fired: boolean }): Promise<void>;
}

export interface PlaybookTriggerInput {
  tenantId: string;
  triggerId: string;
  playbook: { id: string; name: string; version: number };
  spec: PlaybookSpec;
  target: string;
  params: PlaybookParams;
  condition: HealthCondition;
  intervalMs: number;
  cooldownMs: number;
  actor: Actor;
  authors: string[];
  /** Carried over continue-as-new. */
  lastFiredAtMs?: number | null;
}

