/**
 * The Temporal client used by the web server, the CLI and scripts: one cached Connection + Client per
 * address/namespace, and typed starters for ProxyShard workflows.
 */
import { Client, Connection, WorkflowExecutionAlreadyStartedError, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import {
  PUBLISH_REVISION_WORKFLOW,
  PUBLISH_STATUS_QUERY,
  PUSH_XDP_POLICY_WORKFLOW,
  PublishRevisionInputSchema,
  PushXdpPolicyInputSchema,
  XDP_PUSH_STATUS_QUERY,
  publishRevisionWorkflowId,
  pushXdpPolicyWorkflowId,
  type PublishRevisionRequest,
  type PublishRevisionWorkflow,
  type PublishStatus,
  type PushXdpPolicyRequest,
  type PushXdpPolicyWorkflow,
  type XdpPushStatus,
} from '../../contracts/workflows.schema';
import { temporalAddress, type Env } from '../env';

export interface TemporalClientConfig {
  address: string;
  namespace: string;
  taskQueue: string;
}

/** A connected Client that also knows the task queue workflows go to. */
export interface ProxyShardTemporal {
  client: Client;
  connection: Connection;
  taskQueue: string;
}

const cache = new Map<string, Promise<ProxyShardTemporal>>();

export function temporalClientConfig(env: Env): TemporalClientConfig {
  return { address: temporalAddress(env), namespace: env.TEMPORAL_NAMESPACE, taskQueue: env.TEMPORAL_TASK_QUEUE };
}

/** Cached per address + namespace + task queue; a failed connection attempt is not cached. */
export function getTemporalClient(envOrConfig: Env | TemporalClientConfig): Promise<ProxyShardTemporal> {
  const config = 'address' in envOrConfig ? envOrConfig : temporalClientConfig(envOrConfig);
  const key = `${config.address}|${config.namespace}|${config.taskQueue}`;
  let entry = cache.get(key);
  if (!entry) {
    entry = (async () => {
      const connection = await Connection.connect({ address: config.address });
      return { connection, client: new Client({ connection, namespace: config.namespace }), taskQueue: config.taskQueue };
    })();
    cache.set(key, entry);
    entry.catch(() => cache.delete(key));
  }
  return entry;
}

/** Closes every cached connection (process shutdown, end of a test). */
export async function closeTemporalClients(): Promise<void> {
  const entries = [...cache.values()];
  cache.clear();
  await Promise.all(entries.map(async (e) => (await e.catch(() => undefined))?.connection.close()));
}

export type PublishRevisionHandle = WorkflowHandle<PublishRevisionWorkflow>;

/**
 * Starts publishRevisionWorkflow with id `publish:<tenantId>:<revisionId>`. Starting twice is safe: while
 * the first run is open, or after it completed successfully, the existing execution's handle is returned;
 * only a failed/timed-out/terminated publish is started again. Throws a ZodError on invalid input.
 */
export async function startPublishRevision(
  temporal: ProxyShardTemporal,
  request: PublishRevisionRequest,
): Promise<PublishRevisionHandle> {
  const input = PublishRevisionInputSchema.parse(request);
  const workflowId = publishRevisionWorkflowId(input);
  try {
    return await temporal.client.workflow.start<PublishRevisionWorkflow>(PUBLISH_REVISION_WORKFLOW, {
      taskQueue: temporal.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    });
  } catch (err) {
    // Closed successfully before: that publish is done, hand back its (latest) run.
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return temporal.client.workflow.getHandle<PublishRevisionWorkflow>(workflowId);
    }
    throw err;
  }
}

/** The publish workflow's status (publishStatusQuery), latest run. */
export function getPublishStatus(temporal: ProxyShardTemporal, key: { tenantId: string; revisionId: string }): Promise<PublishStatus> {
  return temporal.client.workflow.getHandle(publishRevisionWorkflowId(key)).query<PublishStatus>(PUBLISH_STATUS_QUERY);
}

export type PushXdpPolicyHandle = WorkflowHandleWithFirstExecutionRunId<PushXdpPolicyWorkflow>;

/**
 * Starts pushXdpPolicyWorkflow with id `xdp-push:<tenantId>:<nodeGroup>:<policyId>`. While a push of the same
 * version runs, its handle is returned (starting twice is safe); after it closed, the push runs again (the
 * activities are idempotent, and re-publishing an older version is how a group is rolled back). Throws a
 * ZodError on invalid input.
 */
export async function startPushXdpPolicy(temporal: ProxyShardTemporal, request: PushXdpPolicyRequest): Promise<PushXdpPolicyHandle> {
  const input = PushXdpPolicyInputSchema.parse(request);
  return temporal.client.workflow.start<PushXdpPolicyWorkflow>(PUSH_XDP_POLICY_WORKFLOW, {
    taskQueue: temporal.taskQueue,
    workflowId: pushXdpPolicyWorkflowId(input),
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
}

/** The XDP push workflow's status (xdpPushStatusQuery), latest run. */
export function getXdpPushStatus(temporal: ProxyShardTemporal, key: { tenantId: string; nodeGroup: string; policyId: string }): Promise<XdpPushStatus> {
  return temporal.client.workflow.getHandle(pushXdpPolicyWorkflowId(key)).query<XdpPushStatus>(XDP_PUSH_STATUS_QUERY);
}
