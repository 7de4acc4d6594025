import { ApproveRevisionBodySchema } from '@/contracts/route-graph-api.schema';
import { apiRoute } from '@/server/http/api-route';
import { approveRevision } from '@/server/services/revision-approval.service';

/**
 * Approves a revision the admission guardrails asked an approval for (require_approval), so it may go
 * live; 403 for its author (separation of duties), 409 when it needs no approval, is live or rejected.
 */
export const POST = apiRoute({
  route: '/api/v1/revisions/[id]/approve',
  method: 'POST',
  permission: 'approvals.decide',
  body: ApproveRevisionBodySchema,
  handle: ({ db, principal, params, body }) => approveRevision(db, principal, params.id ?? '', body),
});
