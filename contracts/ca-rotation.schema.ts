/**
 * caRotationWorkflow (issue 8, Deliver 4): new intermediate (or root + intermediate) → trust bundle with old and
 * new CAs published → every active leaf of the old CAs reissued by a certRotationWorkflow child (each verifies
 * its listeners with a TLS handshake) → the old CAs retired → published without the old trust.
 */
import { z } from 'zod';
import { ActorSchema } from './workflows.schema';

export const CA_ROTATION_WORKFLOW = 'caRotationWorkflow';
/** Notification kind of a CA rotation that stopped (the old and the new CA both stay trusted). */
export const CA_ROTATION_FAILED_KIND = 'certificate.ca_rotation_failed';

const rotationOptions = {
  /** Also create a new root (its old root and intermediates are retired at the end). */
  newRoot: z.boolean().default(false),
  /** Grace period of each reissued leaf before its old version is revoked, seconds. */
  graceSeconds: z.number().int().min(0).max(30 * 24 * 3600).optional(),
  /** How long proxies have to ACK new material, ms. */
  ackTimeoutMs: z.number().int().min(1000).max(600_000).optional(),
  /** Attempts per leaf rotation. */
  maxAttempts: z.number().int().min(1).max(50).optional(),
  retryBackoffSeconds: z.number().int().min(1).max(3600).optional(),
};

export const RotateCaBodySchema = z.strictObject(rotationOptions);
export type RotateCaBody = z.input<typeof RotateCaBodySchema>;

export const CaRotationInputSchema = z.strictObject({
  tenantId: z.uuid(),
  /** The active (or, when its successor exists already, retiring) built-in CA being replaced. */
  caId: z.uuid(),
  actor: ActorSchema,
  ...rotationOptions,
});
export type CaRotationInput = z.infer<typeof CaRotationInputSchema>;
export const caRotationWorkflowId = (tenantId: string, caId: string) => `ca-rotation:${tenantId}:${caId}`;

export interface CaRotationBegun {
  newCaId: string;
  /** CAs still trusted but being replaced (intermediates before roots). */
  retiringCaIds: string[];
  /** Names of the active, unexpired leaves they signed (each gets a certRotationWorkflow). */
  leaves: string[];
}

export interface CaRotationResult {
  newCaId: string;
  retiredCaIds: string[];
  leaves: { certificateName: string; oldSerial: string; newSerial: string }[];
}

export interface CaRotationActivities {
  /** Creates the new CA (idempotent: a CA already retiring returns the current signing intermediate). */
  beginCaRotation(input: { tenantId: string; caId: string; newRoot: boolean; actor: CaRotationInput['actor'] }): Promise<CaRotationBegun>;
  /** Retires the given CAs (intermediates first); refused while one still signs an active leaf. */
  retireRotatedCas(input: { tenantId: string; caIds: string[]; actor: CaRotationInput['actor'] }): Promise<string[]>;
}
