/**
 * Certificate rotation (issue 8), started by the certificate's Temporal Schedule or on demand
 * (server/services/cert-rotation.service.ts). One attempt:
 *   note the served certificate → issue its successor (idempotent per workflow run and attempt)
 *   → re-publish the live revision (the snapshot's Secret now names the new serial; SDS on the same ADS stream)
 *   → await every proxy's ACK → TLS handshakes through each listener serving it: served serial and chain checked.
 * A NACK, an ACK timeout or a failed check rolls the attempt back (the new leaf is revoked, the old one is
 * active again and re-published, so proxies keep serving it), alerts (`certificate.rotation_failed`) and
 * retries with exponential backoff, up to maxAttempts. Every attempt is audited.
 * After a success the old certificate stays valid for the grace period (a durable timer), then it is
 * revoked and the new CRL is published.
 *
 * Deterministic code only: no I/O, no clocks, no randomness; contracts are imported as types.
 */
import { ApplicationFailure, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import { errorText } from './activity-failure';
import { materialAckWaiter, notify, PKI_ACTIVITY_OPTIONS } from './certificate-material';
import type { CertificateActivities, CertRotationResult, ServedCertificateCheck } from '../contracts/cert-rotation.schema';
import type { CertRotationInput } from '../contracts/certificate.schema';

const DEFAULT_MAX_ATTEMPTS = 5;
const DEFAULT_BACKOFF_SECONDS = 60;
const MAX_BACKOFF_SECONDS = 3600;
const DEFAULT_GRACE_SECONDS = 3600;
const DEFAULT_ACK_TIMEOUT_MS = 60_000;
// Same strings as contracts/cert-rotation.schema.ts (values are not imported into the workflow bundle).
const ATTEMPT_AUDIT_FAILED_KIND = 'certificate.rotation_failed';
const ROTATION_FAILED = 'CertificateRotationFailed';

const pki = proxyActivities<CertificateActivities>(PKI_ACTIVITY_OPTIONS);
const { verifyServedCertificate } = proxyActivities<CertificateActivities>({
  startToCloseTimeout: '1 minute',
  // A failed check is a non-retryable ApplicationFailure (the activity already retries handshakes itself).
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
});

export async function certRotationWorkflow(input: CertRotationInput): Promise<CertRotationResult> {
  const info = workflowInfo();
  const maxAttempts = input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const ackTimeoutMs = input.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
  /** Waits for every proxy of every node group to ACK what `published` produced; throws on NACK or timeout. */
  const acked = materialAckWaiter(input.tenantId, input.actor, ackTimeoutMs);

  let old = await pki.currentCertificate({ tenantId: input.tenantId, certificateName: input.certificateName });
  for (let attempt = 1; ; attempt++) {
    const next = await pki.issueRotatedCertificate({
      tenantId: input.tenantId,
      certificateName: input.certificateName,
      idempotencyKey: `${info.workflowId}:${info.runId}:${attempt}`,
      actor: input.actor,
    });
    let checks: ServedCertificateCheck[];
    try {
      await acked(await pki.publishCertificateMaterial({ tenantId: input.tenantId, actor: input.actor }));
      checks = await verifyServedCertificate({ tenantId: input.tenantId, certificateName: input.certificateName, expectedSerial: next.serial });
    } catch (err) {
      const error = errorText(err);
      // Keep serving the old certificate: put it back and publish that before anything else.
      let rollbackError: string | undefined;
      try {
        await acked(await pki.rollbackCertificateRotation({ tenantId: input.tenantId, oldId: old.id, newId: next.id, actor: input.actor }));
      } catch (e) {
        rollbackError = errorText(e);
      }
      const last = attempt >= maxAttempts;
      await pki.recordRotationAttempt({
        tenantId: input.tenantId,
        certificateName: input.certificateName,
        workflowId: info.workflowId,
        attempt,
        outcome: 'failed',
        oldSerial: old.serial,
        newSerial: next.serial,
        error: rollbackError === undefined ? error : `${error}; rollback: ${rollbackError}`,
        actor: input.actor,
      });
      await notify({
        tenantId: input.tenantId,
        kind: ATTEMPT_AUDIT_FAILED_KIND,
        severity: last ? 'critical' : 'warning',
        subject: `rotation of certificate "${input.certificateName}" failed (attempt ${attempt} of ${maxAttempts}); the old certificate keeps serving`,
        details: { certificateName: input.certificateName, attempt, maxAttempts, error, rollbackError: rollbackError ?? null, oldSerial: old.serial, newSerial: next.serial, workflowId: info.workflowId },
        dedupeKey: `${info.workflowId}:${info.runId}:failed:${attempt}`,
      });
      if (last) {
        throw ApplicationFailure.nonRetryable(
          `rotation of certificate "${input.certificateName}" failed ${attempt} times; last error: ${error}`,
          ROTATION_FAILED,
          { attempts: attempt, error },
        );
      }
      const backoff = Math.min(MAX_BACKOFF_SECONDS, (input.retryBackoffSeconds ?? DEFAULT_BACKOFF_SECONDS) * 2 ** (attempt - 1));
      await sleep(backoff * 1000);
      // The served certificate may have changed meanwhile (a manual rotation): rotate what is active now.
      old = await pki.currentCertificate({ tenantId: input.tenantId, certificateName: input.certificateName });
      continue;
    }

    await pki.recordRotationAttempt({
      tenantId: input.tenantId,
      certificateName: input.certificateName,
      workflowId: info.workflowId,
      attempt,
      outcome: 'rotated',
      oldSerial: old.serial,
      newSerial: next.serial,
      checks,
      actor: input.actor,
    });
    // Connections opened before the rotation (and clients that cached the old chain) get the grace period.
    await sleep((input.graceSeconds ?? DEFAULT_GRACE_SECONDS) * 1000);
    await acked(await pki.revokeSupersededCertificate({ tenantId: input.tenantId, certificateId: old.id, actor: input.actor }));
    await pki.recordRotationAttempt({
      tenantId: input.tenantId,
      certificateName: input.certificateName,
      workflowId: info.workflowId,
      attempt,
      outcome: 'revoked',
      oldSerial: old.serial,
      newSerial: next.serial,
      actor: input.actor,
    });
    return { certificateName: input.certificateName, oldSerial: old.serial, newSerial: next.serial, attempts: attempt, checks, revokedOld: true };
  }
}
