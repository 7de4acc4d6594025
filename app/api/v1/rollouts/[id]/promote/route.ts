import { RolloutControlBodySchema } from '@/contracts/rollout.schema';
import { apiRoute } from '@/server/http/api-route';
import { sendRolloutCommand } from '@/server/services/rollout.service';

export const POST = apiRoute({
  route: '/api/v1/rollouts/[id]/promote',
  method: 'POST',
  permission: 'approvals.decide',
  body: RolloutControlBodySchema,
  handle: ({ db, principal, params, body }) => sendRolloutCommand(db, principal, params.id ?? '', 'promote', body),
});
