/**
 * Canary rollouts (issue 5): the spec an operator writes (target route, stable and canary clusters, an ordered
 * list of steps as a discriminated union on `kind`), the workflow input, the status shape, and the messages'
 * argument types. `validateRolloutSpec` = zod + the semantic rules of core/rollout/validate.ts, every issue
 * with a field path like `steps[2].metrics[0].min`.
 *
 * Workflow code imports this module with `import type` only, so zod never enters the workflow bundle.
 */
import { z } from 'zod';
import { validateRolloutSemantics, type RolloutValidationIssue } from '../core/rollout/validate';
import type { RouteGraph } from './route-graph.schema';
import { ResourceNameSchema } from './route-graph.schema';
import { ActorSchema } from './workflows.schema';

const MAX_DURATION_MS = 7 * 24 * 3_600_000;
const DurationSchema = z.number().int().min(1).max(MAX_DURATION_MS);

/** Roles that can be required for an approval (a viewer can never approve). */
export const ApprovalRoleSchema = z.enum(['operator', 'approver', 'admin']);

export const AnalysisMetricSchema = z.strictObject({
  /** successRate: non-5xx / all responses (0..1); latencyP95 / latencyP99: ms, from upstream_rq_time buckets. */
  name: z.enum(['successRate', 'latencyP95', 'latencyP99']),
  /** The canary's value must be ≥ min (successRate) … */
  min: z.number().min(0).optional(),
  /** … and ≤ max (latency in ms, or successRate). */
  max: z.number().min(0).optional(),
  /**
   * Canary versus stable: successRate may be at most this much lower than stable's (absolute, 0..1);
   * latency at most this fraction higher than stable's (0.5 = +50 %). Skipped while stable gets no traffic.
   */
  maxDegradationVsStable: z.number().min(0).optional(),
});

export const SetWeightStepSchema = z.strictObject({
  kind: z.literal('setWeight'),
  /** Percentage of the route's traffic the canary gets (the stable gets the rest). */
  weight: z.number().int().min(0).max(100),
  /** How long to let the new weight bake once every proxy serves it; default 0. */
  bakeMs: z.number().int().min(0).max(MAX_DURATION_MS).default(0),
});

export const PauseStepSchema = z.strictObject({
  kind: z.literal('pause'),
  /** Without a duration the rollout waits until someone resumes (or promotes, or aborts) it. */
  durationMs: DurationSchema.optional(),
});

export const AnalysisStepSchema = z.strictObject({
  kind: z.literal('analysis'),
  metrics: z.array(AnalysisMetricSchema).min(1).max(10),
  /** Length of one measurement window. */
  intervalMs: z.number().int().min(200).max(3_600_000).default(10_000),
  /** Measurements to take. */
  count: z.number().int().min(1).max(1000).default(1),
  /** Failed measurements tolerated; one more fails the rollout (0: the first failure does). */
  failureLimit: z.number().int().min(0).max(1000).default(0),
  /** Inconclusive measurements tolerated; one more pauses the rollout for a human (resume, retry or abort). */
  inconclusiveLimit: z.number().int().min(0).max(1000).default(0),
  /** A window with fewer canary requests than this is inconclusive. */
  minRequests: z.number().int().min(1).max(10_000_000).default(20),
});

export const ApprovalStepSchema = z.strictObject({
  kind: z.literal('approval'),
  requiredRole: ApprovalRoleSchema.default('approver'),
  /** Distinct people who must approve. */
  approvers: z.number().int().min(1).max(10).default(1),
  /** The change's author (revision author and whoever started the rollout) cannot approve it. */
  separationOfDuties: z.boolean().default(true),
  timeoutMs: DurationSchema,
  /** What happens when the timeout passes: abort (roll back) or escalate to a higher role. */
  onTimeout: z.enum(['abort', 'escalate']).default('abort'),
  /** With onTimeout escalate: who may approve afterwards and how long they have (then: abort). */
  escalation: z.strictObject({ role: ApprovalRoleSchema, timeoutMs: DurationSchema }).optional(),
});

export const SetHeaderRouteStepSchema = z.strictObject({
  kind: z.literal('setHeaderRoute'),
  /** Requests with this header value go to the canary whatever the weight; null removes the header route. */
  match: z.strictObject({ name: z.string().min(1).max(256).regex(/^[a-z0-9-]+$/, 'lowercase header name'), exact: z.string().min(1).max(4096) }).nullable(),
});

export const MirrorStepSchema = z.strictObject({
  kind: z.literal('mirror'),
  /** Percentage of the route's requests copied to the canary (responses ignored); 0 stops mirroring. */
  percent: z.number().min(0).max(100),
});

export const RolloutStepSchema = z.discriminatedUnion('kind', [
  SetWeightStepSchema,
  PauseStepSchema,
  AnalysisStepSchema,
  ApprovalStepSchema,
  SetHeaderRouteStepSchema,
  MirrorStepSchema,
]);

export const RolloutSpecSchema = z.strictObject({
  /** The route whose traffic is shifted (a `forward` route of the live graph). */
  route: ResourceNameSchema,
  stableCluster: ResourceNameSchema,
  canaryCluster: ResourceNameSchema,
  steps: z.array(RolloutStepSchema).min(1).max(200),
  /** How long every proxy of the node groups serving the route may take to serve a new weight. */
  ackTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
});

export type AnalysisMetric = z.infer<typeof AnalysisMetricSchema>;
export type RolloutStep = z.infer<typeof RolloutStepSchema>;
export type SetWeightStep = z.infer<typeof SetWeightStepSchema>;
export type PauseStep = z.infer<typeof PauseStepSchema>;
export type AnalysisStep = z.infer<typeof AnalysisStepSchema>;
export type ApprovalStep = z.infer<typeof ApprovalStepSchema>;
export type SetHeaderRouteStep = z.infer<typeof SetHeaderRouteStepSchema>;
export type MirrorStep = z.infer<typeof MirrorStepSchema>;
export type ApprovalRole = z.infer<typeof ApprovalRoleSchema>;
export type RolloutSpec = z.infer<typeof RolloutSpecSchema>;
export type RolloutSpecInput = z.input<typeof RolloutSpecSchema>;

export type RolloutValidation = { ok: true; spec: RolloutSpec } | { ok: false; issues: RolloutValidationIssue[] };

/** `a.b[2].c` from a zod path. */
export function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

/**
 * Parses and validates a spec; with `graph` (the live route graph, plus the clusters of the rollout's
 * revision) also the references: the route exists and forwards, the stable cluster is one of its clusters,
 * the canary cluster exists.
 */
export function validateRolloutSpec(input: unknown, graph?: Pick<RouteGraph, 'routes' | 'clusters'>): RolloutValidation {
  const parsed = RolloutSpecSchema.safeParse(input);
  if (!parsed.success) {
    return { ok: false, issues: parsed.error.issues.map((i) => ({ path: issuePath(i.path), message: i.message })) };
  }
  const issues = validateRolloutSemantics(parsed.data, graph);
  return issues.length > 0 ? { ok: false, issues } : { ok: true, spec: parsed.data };
}

// ---- API inputs ------------------------------------------------------------------------------------------

export const StartRolloutBodySchema = z.strictObject({
  /** The revision that carries the change (its canary cluster definition); its author cannot approve. */
  revisionId: z.uuid(),
  /** Validated by validateRolloutSpec (field paths under `spec.`). */
  spec: z.unknown(),
});

export const RolloutDecisionBodySchema = z.strictObject({
  comment: z.string().max(2000).optional(),
});

export const RolloutControlBodySchema = z.strictObject({
  reason: z.string().max(2000).optional(),
});

// ---- workflow contract -----------------------------------------------------------------------------------

/** Workflow type name of canaryPromotionWorkflow (workflows/canary-promotion.workflow.ts). */
export const CANARY_PROMOTION_WORKFLOW = 'canaryPromotionWorkflow';

/** Business-key workflow id: starting the same rollout twice attaches to the first. */
export function rolloutWorkflowId(key: { tenantId: string; routeName: string; revisionId: string }): string {
  return `rollout:${key.tenantId}:${key.routeName}:${key.revisionId}`;
}

/** Message names (the definitions live next to the workflow), for clients that do not import workflow code. */
export const RolloutMessages = {
  status: 'rolloutStatus',
  approve: 'approveStep',
  reject: 'rejectStep',
  pause: 'pauseRollout',
  resume: 'resumeRollout',
  abort: 'abortRollout',
  promote: 'promoteRollout',
  retry: 'retryRollout',
} as const;

export const RolloutPrincipalSchema = z.strictObject({
  /** `user:<uuid>` (the same form as Revision.createdById). */
  id: z.string().min(1).max(200),
  name: z.string().min(1).max(200),
  role: z.enum(['viewer', 'operator', 'approver', 'admin']),
  /** How the principal appears in the audit log. */
  actor: ActorSchema,
});
/** Who sends a message to the workflow; the service fills it from the authenticated principal. */
export type RolloutPrincipal = z.infer<typeof RolloutPrincipalSchema>;

export interface RolloutMessageArgs {
  principal: RolloutPrincipal;
  comment?: string;
}

export type RolloutPhase =
  | 'Progressing'
  | 'Paused'
  | 'Promoting'
  | 'RollingBack'
  | 'Promoted'
  | 'Failed'
  | 'Aborted';

export type PauseReason = 'Manual' | 'PauseStep' | 'AwaitingApproval' | 'AnalysisInconclusive' | 'AckTimeout';

/** What the route serves: canary weight, header route, mirror. */
export interface RolloutTraffic {
  weight: number;
  headerRoute: { name: string; exact: string } | null;
  mirrorPercent: number;
}

export interface ApprovalRecord {
  stepIndex: number;
  decision: 'approve' | 'reject';
  principalId: string;
  name: string;
  role: string;
  comment?: string;
  at: string;
}

export interface MetricMeasurement {
  metric: 'successRate' | 'latencyP95' | 'latencyP99';
  canary: number | null;
  stable: number | null;
  min?: number;
  max?: number;
  maxDegradationVsStable?: number;
  verdict: 'pass' | 'fail' | 'inconclusive';
  reason: string;
}

export interface AnalysisMeasurement {
  stepIndex: number;
  run: number;
  verdict: 'pass' | 'fail' | 'inconclusive';
  canaryRequests: number;
  stableRequests: number;
  metrics: MetricMeasurement[];
}

/** Why a rollout ended without promotion. */
export interface RolloutFailure {
  reason: 'analysis' | 'nack' | 'ackTimeout' | 'aborted' | 'rejected' | 'approvalTimeout' | 'error';
  message: string;
  stepIndex: number;
  /** The failing metrics with their values (analysis failures). */
  metrics?: MetricMeasurement[];
}

/**
 * The workflow's whole state: plain JSON, carried across continue-as-new. `phase`, `currentStepIndex` and
 * `pauseReason` of the status are computed from it by core/rollout/status.ts.
 */
export interface RolloutWorkflowState {
  /** Index of the step being run (= steps completed). steps.length once every step ran. */
  stepIndex: number;
  stepsHash: string;
  /** Set while the rollout is held; the reason decides what resumes it. */
  pause: { reason: PauseReason; by?: string; message?: string } | null;
  /** Set when the rollout is being ended early. */
  abort: { by: string; reason: string } | null;
  promoteNow: { by: string } | null;
  retryRequested: boolean;
  outcome: 'promoted' | 'failed' | 'aborted' | null;
  ending: 'promoting' | 'rollingBack' | null;
  traffic: RolloutTraffic;
  /** Approvals of the current approval step. */
  approvals: ApprovalRecord[];
  /** Role that may approve the current step (raised by escalation). */
  approvalRole: string | null;
  analyses: AnalysisMeasurement[];
  /** Revision ids this rollout created, in order. */
  revisions: string[];
  failure: RolloutFailure | null;
  /** Event counter: the idempotency key of every recorded transition. */
  seq: number;
  /** Runs so far (continue-as-new). */
  runs: number;
}

export interface CanaryPromotionInput {
  tenantId: string;
  rolloutId: string;
  revisionId: string;
  spec: RolloutSpec;
  /** Principal ids (`user:<uuid>`) that count as the change's author. */
  authors: string[];
  /** Who started it (actor of automatic transitions' audit entries is the controller, with this in details). */
  actor: z.infer<typeof ActorSchema>;
  /** The route as it was live when the rollout started: what a rollback restores. */
  baseRoute: unknown;
  /** The live revision when the rollout started. */
  lastGoodRevisionId: string | null;
  /** Continue-as-new carries the state here. */
  state?: RolloutWorkflowState;
  /** Continue-as-new after this many steps in one run (default 25). */
  stepsPerRun?: number;
}

export interface RolloutStatus {
  rolloutId: string;
  tenantId: string;
  route: string;
  phase: RolloutPhase;
  currentStepIndex: number;
  stepsHash: string;
  pauseReason: PauseReason | null;
  steps: number;
  currentStep: RolloutStep | null;
  traffic: RolloutTraffic;
  approvals: ApprovalRecord[];
  analyses: AnalysisMeasurement[];
  failure: RolloutFailure | null;
  revisions: string[];
  runs: number;
}

// ---- activities ------------------------------------------------------------------------------------------

export type TrafficChange =
  | { kind: 'set'; traffic: RolloutTraffic }
  | { kind: 'promote' }
  | { kind: 'rollback'; reason: string };

export interface ApplyTrafficInput {
  tenantId: string;
  rolloutId: string;
  revisionId: string;
  spec: Pick<RolloutSpec, 'route' | 'stableCluster' | 'canaryCluster'>;
  baseRoute: unknown;
  change: TrafficChange;
  actor: z.infer<typeof ActorSchema>;
}

export interface ApplyTrafficResult {
  /** The new revision, or null when the live graph already had this traffic (nothing published). */
  revisionId: string | null;
  /** Live revision after the call. */
  liveRevisionId: string;
  /** Snapshot version per node group serving the route. */
  targets: { nodeGroup: string; version: string }[];
  /** Expected weights of the route's clusters (what Envoy's config dump must show). */
  expected: { cluster: string; weight: number }[];
}

export interface AwaitServingInput {
  tenantId: string;
  nodeGroup: string;
  version: string;
  route: string;
  expected: { cluster: string; weight: number }[];
  timeoutMs: number;
}

export interface AwaitServingResult {
  outcome: 'serving' | 'nacked' | 'timedOut';
  proxies: number;
  /** Proxies whose config dump was read and shows the expected weights. */
  verified: number;
  /** Proxies whose admin address is unknown (ACK only). */
  unverifiable: number;
  error?: string;
}

export interface ReadClusterStatsInput {
  tenantId: string;
  nodeGroups: string[];
  clusters: string[];
}

/** Cumulative counters of one cluster, summed over the proxies read. */
export interface ClusterCounters {
  rq2xx: number;
  rq3xx: number;
  rq4xx: number;
  rq5xx: number;
  /** Upper bounds (ms) of upstream_rq_time buckets, ascending, and the cumulative counts (same length). */
  latencyBounds: number[];
  latencyCumulative: number[];
  latencyCount: number;
}

export interface ClusterStatsSample {
  proxies: number;
  clusters: Record<string, ClusterCounters>;
}

export interface RecordRolloutEventInput {
  tenantId: string;
  rolloutId: string;
  /** Idempotency key: an event with the same (rolloutId, seq) is recorded once. */
  seq: number;
  /** Audit action, e.g. rollout.step.completed. */
  action: string;
  actor: z.infer<typeof ActorSchema>;
  stepIndex: number;
  status: RolloutStatus;
  detail?: Record<string, unknown>;
  approval?: ApprovalRecord;
  /**
   * When the transition happened (ISO 8601): the workflow's time of the decision, or for
   * rollout.traffic.serving the moment the proxies were confirmed serving. Absent (histories recorded before
   * it existed): the time the event is written.
   */
  at?: string;
}

/**
 * A traffic change carried out in one activity: write the transitions the workflow recorded since its last
 * write (`events`, e.g. the previous step's completion and this step's start), publish the change (as
 * applyRolloutTraffic) and wait until every proxy of every node group serving the route ACKed it and its
 * config dump shows the expected weights (as awaitRolloutServing, per target).
 */
export interface ServeTrafficInput extends ApplyTrafficInput {
  events: RecordRolloutEventInput[];
  /** How long to wait for the proxies once the change is published (kept across retried attempts). */
  timeoutMs: number;
}

export interface ServeTrafficResult {
  applied: ApplyTrafficResult;
  outcome: 'serving' | 'nacked' | 'timedOut';
  /** Proxies of all targets, and those whose config dump showed the expected weights. */
  proxies: number;
  verified: number;
  error?: string;
  /** When every proxy was confirmed serving (ISO 8601); set when outcome is serving. */
  servingAt?: string;
}

export interface RolloutActivities {
  applyRolloutTraffic(input: ApplyTrafficInput): Promise<ApplyTrafficResult>;
  awaitRolloutServing(input: AwaitServingInput): Promise<AwaitServingResult>;
  serveRolloutTraffic(input: ServeTrafficInput): Promise<ServeTrafficResult>;
  readClusterStats(input: ReadClusterStatsInput): Promise<ClusterStatsSample>;
  recordRolloutEvent(input: RecordRolloutEventInput): Promise<void>;
  /** Several transitions of one rollout, each written once per (rolloutId, seq). */
  recordRolloutEvents(inputs: RecordRolloutEventInput[]): Promise<void>;
}

/** The actor of transitions the workflow makes on its own. */
export const ROLLOUT_CONTROLLER_ACTOR = { type: 'system', id: 'rollout-controller', name: 'rollout controller' } as const;
