import { EvaluatePolicyBodySchema } from '@/contracts/policy.schema';
import { apiRoute } from '@/server/http/api-route';
import { getPolicyDeps } from '@/server/opa/policy-deps';
import { evaluatePolicyFor } from '@/server/services/policy-api.service';

/** Playground: a compiled version (default: live) evaluated with a sample input; returns the decision, stores nothing. */
export const POST = apiRoute({
  route: '/api/v1/policies/[id]/evaluate',
  method: 'POST',
  permission: 'policies.read',
  body: EvaluatePolicyBodySchema,
  handle: ({ db, principal, params, body }) => evaluatePolicyFor(db, getPolicyDeps(), principal, params.id ?? '', body),
});
