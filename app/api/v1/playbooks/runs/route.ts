import { z } from 'zod';
import { PlaybookTargetSchema } from '@/contracts/playbook.schema';
import { apiRoute } from '@/server/http/api-route';
import { listRuns } from '@/server/services/playbook.service';

export const GET = apiRoute({
  route: '/api/v1/playbooks/runs',
  method: 'GET',
  permission: 'playbooks.read',
  query: z.strictObject({ target: PlaybookTargetSchema.optional(), limit: z.coerce.number().int().min(1).max(200).optional() }),
  handle: ({ db, principal, query }) => listRuns(db, principal, query),
});
