import { NewIntermediateBodySchema } from '@/contracts/certificate.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { getAppKeyBox } from '@/server/pki/key-box';
import { createNewIntermediateFor } from '@/server/services/certificate-api.service';

/** A new signing intermediate (or root + intermediate); the previous CAs stay trusted as `retiring`. */
export const POST = apiRoute({
  route: '/api/v1/cas/intermediate',
  method: 'POST',
  permission: 'cas.manage',
  body: NewIntermediateBodySchema,
  handle: async ({ db, principal, body }) => jsonResponse(await createNewIntermediateFor(db, getAppKeyBox(), principal, body), { status: 201 }),
});
