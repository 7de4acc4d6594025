/**
 * Certificates and certificate authorities (issue 8): REST bodies and views of /api/v1/certificates and
 * /api/v1/cas, and the certificate-rotation workflow contract (started by the API, run by the worker).
 * Views never carry private keys.
 */
import { z } from 'zod';
import { ActorSchema } from './workflows.schema';

export const CertificateNameSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, 'lowercase letters, digits, ".", "_", "-"; at most 63; starts and ends with a letter or digit');

const DnsNameSchema = z
  .string()
  .max(253)
  .regex(/^(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/, 'a DNS name (a leading "*." is allowed)');
const IpSchema = z.union([z.ipv4(), z.ipv6()], { error: 'an IPv4 or IPv6 address' });
const UriSchema = z
  .string()
  .max(2000)
  .regex(/^[a-z][a-z0-9+.-]*:\/\/[^\s]+$/, 'a URI such as spiffe://trust-domain/ns/web/sa/api');

export const CERTIFICATE_USAGES = ['server', 'client'] as const;
export const CERTIFICATE_STATUSES = ['active', 'superseded', 'revoked', 'expired'] as const;
export type CertificateStatus = (typeof CERTIFICATE_STATUSES)[number];

export const REVOCATION_REASON_NAMES = [
  'unspecified',
  'keyCompromise',
  'caCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'privilegeWithdrawn',
] as const;
export const RevocationReasonSchema = z.enum(REVOCATION_REASON_NAMES);
export type RevocationReason = z.infer<typeof RevocationReasonSchema>;

const HOUR = 3600;
/** Leaves live at most about 13 months (CA/B forum style); the defaults follow cert-manager: 90 days, renew 30 before. */
export const MAX_LEAF_VALIDITY_HOURS = 397 * 24;
export const DEFAULT_LEAF_VALIDITY_HOURS = 90 * 24;
export const DEFAULT_RENEW_BEFORE_HOURS = 30 * 24;

export const IssueCertificateBodySchema = z
  .strictObject({
    name: CertificateNameSchema,
    commonName: z.string().min(1).max(64),
    dnsNames: z.array(DnsNameSchema).max(100).default([]),
    ipAddresses: z.array(IpSchema).max(100).default([]),
    uris: z.array(UriSchema).max(20).default([]),
    usage: z.enum(CERTIFICATE_USAGES),
    /** Lifetime of the leaf, hours (minimum 1 minute for tests that rotate fast). */
    validityHours: z.number().positive().min(1 / 60).max(MAX_LEAF_VALIDITY_HOURS).default(DEFAULT_LEAF_VALIDITY_HOURS),
    /** Renew this long before expiry, hours; less than validityHours. */
    renewBeforeHours: z.number().positive().optional(),
    /** Which of the tenant's CAs signs (default: the active built-in intermediate). */
    caId: z.uuid().optional(),
  })
  .superRefine((b, ctx) => {
    if (b.renewBeforeHours !== undefined && b.renewBeforeHours >= b.validityHours) {
      ctx.addIssue({ code: 'custom', path: ['renewBeforeHours'], message: 'must be less than validityHours' });
    }
  });
export type IssueCertificateBody = z.input<typeof IssueCertificateBodySchema>;
export type IssueCertificateSpec = z.output<typeof IssueCertificateBodySchema>;

/** The default renew-before: 30 days, or a third of the validity for shorter leaves. */
export function defaultRenewBeforeSeconds(validitySeconds: number): number {
  return Math.min(DEFAULT_RENEW_BEFORE_HOURS * HOUR, Math.floor(validitySeconds / 3));
}

const PemSchema = z.string().min(1).max(200_000);

export const ImportCertificateBodySchema = z.strictObject({
  name: CertificateNameSchema,
  usage: z.enum(CERTIFICATE_USAGES),
  certPem: PemSchema,
  keyPem: PemSchema,
  /** The issuers of certPem, nearest first. */
  chainPem: PemSchema,
  renewBeforeHours: z.number().positive().optional(),
});
export type ImportCertificateBody = z.infer<typeof ImportCertificateBodySchema>;

export const ImportCaBodySchema = z.strictObject({
  certPem: PemSchema,
  keyPem: PemSchema,
});
export type ImportCaBody = z.infer<typeof ImportCaBodySchema>;

export const RevokeCertificateBodySchema = z.strictObject({
  reason: RevocationReasonSchema.default('unspecified'),
});

export const RotateCertificateBodySchema = z.strictObject({
  /** How long the old leaf stays valid (not revoked) after the new one is served, seconds. */
  graceSeconds: z.number().int().min(0).max(30 * 24 * HOUR).optional(),
});

export const ScheduleCertificateBodySchema = z.strictObject({
  /** Run rotation this often (e.g. "720h", "30m"); default: validity − renewBefore of the certificate. */
  every: z.string().regex(/^\d+(s|m|h|d)$/, 'a number and a unit: "30m", "12h", "60d"').optional(),
  graceSeconds: z.number().int().min(0).max(30 * 24 * HOUR).optional(),
  /** Pause (true) or resume (false) the existing schedule. */
  paused: z.boolean().optional(),
});
export type ScheduleCertificateBody = z.infer<typeof ScheduleCertificateBodySchema>;

export const NewIntermediateBodySchema = z.strictObject({
  /** The root's private key (PEM) when the root is offline (its key was removed from the server). */
  rootKeyPem: PemSchema.optional(),
  /** Also create a new root (the old root and its intermediates stay trusted until retired). */
  newRoot: z.boolean().default(false),
});
export type NewIntermediateBody = z.input<typeof NewIntermediateBodySchema>;

export const ExportRootKeyBodySchema = z.strictObject({
  /** Remove the key from the server after exporting it (offline root). */
  remove: z.boolean().default(false),
});

export const ListCertificatesQuerySchema = z.strictObject({
  /** Only certificates whose notAfter is within this many hours (active ones). */
  expiringWithinHours: z.coerce.number().positive().max(100_000).optional(),
  status: z.enum(CERTIFICATE_STATUSES).optional(),
  name: CertificateNameSchema.optional(),
});

export interface CertificateUsers {
  listeners: string[];
  clusters: string[];
}

export interface CertificateView {
  id: string;
  name: string;
  source: 'builtin' | 'imported';
  caId: string | null;
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
  usage: 'server' | 'client';
  serial: string;
  status: CertificateStatus;
  notBefore: string;
  notAfter: string;
  validitySeconds: number;
  renewBeforeSeconds: number;
  /** When rotation is due (notAfter - renewBefore). */
  renewAt: string;
  secondsUntilExpiry: number;
  supersededById: string | null;
  revokedAt: string | null;
  revocationReason: string | null;
  createdBy: string;
  createdAt: string;
  /** Listeners and clusters of the live route graph that reference this certificate's name. */
  usedBy: CertificateUsers;
}

export interface CertificateDetailView extends CertificateView {
  certPem: string;
  chainPem: string;
}

export interface CaView {
  id: string;
  kind: 'root' | 'intermediate';
  source: 'builtin' | 'imported';
  parentId: string | null;
  subject: string;
  serial: string;
  status: 'active' | 'retiring' | 'retired';
  notBefore: string;
  notAfter: string;
  /** Whether the private key is on the server (false: offline root). */
  keyOnline: boolean;
  crlNumber: number;
  crlNextUpdate: string | null;
  /** Public URL path of the CRL. */
  crlPath: string;
  certPem: string;
  createdAt: string;
  retiredAt: string | null;
}

// ---------------------------------------------------------------------------------------------------------
// Workflows (certRotationWorkflow belongs to the delivery side; caRotationWorkflow: ./ca-rotation.schema.ts; the expiry check: ./cert-expiry.schema.ts).

export const CERT_ROTATION_WORKFLOW = 'certRotationWorkflow';
export const CertRotationInputSchema = z.strictObject({
  tenantId: z.uuid(),
  certificateName: CertificateNameSchema,
  actor: ActorSchema,
  graceSeconds: z.number().int().min(0).optional(),
  /** Rotation attempts before the workflow gives up (each failure alerts and backs off); default 5. (8b) */
  maxAttempts: z.number().int().min(1).max(50).optional(),
  /** First backoff between attempts, seconds (doubles, at most 1 h); default 60. (8b) */
  retryBackoffSeconds: z.number().int().min(1).max(3600).optional(),
  /** How long proxies have to ACK new material, ms; default 60000. (8b) */
  ackTimeoutMs: z.number().int().min(1000).max(600_000).optional(),
});
export type CertRotationInput = z.infer<typeof CertRotationInputSchema>;
export const certRotationWorkflowId = (tenantId: string, name: string) => `cert-rotation:${tenantId}:${name}`;
export const certRotationScheduleId = certRotationWorkflowId;

