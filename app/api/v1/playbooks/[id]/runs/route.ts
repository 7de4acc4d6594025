import { StartPlaybookRunBodySchema } from '@/contracts/playbook.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { startPlaybookRun } from '@/server/services/playbook.service';

export const POST = apiRoute({
  route: '/api/v1/playbooks/[id]/runs',
  method: 'POST',
  permission: 'playbooks.write',
  body: StartPlaybookRunBodySchema,
  handle: async ({ db, principal, params, body }) => jsonResponse(await startPlaybookRun(db, principal, params.id ?? '', body), { status: 201 }),
});
