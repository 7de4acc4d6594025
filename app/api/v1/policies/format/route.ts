import { FormatRegoBodySchema } from '@/contracts/policy.schema';
import { apiRoute } from '@/server/http/api-route';
import { getPolicyDeps } from '@/server/opa/policy-deps';
import { formatRegoFor } from '@/server/services/policy-api.service';

/** `opa fmt` on one unsaved module; stores nothing. */
export const POST = apiRoute({
  route: '/api/v1/policies/format',
  method: 'POST',
  permission: 'policies.read',
  body: FormatRegoBodySchema,
  handle: ({ principal, body }) => formatRegoFor(getPolicyDeps(), principal, body.module),
});
