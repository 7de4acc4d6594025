/**
 * The certificate expiry check's Temporal Schedule (issue 8): created by the worker at start-up, or updated
 * when it exists (interval and threshold come from server/env.ts), so restarts never duplicate it.
 */
import type { ScheduleOptionsAction } from '@temporalio/client';
import { CERT_EXPIRY_CHECK_WORKFLOW, certExpiryScheduleId, type CertExpiryCheckInput } from '../../contracts/cert-expiry.schema';
import type { ProxyShardTemporal } from '../temporal/client';
import { createOrUpdateIntervalSchedule } from './cert-rotation.service';

export const EXPIRY_CHECK_ACTOR = { type: 'system', id: 'cert-expiry', name: 'certificate expiry check' } as const;

export async function ensureCertExpirySchedule(
  temporal: ProxyShardTemporal,
  opts: { every: string; thresholdSeconds: number; scheduleId?: string },
): Promise<{ scheduleId: string }> {
  const scheduleId = opts.scheduleId ?? certExpiryScheduleId(temporal.taskQueue);
  const input: CertExpiryCheckInput = { thresholdSeconds: opts.thresholdSeconds, actor: EXPIRY_CHECK_ACTOR };
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: CERT_EXPIRY_CHECK_WORKFLOW,
    workflowId: scheduleId,
    taskQueue: temporal.taskQueue,
    args: [input],
  };
  await createOrUpdateIntervalSchedule(temporal, { scheduleId, every: opts.every, action, note: 'certificate expiry alerts and CRL refresh' });
  return { scheduleId };
}
