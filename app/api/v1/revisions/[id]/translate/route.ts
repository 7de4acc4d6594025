import { apiRoute } from '@/server/http/api-route';
import { revisionCaller, translateRevision } from '@/server/services/revision.service';

/** The xDS resources (proto3 JSON) each node group receives from this revision. */
export const GET = apiRoute({
  route: '/api/v1/revisions/[id]/translate',
  method: 'GET',
  permission: 'revisions.read',
  handle: ({ db, principal, params }) => translateRevision(db, revisionCaller(principal, 'revisions.read'), params.id ?? ''),
});
