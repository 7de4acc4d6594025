import { apiRoute } from '@/server/http/api-route';
import { getCertificateFor } from '@/server/services/certificate-api.service';

/** One certificate: subject, SANs, status, users, certificate and chain PEM (never the key). */
export const GET = apiRoute({
  route: '/api/v1/certificates/[id]',
  method: 'GET',
  permission: 'certificates.read',
  handle: async ({ db, principal, params }) => ({ certificate: await getCertificateFor(db, principal, params.id ?? '') }),
});
