import { RevertRevisionBodySchema } from '@/contracts/route-graph-api.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { revertToRevision, revisionCaller } from '@/server/services/revision.service';

/** A new proposed revision equal to revision [id] (apply it to make it live). */
export const POST = apiRoute({
  route: '/api/v1/revisions/[id]/revert',
  method: 'POST',
  permission: 'revisions.write',
  body: RevertRevisionBodySchema,
  handle: async ({ db, principal, params, body }) =>
    jsonResponse({ revision: await revertToRevision(db, revisionCaller(principal, 'revisions.write'), params.id ?? '', body) }, { status: 201 }),
});
