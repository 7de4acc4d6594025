import { AgainstQuerySchema } from '@/contracts/route-graph-api.schema';
import { apiRoute } from '@/server/http/api-route';
import { planRevision, revisionCaller } from '@/server/services/revision.service';

export const GET = apiRoute({
  route: '/api/v1/revisions/[id]/plan',
  method: 'GET',
  permission: 'revisions.read',
  query: AgainstQuerySchema,
  handle: ({ db, principal, params, query }) => planRevision(db, revisionCaller(principal, 'revisions.read'), params.id ?? '', query.against),
});
