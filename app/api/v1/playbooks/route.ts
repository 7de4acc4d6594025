import { CreatePlaybookBodySchema } from '@/contracts/playbook.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { createPlaybook, listPlaybooks } from '@/server/services/playbook.service';

export const GET = apiRoute({
  route: '/api/v1/playbooks',
  method: 'GET',
  permission: 'playbooks.read',
  handle: ({ db, principal }) => listPlaybooks(db, principal),
});

export const POST = apiRoute({
  route: '/api/v1/playbooks',
  method: 'POST',
  permission: 'playbooks.write',
  body: CreatePlaybookBodySchema,
  handle: async ({ db, principal, body }) => jsonResponse({ playbook: await createPlaybook(db, principal, body) }, { status: 201 }),
});
