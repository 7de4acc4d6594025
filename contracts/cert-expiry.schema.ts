/**
 * The scheduled certificate expiry check (issue 8, Deliver 5): one Temporal Schedule per task queue
 * (certExpiryScheduleId)
 * runs certExpiryCheckWorkflow every CERT_EXPIRY_CHECK_INTERVAL. It alerts (`certificate.expiring`, once per
 * certificate per UTC day) on active certificates expiring within max(threshold, their renew-before), re-signs
 * CRLs past half their lifetime and re-publishes the live snapshots of those tenants (CRLs are inline in them).
 */
import type { Actor } from './workflows.schema';

export const CERT_EXPIRY_CHECK_WORKFLOW = 'certExpiryCheckWorkflow';
/** One per namespace and task queue: the worker replicas of a deployment share it; deployments do not. */
export const certExpiryScheduleId = (taskQueue: string) => `cert-expiry-check:${taskQueue}`;
/** Notification kind of an expiring certificate. */
export const CERT_EXPIRING_KIND = 'certificate.expiring';

export interface CertExpiryCheckInput {
  /** Alert on certificates expiring within this many seconds (or within their own renew-before, if longer). */
  thresholdSeconds: number;
  actor: Actor;
}

export interface ExpiringCertificate {
  tenantId: string;
  certificateId: string;
  certificateName: string;
  serial: string;
  notAfter: string;
  secondsUntilExpiry: number;
  /** `certificate.expiring:<certificate id>:<UTC day>`: one delivery per certificate per day. */
  dedupeKey: string;
}

export interface CertExpiryCheckResult {
  expiring: number;
  notified: number;
  crlsRefreshed: number;
  republishedTenants: number;
}

export interface CertExpiryActivities {
  listExpiringCertificates(input: { thresholdSeconds: number }): Promise<ExpiringCertificate[]>;
  /** refreshStaleCrls for every tenant, then refreshLiveSnapshots for each tenant whose CRL changed. */
  refreshCrlsAndSnapshots(input: { actor: Actor }): Promise<{ crlsRefreshed: number; republishedTenants: number }>;
}

export function expiryDedupeKey(certificateId: string, now: Date): string {
  return `${CERT_EXPIRING_KIND}:${certificateId}:${now.toISOString().slice(0, 10)}`;
}
