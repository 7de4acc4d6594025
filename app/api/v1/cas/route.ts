import { apiRoute } from '@/server/http/api-route';
import { listCasFor } from '@/server/services/certificate-api.service';

/** The tenant's CAs: roots and intermediates, built in or imported, with status and CRL location. */
export const GET = apiRoute({
  route: '/api/v1/cas',
  method: 'GET',
  permission: 'cas.read',
  handle: async ({ db, principal }) => ({ cas: await listCasFor(db, principal) }),
});
