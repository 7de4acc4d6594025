import { apiRoute } from '@/server/http/api-route';
import { getPolicyVersionFor } from '@/server/services/policy-api.service';

/** One version with its modules and data document. */
export const GET = apiRoute({
  route: '/api/v1/policies/[id]/versions/[version]',
  method: 'GET',
  permission: 'policies.read',
  handle: async ({ db, principal, params }) => ({ version: await getPolicyVersionFor(db, principal, params.id ?? '', params.version ?? '') }),
});
