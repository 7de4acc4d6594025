/**
 * Rotation of certificates through Temporal: "rotate now" starts certRotationWorkflow for the certificate's
 * name (workflow id from the business key, so a second click joins the running one), and "schedule" creates
 * or updates the Temporal Schedule that starts it periodically (default: every validity − renewBefore, so a
 * leaf is replaced when it becomes due). Both are audited.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type ScheduleSpec } from '@temporalio/client';
import {
  CERT_ROTATION_WORKFLOW,
  CertRotationInputSchema,
  certRotationScheduleId,
  certRotationWorkflowId,
  type CertRotationInput,
  type ScheduleCertificateBody,
} from '../../contracts/certificate.schema';
import { appendAudit } from '../audit/audit.service';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import { findCertificate } from '../db/certificate.repo';
import type { DbTx } from '../db/tx';
import { conflict, notFound } from '../errors';
import { getAppTemporal } from '../temporal/app-temporal';

async function rotationTarget(db: DbTx, principal: Principal, id: string) {
  const cert = await findCertificate(db, principal.tenant.id, id);
  if (!cert) throw notFound('certificate');
  if (cert.status === 'revoked') throw conflict(`certificate ${cert.serial} is revoked: issue a new one instead`);
  if (cert.source !== 'builtin') throw conflict(`certificate "${cert.name}" was imported: import its successor instead`);
  return cert;
}

/** Starts (or joins) certRotationWorkflow for the certificate's name. */
export async function rotateCertificateNow(db: DbTx, principal: Principal, id: string, body: { graceSeconds?: number }): Promise<{ workflowId: string; runId: string; name: string }> {
  requirePermission(principal, 'certificates.write');
  const cert = await rotationTarget(db, principal, id);
  const input: CertRotationInput = CertRotationInputSchema.parse({
    tenantId: principal.tenant.id,
    certificateName: cert.name,
    actor: auditActorOf(principal),
    ...(body.graceSeconds !== undefined ? { graceSeconds: body.graceSeconds } : {}),
  });
  const t = await getAppTemporal();
  const workflowId = certRotationWorkflowId(principal.tenant.id, cert.name);
  const handle = await t.client.workflow.start(CERT_ROTATION_WORKFLOW, {
    taskQueue: t.taskQueue,
    workflowId,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  await appendAudit(db, {
    tenantId: principal.tenant.id,
    actor: auditActorOf(principal),
    action: 'certificate.rotate',
    target: { type: 'certificate', id: cert.id },
    details: { name: cert.name, serial: cert.serial, workflowId, runId: handle.firstExecutionRunId },
  });
  return { workflowId, runId: handle.firstExecutionRunId, name: cert.name };
}

export interface RotationScheduleView {
  scheduleId: string;
  name: string;
  every: string | null;
  cron: string | null;
  paused: boolean;
  nextActionTimes: string[];
}

/** Creates or updates the certificate's rotation Schedule; `paused` pauses or resumes it. */
export async function scheduleCertificateRotation(db: DbTx, principal: Principal, id: string, body: ScheduleCertificateBody): Promise<RotationScheduleView> {
  requirePermission(principal, 'certificates.write');
  const cert = await rotationTarget(db, principal, id);
  const every = body.every ?? (body.cron ? null : `${Math.max(60, cert.validitySeconds - cert.renewBeforeSeconds)}s`);
  const spec: ScheduleSpec = body.cron ? { cronExpressions: [body.cron] } : { intervals: [{ every: every as `${number}s` }] };
  const input: CertRotationInput = CertRotationInputSchema.parse({
    tenantId: principal.tenant.id,
    certificateName: cert.name,
    actor: { type: 'system', id: `schedule:${cert.name}`, name: `rotation schedule (set by ${principal.user.username})` },
    ...(body.graceSeconds !== undefined ? { graceSeconds: body.graceSeconds } : {}),
  });
  const t = await getAppTemporal();
  const scheduleId = certRotationScheduleId(principal.tenant.id, cert.name);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: CERT_ROTATION_WORKFLOW,
    args: [input],
    taskQueue: t.taskQueue,
    workflowId: certRotationWorkflowId(principal.tenant.id, cert.name),
  };
  let handle = t.client.schedule.getHandle(scheduleId);
  try {
    handle = await t.client.schedule.create({ scheduleId, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP }, state: { paused: body.paused ?? false } });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await handle.update((prev) => ({ ...prev, spec, action }));
    if (body.paused === true) await handle.pause(`paused by ${principal.user.username}`);
    if (body.paused === false) await handle.unpause(`resumed by ${principal.user.username}`);
  }
  const d = await handle.describe();
  const view: RotationScheduleView = {
    scheduleId,
    name: cert.name,
    every: body.cron ? null : every,
    cron: body.cron ?? null,
    paused: d.state.paused,
    nextActionTimes: d.info.nextActionTimes.slice(0, 3).map((x) => x.toISOString()),
  };
  await appendAudit(db, {
    tenantId: principal.tenant.id,
    actor: auditActorOf(principal),
    action: 'certificate.schedule',
    target: { type: 'certificate', id: cert.id },
    details: { name: cert.name, scheduleId, every: view.every, cron: view.cron, paused: view.paused, graceSeconds: body.graceSeconds ?? null },
  });
  return view;
}

/** Deletes a rotation schedule, if there is one (not exposed yet; used by tests and CA clean-up). */
export async function deleteRotationSchedule(tenantId: string, name: string): Promise<boolean> {
  const t = await getAppTemporal();
  try {
    await t.client.schedule.getHandle(certRotationScheduleId(tenantId, name)).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}
