import { z } from 'zod';
import { StartRolloutBodySchema } from '@/contracts/rollout.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { listRollouts, startRollout } from '@/server/services/rollout.service';

export const GET = apiRoute({
  route: '/api/v1/rollouts',
  method: 'GET',
  permission: 'rollouts.read',
  query: z.strictObject({ route: z.string().min(1).max(63).optional(), limit: z.coerce.number().int().min(1).max(200).optional() }),
  handle: ({ db, principal, query }) => listRollouts(db, principal, query),
});

export const POST = apiRoute({
  route: '/api/v1/rollouts',
  method: 'POST',
  permission: 'rollouts.write',
  body: StartRolloutBodySchema,
  handle: async ({ db, principal, body }) => {
    const r = await startRollout(db, principal, { revisionId: body.revisionId, spec: body.spec });
    return jsonResponse(r, { status: r.created ? 201 : 200 });
  },
});
