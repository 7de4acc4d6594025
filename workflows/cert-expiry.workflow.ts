/**
 * certExpiryCheckWorkflow (issue 8, Deliver 5), run by the certExpiryScheduleId(task queue) Temporal Schedule:
 * alerts on certificates about to expire (`certificate.expiring`, one delivery per certificate per UTC day
 * through the dedupe key), then re-signs stale CRLs and re-publishes the snapshots that carry them.
 * Deterministic code only; contracts are imported as types.
 */
import { proxyActivities } from '@temporalio/workflow';
import { notify, PKI_ACTIVITY_OPTIONS } from './certificate-material';
import type { CertExpiryActivities, CertExpiryCheckInput, CertExpiryCheckResult } from '../contracts/cert-expiry.schema';

// Same string as contracts/cert-expiry.schema.ts CERT_EXPIRING_KIND (values are not imported into the bundle).
const CERT_EXPIRING_KIND = 'certificate.expiring';

const { listExpiringCertificates, refreshCrlsAndSnapshots } = proxyActivities<CertExpiryActivities>(PKI_ACTIVITY_OPTIONS);

export async function certExpiryCheckWorkflow(input: CertExpiryCheckInput): Promise<CertExpiryCheckResult> {
  const expiring = await listExpiringCertificates({ thresholdSeconds: input.thresholdSeconds });
  let notified = 0;
  for (const c of expiring) {
    const hours = Math.max(0, Math.round(c.secondsUntilExpiry / 360) / 10);
    await notify({
      tenantId: c.tenantId,
      kind: CERT_EXPIRING_KIND,
      severity: c.secondsUntilExpiry <= 86_400 ? 'critical' : 'warning',
      subject: c.secondsUntilExpiry > 0 ? `certificate "${c.certificateName}" expires in ${hours} h` : `certificate "${c.certificateName}" has expired`,
      details: { certificateId: c.certificateId, certificateName: c.certificateName, serial: c.serial, notAfter: c.notAfter, secondsUntilExpiry: c.secondsUntilExpiry },
      dedupeKey: c.dedupeKey,
    });
    notified++;
  }
  const refreshed = await refreshCrlsAndSnapshots({ actor: input.actor });
  return { expiring: expiring.length, notified, ...refreshed };
}
