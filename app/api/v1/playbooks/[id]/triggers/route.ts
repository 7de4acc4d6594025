import { CreateTriggerBodySchema } from '@/contracts/playbook.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { createTrigger } from '@/server/services/playbook.service';

export const POST = apiRoute({
  route: '/api/v1/playbooks/[id]/triggers',
  method: 'POST',
  permission: 'playbooks.write',
  body: CreateTriggerBodySchema,
  handle: async ({ db, principal, params, body }) => jsonResponse(await createTrigger(db, principal, params.id ?? '', body), { status: 201 }),
});
