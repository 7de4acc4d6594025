import { apiRoute } from '@/server/http/api-route';
import { getPolicyFor } from '@/server/services/policy-api.service';

/** The policy (by id or name) and its versions, newest first. */
export const GET = apiRoute({
  route: '/api/v1/policies/[id]',
  method: 'GET',
  permission: 'policies.read',
  handle: ({ db, principal, params }) => getPolicyFor(db, principal, params.id ?? ''),
});
