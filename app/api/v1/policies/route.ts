import { CreatePolicyBodySchema, ListPoliciesQuerySchema } from '@/contracts/policy.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { getPolicyDeps } from '@/server/opa/policy-deps';
import { createPolicyFor, listPoliciesFor } from '@/server/services/policy-api.service';

export const GET = apiRoute({
  route: '/api/v1/policies',
  method: 'GET',
  permission: 'policies.read',
  query: ListPoliciesQuerySchema,
  handle: async ({ db, principal, query }) => ({ policies: await listPoliciesFor(db, principal, query.kind) }),
});

/** A new policy with its first version: opa check → test → build; Rego that fails is a 400 with located diagnostics and nothing is stored. */
export const POST = apiRoute({
  route: '/api/v1/policies',
  method: 'POST',
  permission: 'policies.write',
  body: CreatePolicyBodySchema,
  handle: async ({ db, principal, body }) => jsonResponse(await createPolicyFor(db, getPolicyDeps(), principal, body), { status: 201 }),
});
