import { PolicyDecisionsQuerySchema } from '@/contracts/policy.schema';
import { apiRoute } from '@/server/http/api-route';
import { listPolicyDecisionsFor } from '@/server/services/policy-api.service';

/** Sampled ext_authz decisions of the policy, newest first (filters: allowed, method, route, since; paging: before). */
export const GET = apiRoute({
  route: '/api/v1/policies/[id]/decisions',
  method: 'GET',
  permission: 'policies.read',
  query: PolicyDecisionsQuerySchema,
  handle: ({ db, principal, params, query }) => listPolicyDecisionsFor(db, principal, params.id ?? '', query),
});
