import { apiRoute } from '@/server/http/api-route';
import { retireCaFor } from '@/server/services/certificate-api.service';

/** Takes a CA out of the trust bundle (after a CA rotation reissued everything it signed). */
export const POST = apiRoute({
  route: '/api/v1/cas/[id]/retire',
  method: 'POST',
  permission: 'cas.manage',
  handle: async ({ db, principal, params }) => ({ ca: await retireCaFor(db, principal, params.id ?? '') }),
});
