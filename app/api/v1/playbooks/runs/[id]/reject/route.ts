import { PlaybookDecisionBodySchema } from '@/contracts/playbook.schema';
import { apiRoute } from '@/server/http/api-route';
import { sendPlaybookCommand } from '@/server/services/playbook.service';

export const POST = apiRoute({
  route: '/api/v1/playbooks/runs/[id]/reject',
  method: 'POST',
  permission: 'approvals.decide',
  body: PlaybookDecisionBodySchema,
  handle: ({ db, principal, params, body }) => sendPlaybookCommand(db, principal, params.id ?? '', 'reject', body),
});
