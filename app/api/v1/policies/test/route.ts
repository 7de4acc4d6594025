import { TestRegoBodySchema } from '@/contracts/policy.schema';
import { apiRoute } from '@/server/http/api-route';
import { getPolicyDeps } from '@/server/opa/policy-deps';
import { testRegoFor } from '@/server/services/policy-api.service';

/** `opa test` on unsaved modules (+ data), with per-test results; stores nothing. */
export const POST = apiRoute({
  route: '/api/v1/policies/test',
  method: 'POST',
  permission: 'policies.read',
  body: TestRegoBodySchema,
  handle: ({ principal, body }) => testRegoFor(getPolicyDeps(), principal, body.modules, body.data),
});
