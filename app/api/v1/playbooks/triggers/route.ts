import { apiRoute } from '@/server/http/api-route';
import { listTriggers } from '@/server/services/playbook.service';

export const GET = apiRoute({
  route: '/api/v1/playbooks/triggers',
  method: 'GET',
  permission: 'playbooks.read',
  handle: ({ db, principal }) => listTriggers(db, principal),
});
