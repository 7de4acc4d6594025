/**
 * "Rotate now" and "schedule" for the REST API and the CLI: check the caller and the certificate, then start
 * certRotationWorkflow or create/update its Temporal Schedule through server/services/cert-rotation.service.ts
 * (business-key ids: a second click joins the running rotation). The default interval rotates a leaf when
 * its renewal is due (validity − renewBefore). Both are audited.
 */
import type { ScheduleCertificateBody } from '../../contracts/certificate.schema';
import { appendAudit } from '../audit/audit.service';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import { findCertificate } from '../db/certificate.repo';
import type { DbTx } from '../db/tx';
import { conflict, notFound } from '../errors';
import { getAppTemporal } from '../temporal/app-temporal';
import { startCertRotation, upsertCertRotationSchedule } from './cert-rotation.service';

async function rotationTarget(db: DbTx, principal: Principal, id: string) {
  const cert = await findCertificate(db, principal.tenant.id, id);
  if (!cert) throw notFound('certificate');
  if (cert.status === 'revoked') throw conflict(`certificate ${cert.serial} is revoked: issue a new one instead`);
  if (cert.source !== 'builtin') throw conflict(`certificate "${cert.name}" was imported: import its successor instead`);
  return cert;
}

/** Starts (or joins) certRotationWorkflow for the certificate's name. */
export async function rotateCertificateNow(
  db: DbTx,
  principal: Principal,
  id: string,
  body: { graceSeconds?: number },
): Promise<{ workflowId: string; runId: string; alreadyRunning: boolean; name: string }> {
  requirePermission(principal, 'certificates.write');
  const cert = await rotationTarget(db, principal, id);
  const started = await startCertRotation(await getAppTemporal(), {
    tenantId: principal.tenant.id,
    certificateName: cert.name,
    actor: auditActorOf(principal),
    ...(body.graceSeconds !== undefined ? { graceSeconds: body.graceSeconds } : {}),
  });
  await appendAudit(db, {
    tenantId: principal.tenant.id,
    actor: auditActorOf(principal),
    action: 'certificate.rotate',
    target: { type: 'certificate', id: cert.id },
    details: { name: cert.name, serial: cert.serial, ...started },
  });
  return { ...started, name: cert.name };
}

/** Creates or updates the certificate's rotation Schedule; `paused` pauses or resumes it. */
export async function scheduleCertificateRotation(
  db: DbTx,
  principal: Principal,
  id: string,
  body: ScheduleCertificateBody,
): Promise<{ scheduleId: string; name: string; every: string; paused: boolean | null }> {
  requirePermission(principal, 'certificates.write');
  const cert = await rotationTarget(db, principal, id);
  const every = body.every ?? `${Math.max(60, cert.validitySeconds - cert.renewBeforeSeconds)}s`;
  const { scheduleId } = await upsertCertRotationSchedule(await getAppTemporal(), {
    tenantId: principal.tenant.id,
    certificateName: cert.name,
    actor: { type: 'system', id: `schedule:${cert.name}`, name: `rotation schedule (set by ${principal.user.username})` },
    every,
    ...(body.graceSeconds !== undefined ? { rotation: { graceSeconds: body.graceSeconds } } : {}),
    ...(body.paused !== undefined ? { paused: body.paused } : {}),
  });
  await appendAudit(db, {
    tenantId: principal.tenant.id,
    actor: auditActorOf(principal),
    action: 'certificate.schedule',
    target: { type: 'certificate', id: cert.id },
    details: { name: cert.name, scheduleId, every, paused: body.paused ?? null, graceSeconds: body.graceSeconds ?? null },
  });
  return { scheduleId, name: cert.name, every, paused: body.paused ?? null };
}
