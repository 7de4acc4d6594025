import { RevisionsQuerySchema } from '@/contracts/api-v1.schema';
import { apiRoute } from '@/server/http/api-route';
import { listTenantRevisions } from '@/server/services/revision-read.service';

export const GET = apiRoute({
  route: '/api/v1/revisions',
  method: 'GET',
  permission: 'revisions.read',
  query: RevisionsQuerySchema,
  handle: ({ db, principal, query }) => listTenantRevisions(db, principal, query),
});
