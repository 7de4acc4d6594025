import { apiRoute } from '@/server/http/api-route';
import { getTenantRevision } from '@/server/services/revision-read.service';

export const GET = apiRoute({
  route: '/api/v1/revisions/[id]',
  method: 'GET',
  permission: 'revisions.read',
  handle: async ({ db, principal, params }) => ({ revision: await getTenantRevision(db, principal, params.id ?? '') }),
});
