/**
 * "Rotate this CA" for the REST API and the CLI: checks the caller and the CA, then starts (or joins)
 * caRotationWorkflow under its business-key id, audited.
 */
import { CA_ROTATION_WORKFLOW, CaRotationInputSchema, caRotationWorkflowId, type RotateCaBody } from '../../contracts/ca-rotation.schema';
import { appendAudit } from '../audit/audit.service';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import { findCa } from '../db/certificate.repo';
import type { DbTx } from '../db/tx';
import { conflict, notFound } from '../errors';
import { getAppTemporal } from '../temporal/app-temporal';
import { startOrJoinWorkflow } from './cert-rotation.service';

export async function rotateCaNow(
  db: DbTx,
  principal: Principal,
  id: string,
  body: RotateCaBody,
): Promise<{ workflowId: string; runId: string; alreadyRunning: boolean; caId: string }> {
  requirePermission(principal, 'cas.manage');
  const ca = await findCa(db, principal.tenant.id, id);
  if (!ca) throw notFound('certificate authority');
  if (ca.source !== 'builtin') throw conflict(`certificate authority ${ca.subject} was imported: import its successor instead`);
  if (ca.status === 'retired') throw conflict(`certificate authority ${ca.subject} is retired already`);
  const input = CaRotationInputSchema.parse({ tenantId: principal.tenant.id, caId: ca.id, actor: auditActorOf(principal), ...body });
  const started = await startOrJoinWorkflow(await getAppTemporal(), CA_ROTATION_WORKFLOW, caRotationWorkflowId(principal.tenant.id, ca.id), [input]);
  await appendAudit(db, {
    tenantId: principal.tenant.id,
    actor: auditActorOf(principal),
    action: 'ca.rotation.start',
    target: { type: 'certificate_authority', id: ca.id },
    details: { subject: ca.subject, newRoot: input.newRoot, ...started },
  });
  return { ...started, caId: ca.id };
}
