import { RotateCaBodySchema } from '@/contracts/ca-rotation.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { rotateCaNow } from '@/server/services/ca-rotation.service';

/** Rotates the CA: starts (or joins) caRotationWorkflow (new CA, trust overlap, every leaf reissued, old CA retired). */
export const POST = apiRoute({
  route: '/api/v1/cas/[id]/rotate',
  method: 'POST',
  permission: 'cas.manage',
  body: RotateCaBodySchema,
  handle: async ({ db, principal, params, body }) => jsonResponse({ rotation: await rotateCaNow(db, principal, params.id ?? '', body) }, { status: 202 }),
});
