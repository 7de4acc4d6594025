import { RotateCertificateBodySchema } from '@/contracts/certificate.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { rotateCertificateNow } from '@/server/services/certificate-rotation.service';

/** Rotates now: starts (or joins) certRotationWorkflow for the certificate's name. */
export const POST = apiRoute({
  route: '/api/v1/certificates/[id]/rotate',
  method: 'POST',
  permission: 'certificates.write',
  body: RotateCertificateBodySchema,
  handle: async ({ db, principal, params, body }) => jsonResponse({ rotation: await rotateCertificateNow(db, principal, params.id ?? '', body) }, { status: 202 }),
});
