import { apiRoute } from '@/server/http/api-route';
import { getRollout } from '@/server/services/rollout.service';

export const GET = apiRoute({
  route: '/api/v1/rollouts/[id]',
  method: 'GET',
  permission: 'rollouts.read',
  handle: ({ db, principal, params }) => getRollout(db, principal, params.id ?? ''),
});
