import { GraphBodySchema } from '@/contracts/route-graph-api.schema';
import { apiRoute } from '@/server/http/api-route';
import { revisionCaller, validateGraphInput } from '@/server/services/revision.service';

/** 200 with `{ valid, issues }`: an invalid graph is an answer here, not an error. Stores nothing. */
export const POST = apiRoute({
  route: '/api/v1/revisions/validate',
  method: 'POST',
  permission: 'revisions.write',
  body: GraphBodySchema,
  handle: async ({ principal, body }) => {
    revisionCaller(principal, 'revisions.write');
    const v = validateGraphInput(body.graph);
    return v.ok ? { valid: true, issues: [] } : { valid: false, issues: v.issues };
  },
});
