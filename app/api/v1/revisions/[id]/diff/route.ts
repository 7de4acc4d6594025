import { AgainstQuerySchema } from '@/contracts/route-graph-api.schema';
import { apiRoute } from '@/server/http/api-route';
import { diffRevision, revisionCaller } from '@/server/services/revision.service';

export const GET = apiRoute({
  route: '/api/v1/revisions/[id]/diff',
  method: 'GET',
  permission: 'revisions.read',
  query: AgainstQuerySchema,
  handle: ({ db, principal, params, query }) => diffRevision(db, revisionCaller(principal, 'revisions.read'), params.id ?? '', query.against),
});
