import { ScheduleCertificateBodySchema } from '@/contracts/certificate.schema';
import { apiRoute } from '@/server/http/api-route';
import { scheduleCertificateRotation } from '@/server/services/certificate-rotation.service';

/** Creates or updates the Temporal Schedule that rotates the certificate (default: when renewal is due). */
export const POST = apiRoute({
  route: '/api/v1/certificates/[id]/schedule',
  method: 'POST',
  permission: 'certificates.write',
  body: ScheduleCertificateBodySchema,
  handle: async ({ db, principal, params, body }) => ({ schedule: await scheduleCertificateRotation(db, principal, params.id ?? '', body) }),
});
