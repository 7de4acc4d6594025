/**
 * SDS at send time (issue 8): a stored snapshot names the certificate versions its Secrets hold
 * (core/xds/secrets.ts references: certificate id + serial, never a key). Before the snapshot enters the
 * cache, this module resolves each reference into a real Secret with the certificate chain and the private
 * key, decrypted here, in the xds process. The snapshot version stays the stored one: it already changes
 * whenever a reference does (new serial = new version), so proxies receive rotated material as an ordinary
 * new version on the same ADS stream.
 */
import { materializeCertificateSecret, parseCertificateSecretRef } from '../../core/xds/secrets';
import type { SnapshotResources } from '../../core/xds/snapshot';

/** One certificate version's material (decrypted), or null when it no longer exists or was revoked. */
export type CertificateMaterialSource = (
  tenantId: string,
  certificateId: string,
) => Promise<{ serial: string; certChainPem: string; privateKeyPem: string } | null>;

export class SecretMaterialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretMaterialError';
  }
}

/**
 * `resources` with every certificate reference replaced by its Secret. Throws SecretMaterialError (the
 * caller keeps the previous snapshot) when a referenced certificate is missing or its serial differs.
 */
export async function materializeSecrets(tenantId: string, resources: SnapshotResources, source: CertificateMaterialSource): Promise<SnapshotResources> {
  if (resources.secrets.length === 0) return resources;
  const secrets = await Promise.all(
    resources.secrets.map(async (secret) => {
      const ref = parseCertificateSecretRef(secret);
      if (ref === undefined) return secret; // trust bundles are stored as they are sent
      const material = await source(tenantId, ref.certificateId);
      if (material === null) {
        throw new SecretMaterialError(`secret "${ref.name}": certificate "${ref.certificate}" (${ref.certificateId}) has no material to serve`);
      }
      if (material.serial.toLowerCase() !== ref.serial.toLowerCase()) {
        throw new SecretMaterialError(`secret "${ref.name}": certificate ${ref.certificateId} has serial ${material.serial}, the snapshot names ${ref.serial}`);
      }
      return materializeCertificateSecret(ref, material);
    }),
  );
  return { ...resources, secrets };
}
