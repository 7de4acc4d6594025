import { ActivatePolicyBodySchema } from '@/contracts/policy.schema';
import { apiRoute } from '@/server/http/api-route';
import { activatePolicyFor } from '@/server/services/policy-api.service';

/** Makes a compiled version live (an older one = rollback); ext_authz servers swap it without restarting Envoy. */
export const POST = apiRoute({
  route: '/api/v1/policies/[id]/activate',
  method: 'POST',
  permission: 'policies.write',
  body: ActivatePolicyBodySchema,
  handle: ({ db, principal, params, body }) => activatePolicyFor(db, principal, params.id ?? '', body.version),
});
