/**
 * SDS secrets of a snapshot (issue 8). A listener or cluster never carries key material: its transport
 * socket names Secrets delivered over ADS. In a stored snapshot:
 *   - a certificate with its private key is a reference (SECRET_REF_TYPE: secret name, certificate name,
 *     the id and serial of the certificate version to serve), so the snapshot version changes when the
 *     material rotates while the row never holds a key; the xds process turns it into a real Secret
 *     (`materializeCertificateSecret`) after decrypting the key;
 *   - the tenant's trust (CA bundle + CRLs, public material) is a real Secret with a validation context.
 * Pure: no I/O.
 */
import { SECRET_REF_TYPE, TYPE_URL, type JsonValue, type XdsResource } from './snapshot';

/** The version of a certificate proxies serve now (the tenant's active certificate of that name). */
export interface CertificateVersionRef {
  id: string;
  /** Hex serial number. */
  serial: string;
}

/** What the compiler needs to know about the tenant's certificates (read from the database by the caller). */
export interface TlsInventory {
  /** Certificate name → the version to serve. */
  certificates: ReadonlyMap<string, CertificateVersionRef>;
  /** Every CA certificate trusted now (PEM, old and new during a CA rotation) and the CRL(s) of those CAs; undefined: no CA. */
  trust?: { caBundlePem: string; crlPem: string };
}

export interface CertificateSecretRef {
  name: string;
  certificate: string;
  certificateId: string;
  serial: string;
}

/** The SDS name of a certificate's Secret (leaf chain + key). */
export function certificateSecretName(certificate: string): string {
  return `certificate/${certificate}`;
}

/** The SDS name of the tenant's validation context (CA bundle + CRL). */
export const TENANT_TRUST_SECRET = 'trust/tenant';

export function certificateSecretRef(certificate: string, version: CertificateVersionRef): XdsResource {
  return {
    '@type': SECRET_REF_TYPE,
    name: certificateSecretName(certificate),
    certificate,
    certificateId: version.id,
    serial: version.serial,
  };
}

/** A stored secret reference, or undefined when `resource` is not one. */
export function parseCertificateSecretRef(resource: XdsResource): CertificateSecretRef | undefined {
  if (resource['@type'] !== SECRET_REF_TYPE) return undefined;
  const { name, certificate, certificateId, serial } = resource;
  if (typeof name !== 'string' || typeof certificate !== 'string' || typeof certificateId !== 'string' || typeof serial !== 'string') {
    return undefined;
  }
  return { name, certificate, certificateId, serial };
}

/** The Secret Envoy receives for a reference: the certificate chain and its (decrypted) private key. */
export function materializeCertificateSecret(ref: CertificateSecretRef, material: { certChainPem: string; privateKeyPem: string }): XdsResource {
  return {
    '@type': TYPE_URL.secrets,
    name: ref.name,
    tls_certificate: {
      certificate_chain: { inline_string: material.certChainPem },
      private_key: { inline_string: material.privateKeyPem },
    },
  };
}

/**
 * The tenant's validation context: peers must chain to a trusted CA; the CRL is checked for the peer's own
 * certificate (the leaf; intermediates are the tenant's own and rotate through caRotationWorkflow).
 */
export function trustSecret(trust: { caBundlePem: string; crlPem: string }): XdsResource {
  const validation: { [k: string]: JsonValue } = { trusted_ca: { inline_string: trust.caBundlePem } };
  if (trust.crlPem.trim() !== '') {
    validation.crl = { inline_string: trust.crlPem };
    validation.only_verify_leaf_cert_crl = true;
  }
  return { '@type': TYPE_URL.secrets, name: TENANT_TRUST_SECRET, validation_context: validation };
}

/** An SdsSecretConfig that fetches `name` over the ADS stream. */
export function sdsSecretConfig(name: string): { [k: string]: JsonValue } {
  return { name, sds_config: { ads: {}, resource_api_version: 'V3' } };
}
