import { RolloutControlBodySchema } from '@/contracts/rollout.schema';
import { apiRoute } from '@/server/http/api-route';
import { sendRolloutCommand } from '@/server/services/rollout.service';

export const POST = apiRoute({
  route: '/api/v1/rollouts/[id]/pause',
  method: 'POST',
  permission: 'rollouts.write',
  body: RolloutControlBodySchema,
  handle: ({ db, principal, params, body }) => sendRolloutCommand(db, principal, params.id ?? '', 'pause', body),
});
