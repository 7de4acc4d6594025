import { RolloutDecisionBodySchema } from '@/contracts/rollout.schema';
import { apiRoute } from '@/server/http/api-route';
import { sendRolloutCommand } from '@/server/services/rollout.service';

export const POST = apiRoute({
  route: '/api/v1/rollouts/[id]/reject',
  method: 'POST',
  permission: 'approvals.decide',
  body: RolloutDecisionBodySchema,
  handle: ({ db, principal, params, body }) => sendRolloutCommand(db, principal, params.id ?? '', 'reject', body),
});
