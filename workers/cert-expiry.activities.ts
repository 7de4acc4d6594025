/**
 * Activities of certExpiryCheckWorkflow (issue 8): list the certificates about to expire (every tenant),
 * re-sign stale CRLs and re-publish the live snapshots that carry them.
 */
import { expiryDedupeKey, type CertExpiryActivities, type ExpiringCertificate } from '../contracts/cert-expiry.schema';
import { listAllActiveCertificates } from '../server/db/certificate.repo';
import type { Db } from '../server/db/client';
import { getAppKeyBox, type KeyBox } from '../server/pki/key-box';
import { normaliseSerial } from '../server/pki/x509';
import { refreshStaleCrls } from '../server/services/certificate.service';
import { refreshLiveSnapshots } from '../server/services/publish.service';

export interface CertExpiryActivityDeps {
  db: Db;
  keyBox?: () => KeyBox;
  now?: () => Date;
}

export function createCertExpiryActivities(deps: CertExpiryActivityDeps): CertExpiryActivities {
  const { db } = deps;
  const keyBox = deps.keyBox ?? getAppKeyBox;
  const now = deps.now ?? (() => new Date());
  return {
    async listExpiringCertificates({ thresholdSeconds }): Promise<ExpiringCertificate[]> {
      const at = now();
      return (await listAllActiveCertificates(db)).flatMap((c) => {
        const secondsUntilExpiry = Math.floor((c.notAfter.getTime() - at.getTime()) / 1000);
        if (secondsUntilExpiry > Math.max(thresholdSeconds, c.renewBeforeSeconds)) return [];
        return [{
          tenantId: c.tenantId,
          certificateId: c.id,
          certificateName: c.name,
          serial: normaliseSerial(c.serial),
          notAfter: c.notAfter.toISOString(),
          secondsUntilExpiry,
          dedupeKey: expiryDedupeKey(c.id, at),
        }];
      });
    },

    async refreshCrlsAndSnapshots({ actor }) {
      const tenants = await db.tenant.findMany({ select: { id: true } });
      let crlsRefreshed = 0;
      let republishedTenants = 0;
      for (const { id } of tenants) {
        const n = await refreshStaleCrls(db, keyBox(), [id], now());
        if (n === 0) continue;
        crlsRefreshed += n;
        // CRLs are inline in the snapshots: Envoy gets the re-signed one before the old one expires.
        if ((await refreshLiveSnapshots(db, { tenantId: id, actor })) !== null) republishedTenants++;
      }
      return { crlsRefreshed, republishedTenants };
    },
  };
}
