import { PublishXdpPolicyBodySchema } from '@/contracts/xdp.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { getAppTemporal } from '@/server/temporal/app-temporal';
import { startXdpPolicyPush } from '@/server/services/xdp.service';

/**
 * Pushes the version to its node group with pushXdpPolicyWorkflow: 202 once started, or with
 * `{"wait": true}` 200 when it finished (status completed / superseded / rejected / timedOut / failed).
 */
export const POST = apiRoute({
  route: '/api/v1/xdp-policies/[id]/publish',
  method: 'POST',
  permission: 'policies.write',
  body: PublishXdpPolicyBodySchema,
  handle: async ({ db, principal, params, body }) => {
    const push = await startXdpPolicyPush(db, principal, params.id ?? '', body, getAppTemporal);
    return jsonResponse({ push }, { status: push.status === 'running' && !body.wait ? 202 : 200 });
  },
});
