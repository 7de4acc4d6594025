import { CreatePolicyVersionBodySchema } from '@/contracts/policy.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { getPolicyDeps } from '@/server/opa/policy-deps';
import { createPolicyVersionFor, getPolicyFor } from '@/server/services/policy-api.service';

export const GET = apiRoute({
  route: '/api/v1/policies/[id]/versions',
  method: 'GET',
  permission: 'policies.read',
  handle: async ({ db, principal, params }) => ({ versions: (await getPolicyFor(db, principal, params.id ?? '')).versions }),
});

/** The next version: opa check → test → build; Rego that fails is a 400 with located diagnostics, nothing is stored and the live version stays. */
export const POST = apiRoute({
  route: '/api/v1/policies/[id]/versions',
  method: 'POST',
  permission: 'policies.write',
  body: CreatePolicyVersionBodySchema,
  handle: async ({ db, principal, params, body }) =>
    jsonResponse(await createPolicyVersionFor(db, getPolicyDeps(), principal, params.id ?? '', body), { status: 201 }),
});
