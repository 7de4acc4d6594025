import { GraphBodySchema } from '@/contracts/route-graph-api.schema';
import { apiRoute } from '@/server/http/api-route';
import { revisionCaller, translateGraph } from '@/server/services/revision.service';

/** Graph → xDS resources (proto3 JSON) per node group, without storing or applying anything. */
export const POST = apiRoute({
  route: '/api/v1/translate',
  method: 'POST',
  permission: 'revisions.write',
  body: GraphBodySchema,
  handle: async ({ db, principal, body }) => {
    const caller = revisionCaller(principal, 'revisions.write');
    return translateGraph(db, caller, body.graph);
  },
});
