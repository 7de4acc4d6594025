import { apiRoute } from '@/server/http/api-route';
import { describeMe } from '@/server/services/auth.service';

export const GET = apiRoute({
  route: '/api/v1/me',
  method: 'GET',
  permission: 'me.read',
  handle: ({ db, principal }) => describeMe(db, principal),
});
