import { CheckRegoBodySchema } from '@/contracts/policy.schema';
import { apiRoute } from '@/server/http/api-route';
import { getPolicyDeps } from '@/server/opa/policy-deps';
import { checkRegoFor } from '@/server/services/policy-api.service';

/** `opa check` on unsaved modules (editor markers: file, row, column); stores nothing. */
export const POST = apiRoute({
  route: '/api/v1/policies/check',
  method: 'POST',
  permission: 'policies.read',
  body: CheckRegoBodySchema,
  handle: ({ principal, body }) => checkRegoFor(getPolicyDeps(), principal, body.modules),
});
