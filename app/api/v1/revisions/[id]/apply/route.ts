import { ApplyRevisionBodySchema } from '@/contracts/route-graph-api.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { applyRevision, revisionCaller } from '@/server/services/revision.service';

/** Starts publishRevisionWorkflow (202), or with `wait: true` answers 200 once it finished. */
export const POST = apiRoute({
  route: '/api/v1/revisions/[id]/apply',
  method: 'POST',
  permission: 'revisions.write',
  body: ApplyRevisionBodySchema,
  handle: async ({ db, principal, params, body }) => {
    const result = await applyRevision(db, revisionCaller(principal, 'revisions.write'), params.id ?? '', body);
    return jsonResponse(result, { status: body.wait ? 200 : 202 });
  },
});
