/**
 * Starting certRotationWorkflow (issue 8): on demand, and through one Temporal Schedule per certificate whose
 * interval is data (`every`: "720h" in production, seconds in tests). Both use the business-key ids of
 * contracts/certificate.schema.ts, so starting twice returns the running rotation and a schedule is
 * created once and updated afterwards.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError, type ScheduleOptionsAction } from '@temporalio/client';
import {
  CERT_ROTATION_WORKFLOW,
  CertRotationInputSchema,
  certRotationScheduleId,
  certRotationWorkflowId,
  type CertRotationInput,
} from '../../contracts/certificate.schema';
import type { ProxyShardTemporal } from '../temporal/client';

/** Starts a rotation now; when one is already running for the certificate, returns that one. */
export async function startCertRotation(temporal: ProxyShardTemporal, request: CertRotationInput): Promise<{ workflowId: string; runId: string; alreadyRunning: boolean }> {
  const input = CertRotationInputSchema.parse(request);
  return startOrJoinWorkflow(temporal, CERT_ROTATION_WORKFLOW, certRotationWorkflowId(input.tenantId, input.certificateName), [input]);
}

/** Starts the workflow under its business-key id; when one is already running under it, returns that one. */
export async function startOrJoinWorkflow(
  temporal: ProxyShardTemporal,
  workflowType: string,
  workflowId: string,
  args: unknown[],
): Promise<{ workflowId: string; runId: string; alreadyRunning: boolean }> {
  try {
    const handle = await temporal.client.workflow.start(workflowType, { workflowId, taskQueue: temporal.taskQueue, args });
    return { workflowId, runId: handle.firstExecutionRunId, alreadyRunning: false };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const running = await temporal.client.workflow.getHandle(workflowId).describe();
    return { workflowId, runId: running.runId, alreadyRunning: true };
  }
}

export interface CertRotationScheduleInput {
  tenantId: string;
  certificateName: string;
  actor: CertRotationInput['actor'];
  /** Temporal interval ("30m", "720h", "15s"). */
  every: string;
  /** Workflow input beyond the certificate (grace period, attempts, backoff, ACK timeout). */
  rotation?: Pick<CertRotationInput, 'graceSeconds' | 'maxAttempts' | 'retryBackoffSeconds' | 'ackTimeoutMs'>;
  paused?: boolean;
}

/**
 * Creates the certificate's rotation schedule, or updates its interval and input when it exists. A run
 * still going when the next is due is not overlapped (SKIP): rotations of one certificate never race.
 */
export async function upsertCertRotationSchedule(temporal: ProxyShardTemporal, s: CertRotationScheduleInput): Promise<{ scheduleId: string }> {
  const input = CertRotationInputSchema.parse({ tenantId: s.tenantId, certificateName: s.certificateName, actor: s.actor, ...s.rotation });
  const scheduleId = certRotationScheduleId(s.tenantId, s.certificateName);
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: CERT_ROTATION_WORKFLOW,
    workflowId: certRotationWorkflowId(s.tenantId, s.certificateName),
    taskQueue: temporal.taskQueue,
    args: [input],
  };
  await createOrUpdateIntervalSchedule(temporal, {
    scheduleId,
    every: s.every,
    action,
    note: `rotation of certificate ${s.certificateName}`,
    ...(s.paused !== undefined ? { paused: s.paused } : {}),
  });
  return { scheduleId };
}

/**
 * Creates an interval schedule that never overlaps its runs (SKIP), or, when it exists, updates its interval
 * and action (and pauses/resumes it when `paused` is given): idempotent for start-up and API calls.
 */
export async function createOrUpdateIntervalSchedule(
  temporal: ProxyShardTemporal,
  s: { scheduleId: string; every: string; action: ScheduleOptionsAction; note: string; paused?: boolean },
): Promise<void> {
  const spec = { intervals: [{ every: s.every as `${number}s` }] };
  try {
    await temporal.client.schedule.create({
      scheduleId: s.scheduleId,
      spec,
      action: s.action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
      state: { paused: s.paused ?? false, note: s.note },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    const handle = temporal.client.schedule.getHandle(s.scheduleId);
    try {
      await handle.update((prev) => ({ ...prev, spec, action: s.action }));
    } catch (e) {
      // Deleted between create and update (another process): create it again.
      if ((e as { name?: string }).name !== 'ScheduleNotFoundError') throw e;
      await createOrUpdateIntervalSchedule(temporal, s);
      return;
    }
    if (s.paused === true) await handle.pause('paused through the API');
    if (s.paused === false) await handle.unpause('resumed through the API');
  }
}

/** Removes the certificate's rotation schedule (no-op when there is none). */
export async function deleteCertRotationSchedule(temporal: ProxyShardTemporal, tenantId: string, certificateName: string): Promise<void> {
  try {
    await temporal.client.schedule.getHandle(certRotationScheduleId(tenantId, certificateName)).delete();
  } catch (err) {
    if ((err as { name?: string }).name !== 'ScheduleNotFoundError') throw err;
  }
}
