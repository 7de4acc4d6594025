/**
 * Contracts of the Temporal workflows: task-queue name, workflow inputs (zod, parsed by the client before
 * a workflow starts), activity inputs and the results/status shapes workflows return.
 * Signal/update/query definitions live next to their workflow (workflows/*.workflow.ts).
 *
 * Workflow code imports this module with `import type` only, so zod never enters the workflow bundle.
 */
import { z } from 'zod';

/** Default task queue of the ProxyShard worker (server/env.ts TEMPORAL_TASK_QUEUE defaults to this). */
export const PROXYSHARD_TASK_QUEUE = 'proxyshard';

/** The xDS resource types a snapshot can hold, in the order Envoy applies them. */
export const XDS_TYPE_URLS = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  /** SDS (issue 8): certificates and trust bundles, ACKed like the others when a snapshot has some. */
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;
export const XdsTypeUrlSchema = z.enum([
  XDS_TYPE_URLS.listener,
  XDS_TYPE_URLS.route,
  XDS_TYPE_URLS.cluster,
  XDS_TYPE_URLS.endpoint,
  XDS_TYPE_URLS.secret,
]);
export type XdsTypeUrl = z.infer<typeof XdsTypeUrlSchema>;
export const ALL_XDS_TYPE_URLS: readonly XdsTypeUrl[] = XdsTypeUrlSchema.options;

export const ActorSchema = z.strictObject({
  type: z.enum(['user', 'token', 'system']),
  id: z.string().min(1).max(200),
  name: z.string().min(1).max(200),
});
export type Actor = z.infer<typeof ActorSchema>;

const NodeGroupNameSchema = z.string().min(1).max(63);

export const DEFAULT_ACK_TIMEOUT_MS = 120_000;

export const PublishRevisionInputSchema = z.strictObject({
  tenantId: z.uuid(),
  revisionId: z.uuid(),
  actor: ActorSchema,
  /** Wait for ACKs only from these node groups; default: every node group the revision publishes to. */
  nodeGroups: z.array(NodeGroupNameSchema).min(1).max(100).optional(),
  /** How long each node group may take to ACK the new version before the workflow fails. */
  ackTimeoutMs: z.number().int().min(1).max(3_600_000).default(DEFAULT_ACK_TIMEOUT_MS),
});
/** What a workflow receives (defaults applied). */
export type PublishRevisionInput = z.infer<typeof PublishRevisionInputSchema>;
/** What a caller passes to startPublishRevision (defaults optional). */
export type PublishRevisionRequest = z.input<typeof PublishRevisionInputSchema>;

/** Business-key workflow id: starting the same publish twice attaches to the first. */
export function publishRevisionWorkflowId(input: { tenantId: string; revisionId: string }): string {
  return `publish:${input.tenantId}:${input.revisionId}`;
}

// ---- activities ----------------------------------------------------------------------------------------

export interface PublishRevisionActivityInput {
  tenantId: string;
  revisionId: string;
  actor: Actor;
}

export interface SnapshotVersion {
  nodeGroup: string;
  version: string;
}

export interface PublishRevisionActivityResult {
  snapshots: SnapshotVersion[];
  /** False when the revision was already live with identical snapshots (publishing twice changes nothing). */
  changed: boolean;
}

export interface AwaitProxyAckInput {
  tenantId: string;
  /** The revision being published and who publishes it: the audit entry of the outcome names both. */
  revisionId: string;
  actor: Actor;
  nodeGroup: string;
  version: string;
  timeoutMs: number;
  /** Types every proxy must ACK; default: the types present in the stored snapshot. */
  typeUrls?: XdsTypeUrl[];
}

export interface ProxyRef {
  proxyId: string;
  nodeId: string;
}

export interface PendingProxy extends ProxyRef {
  /** Types not yet ACKed at the awaited version. */
  pendingTypeUrls: string[];
}

export interface NackedProxy extends ProxyRef {
  typeUrl: string;
  /** Envoy's error_detail message. */
  error: string;
  nonce: string | null;
}

/** ACK state of one node group at one version, over its connected proxies. */
export interface AckSummary {
  nodeGroup: string;
  version: string;
  acked: ProxyRef[];
  pending: PendingProxy[];
  nacked: NackedProxy[];
}

export interface AwaitProxyAckResult extends AckSummary {
  /** `acked`: every connected proxy ACKed every type; `timedOut`: the deadline passed with proxies pending. */
  outcome: 'acked' | 'timedOut';
  typeUrls: string[];
}

/** Audit actions written by awaitProxyAck (the publish itself is audited by the publish service). */
export const PublishAuditAction = {
  acked: 'revision.publish.acked',
  nacked: 'revision.publish.nacked',
  ackTimeout: 'revision.publish.ack_timeout',
} as const;

/** ApplicationFailure types raised by publish activities and the publish workflow. */
export const PublishFailureType = {
  /** A proxy rejected the snapshot; details[0] is a NackedProxy & { nodeGroup, version }. */
  nack: 'ProxyNack',
  /** Proxies did not ACK within ackTimeoutMs; details[0] is an AckSummary. */
  ackTimeout: 'ProxyAckTimeout',
  /** The snapshot awaited does not exist (details[0]: { nodeGroup, version }). */
  snapshotNotFound: 'SnapshotNotFound',
  /** The publish service refused the revision (not found, wrong tenant, invalid graph…). */
  publishRejected: 'PublishRejected',
} as const;

/** Workflow type name of publishRevisionWorkflow (workflows/publish-revision.workflow.ts). */
export const PUBLISH_REVISION_WORKFLOW = 'publishRevisionWorkflow';
/** Name of publishStatusQuery (defined next to the workflow), for clients that do not import workflow code. */
export const PUBLISH_STATUS_QUERY = 'publishStatus';

// ---- workflow results and status -----------------------------------------------------------------------

export interface PublishAckCounts {
  nodeGroup: string;
  version: string;
  /** Number of connected proxies that ACKed every type. */
  proxiesAcked: number;
  /** Connected proxies still missing an ACK (0 on success). */
  pending: number;
  /** NACKs seen (empty on success: a NACK fails the workflow). */
  nacked: NackedProxy[];
}

export interface PublishRevisionResult {
  tenantId: string;
  revisionId: string;
  changed: boolean;
  /** Every snapshot the revision published, one per node group. */
  versions: SnapshotVersion[];
  /** One entry per awaited node group. */
  acked: PublishAckCounts[];
}

export type PublishPhase = 'publishing' | 'awaitingAck' | 'completed' | 'nacked' | 'timedOut' | 'failed';

/** The workflow function's signature, for typed handles outside workflow code. */
export type PublishRevisionWorkflow = (input: PublishRevisionInput) => Promise<PublishRevisionResult>;

/** Answer of publishStatusQuery (plain JSON). */
export interface PublishStatus {
  phase: PublishPhase;
  tenantId: string;
  revisionId: string;
  versions: SnapshotVersion[];
  acked: PublishAckCounts[];
  error?: string;
}

/**
 * The publish activities as the workflow sees them (workers/publish.activities.ts implements this), so
 * workflow code never imports from workers/.
 */
export interface PublishActivities {
  publishRevision(input: PublishRevisionActivityInput): Promise<PublishRevisionActivityResult>;
  awaitProxyAck(input: AwaitProxyAckInput): Promise<AwaitProxyAckResult>;
}

// ---- XDP push (workflows/xdp-push.workflow.ts) -----------------------------------------------------------

export const DEFAULT_XDP_ACK_TIMEOUT_MS = 60_000;

export const PushXdpPolicyInputSchema = z.strictObject({
  tenantId: z.uuid(),
  nodeGroup: NodeGroupNameSchema,
  /** The XdpPolicy version to make the group's desired state. */
  policyId: z.uuid(),
  actor: ActorSchema,
  /** How long the group's connected agents may take to apply the version before the workflow fails. */
  ackTimeoutMs: z.number().int().min(1).max(3_600_000).default(DEFAULT_XDP_ACK_TIMEOUT_MS),
});
/** What pushXdpPolicyWorkflow receives (defaults applied). */
export type PushXdpPolicyInput = z.infer<typeof PushXdpPolicyInputSchema>;
/** What a caller passes to startPushXdpPolicy. */
export type PushXdpPolicyRequest = z.input<typeof PushXdpPolicyInputSchema>;

/**
 * Business-key workflow id: starting the push of the same version twice while it runs attaches to it;
 * once closed, the same id runs again (re-publishing an older version is a rollback).
 */
export function pushXdpPolicyWorkflowId(input: { tenantId: string; nodeGroup: string; policyId: string }): string {
  return `xdp-push:${input.tenantId}:${input.nodeGroup}:${input.policyId}`;
}

/** Workflow type name of pushXdpPolicyWorkflow. */
export const PUSH_XDP_POLICY_WORKFLOW = 'pushXdpPolicyWorkflow';
/** Name of xdpPushStatusQuery (defined next to the workflow). */
export const XDP_PUSH_STATUS_QUERY = 'xdpPushStatus';

export type XdpPushPhase = 'pushing' | 'awaitingAck' | 'completed' | 'superseded' | 'rejected' | 'timedOut' | 'failed';

/** Answer of xdpPushStatusQuery (plain JSON). */
export interface XdpPushStatus {
  phase: XdpPushPhase;
  tenantId: string;
  nodeGroup: string;
  policyId: string;
  /** Bundle version being pushed (known after pushXdpBundle). */
  version: string | null;
  agentsAcked: number;
  agentsPending: number;
  error?: string;
}

export interface PushXdpPolicyResult {
  tenantId: string;
  nodeGroup: string;
  policyId: string;
  version: string;
  /** false when the version already was the group's desired one. */
  changed: boolean;
  /** acked: every connected agent applied it; noAgents: none connected; superseded: a newer push took over. */
  outcome: 'acked' | 'noAgents' | 'superseded';
  agentsAcked: { agentId: string; nodeName: string }[];
}

/** The workflow function's signature, for typed handles outside workflow code. */
export type PushXdpPolicyWorkflow = (input: PushXdpPolicyInput) => Promise<PushXdpPolicyResult>;
