import { apiRoute } from '@/server/http/api-route';
import { getCaFor } from '@/server/services/certificate-api.service';

export const GET = apiRoute({
  route: '/api/v1/cas/[id]',
  method: 'GET',
  permission: 'cas.read',
  handle: async ({ db, principal, params }) => ({ ca: await getCaFor(db, principal, params.id ?? '') }),
});
