import { DryRunBodySchema } from '@/contracts/playbook.schema';
import { apiRoute } from '@/server/http/api-route';
import { dryRunPlaybook } from '@/server/services/playbook.service';

export const POST = apiRoute({
  route: '/api/v1/playbooks/[id]/dry-run',
  method: 'POST',
  permission: 'playbooks.read',
  body: DryRunBodySchema,
  handle: ({ db, principal, params, body }) => dryRunPlaybook(db, principal, params.id ?? '', body),
});
