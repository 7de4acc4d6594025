/**
 * certRotationWorkflow's activities (workers/certificate.activities.ts) and result (issue 8). The workflow
 * input (CertRotationInput) and its id live in ./certificate.schema.ts.
 */
import type { Actor, SnapshotVersion } from './workflows.schema';

/** Audit action of every rotation attempt (details: attempt, outcome, serials, error). */
export const CERT_ROTATION_ATTEMPT_AUDIT = 'certificate.rotation.attempt';
/** Notification kind of a failed attempt (sent through the `notify` activity). */
export const CERT_ROTATION_FAILED_KIND = 'certificate.rotation_failed';
/** ApplicationFailure type of a handshake check that did not see the expected certificate. */
export const HANDSHAKE_CHECK_FAILED = 'CertificateHandshakeCheckFailed';

export interface CertificateVersionInfo {
  id: string;
  serial: string;
}

/** What re-publishing the live revision produced: the versions proxies must ACK (none without a live revision). */
export interface MaterialPublished {
  revisionId: string | null;
  snapshots: SnapshotVersion[];
}

export interface ServedCertificateCheck {
  listener: string;
  host: string;
  port: number;
  servername: string;
  serial: string;
  /** The chain verified against the tenant's trust bundle (and the host name against the SANs). */
  chainVerified: boolean;
}

export interface CertRotationAttemptRecord {
  tenantId: string;
  certificateName: string;
  workflowId: string;
  attempt: number;
  outcome: 'rotated' | 'failed' | 'revoked';
  oldSerial: string;
  newSerial: string | null;
  error?: string;
  checks?: ServedCertificateCheck[];
  actor: Actor;
}

export interface CertRotationResult {
  certificateName: string;
  oldSerial: string;
  newSerial: string;
  attempts: number;
  checks: ServedCertificateCheck[];
  /** The old certificate was revoked after the grace period. */
  revokedOld: boolean;
}

export interface CertificateActivities {
  /** The active certificate of the name (what is served now). */
  currentCertificate(input: { tenantId: string; certificateName: string }): Promise<CertificateVersionInfo>;
  /** Issues the successor (same subject, SANs, usage, validity); idempotent per idempotencyKey. */
  issueRotatedCertificate(input: { tenantId: string; certificateName: string; idempotencyKey: string; actor: Actor }): Promise<CertificateVersionInfo>;
  /** Re-publishes the live revision with the tenant's current certificates, trust and CRLs (SDS). */
  publishCertificateMaterial(input: { tenantId: string; actor: Actor }): Promise<MaterialPublished>;
  /** TLS handshakes through every listener serving the certificate: the served serial and chain are checked. */
  verifyServedCertificate(input: { tenantId: string; certificateName: string; expectedSerial: string }): Promise<ServedCertificateCheck[]>;
  /** A failed attempt: the new certificate is revoked, the old one is active again, and that is published. */
  rollbackCertificateRotation(input: { tenantId: string; oldId: string; newId: string; actor: Actor }): Promise<MaterialPublished>;
  /** Revokes the superseded certificate (reason superseded) and publishes the new CRL. Idempotent. */
  revokeSupersededCertificate(input: { tenantId: string; certificateId: string; actor: Actor }): Promise<MaterialPublished>;
  /** One audit entry per attempt. */
  recordRotationAttempt(input: CertRotationAttemptRecord): Promise<void>;
}
