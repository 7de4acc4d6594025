import { apiRoute } from '@/server/http/api-route';
import { listLiveRoutes } from '@/server/services/route.service';

/** The routes of the tenant's live revision. */
export const GET = apiRoute({
  route: '/api/v1/routes',
  method: 'GET',
  permission: 'routes.read',
  handle: ({ db, principal }) => listLiveRoutes(db, principal),
});
