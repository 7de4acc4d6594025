/**
 * caRotationWorkflow (issue 8): replaces a tenant CA without breaking a connection.
 *   new intermediate (or root + intermediate); the old CAs become `retiring`, still trusted
 *   → publish the trust bundle with old and new, await every proxy's ACK (peers of either CA verify)
 *   → reissue every active leaf of the old CAs: one certRotationWorkflow child each, one after another
 *     (each issues from the new CA, pushes over SDS, awaits the ACK, checks the served leaf with a TLS
 *     handshake, keeps the old leaf for its grace period, then revokes it)
 *   → retire the old CAs → publish without the old trust, await the ACK.
 * A failed leaf rotation stops the workflow before anything is untrusted (old and new CA stay in the bundle),
 * alerts `certificate.ca_rotation_failed` and fails; starting it again continues where it stopped.
 *
 * Deterministic code only; contracts are imported as types.
 */
import { ApplicationFailure, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { errorText } from './activity-failure';
import { certRotationWorkflow } from './cert-rotation.workflow';
import { materialAckWaiter, notify, PKI_ACTIVITY_OPTIONS } from './certificate-material';
import type { CaRotationActivities, CaRotationInput, CaRotationResult } from '../contracts/ca-rotation.schema';
import type { CertificateActivities } from '../contracts/cert-rotation.schema';

const DEFAULT_ACK_TIMEOUT_MS = 60_000;
// Same strings as contracts/ca-rotation.schema.ts (values are not imported into the workflow bundle).
const CA_ROTATION_FAILED_KIND = 'certificate.ca_rotation_failed';
const CA_ROTATION_FAILED = 'CaRotationFailed';

const ca = proxyActivities<CaRotationActivities & Pick<CertificateActivities, 'publishCertificateMaterial'>>(PKI_ACTIVITY_OPTIONS);

export async function caRotationWorkflow(input: CaRotationInput): Promise<CaRotationResult> {
  const info = workflowInfo();
  const acked = materialAckWaiter(input.tenantId, input.actor, input.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS);

  const begun = await ca.beginCaRotation({ tenantId: input.tenantId, caId: input.caId, newRoot: input.newRoot, actor: input.actor });
  // Trust overlap first: every proxy trusts old and new before any leaf of the new CA is served.
  await acked(await ca.publishCertificateMaterial({ tenantId: input.tenantId, actor: input.actor }));

  const leaves: CaRotationResult['leaves'] = [];
  for (const certificateName of begun.leaves) {
    try {
      const r = await executeChild(certRotationWorkflow, {
        workflowId: `${info.workflowId}:leaf:${certificateName}`,
        args: [
          {
            tenantId: input.tenantId,
            certificateName,
            actor: input.actor,
            ...(input.graceSeconds !== undefined ? { graceSeconds: input.graceSeconds } : {}),
            ...(input.ackTimeoutMs !== undefined ? { ackTimeoutMs: input.ackTimeoutMs } : {}),
            ...(input.maxAttempts !== undefined ? { maxAttempts: input.maxAttempts } : {}),
            ...(input.retryBackoffSeconds !== undefined ? { retryBackoffSeconds: input.retryBackoffSeconds } : {}),
          },
        ],
      });
      leaves.push({ certificateName, oldSerial: r.oldSerial, newSerial: r.newSerial });
    } catch (err) {
      const error = errorText(err);
      await notify({
        tenantId: input.tenantId,
        kind: CA_ROTATION_FAILED_KIND,
        severity: 'critical',
        subject: `CA rotation stopped: certificate "${certificateName}" could not be reissued; old and new CA both stay trusted`,
        details: { caId: input.caId, newCaId: begun.newCaId, certificateName, error, workflowId: info.workflowId },
        dedupeKey: `${info.workflowId}:${info.runId}:failed:${certificateName}`,
      });
      throw ApplicationFailure.nonRetryable(`CA rotation stopped at certificate "${certificateName}": ${error}`, CA_ROTATION_FAILED, { certificateName, error });
    }
  }

  // Every consumer verified the new leaves (handshake per rotation): the old trust can go.
  const retiredCaIds = await ca.retireRotatedCas({ tenantId: input.tenantId, caIds: begun.retiringCaIds, actor: input.actor });
  await acked(await ca.publishCertificateMaterial({ tenantId: input.tenantId, actor: input.actor }));
  return { newCaId: begun.newCaId, retiredCaIds, leaves };
}
