import { RevokeCertificateBodySchema } from '@/contracts/certificate.schema';
import { apiRoute } from '@/server/http/api-route';
import { getAppKeyBox } from '@/server/pki/key-box';
import { revokeCertificateFor } from '@/server/services/certificate-api.service';

/** Revokes the certificate; its CA's CRL is re-signed at once. */
export const POST = apiRoute({
  route: '/api/v1/certificates/[id]/revoke',
  method: 'POST',
  permission: 'certificates.write',
  body: RevokeCertificateBodySchema,
  handle: async ({ db, principal, params, body }) => ({ certificate: await revokeCertificateFor(db, getAppKeyBox(), principal, params.id ?? '', body.reason) }),
});
