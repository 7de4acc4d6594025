import { apiRoute } from '@/server/http/api-route';
import { getRun } from '@/server/services/playbook.service';

export const GET = apiRoute({
  route: '/api/v1/playbooks/runs/[id]',
  method: 'GET',
  permission: 'playbooks.read',
  handle: ({ db, principal, params }) => getRun(db, principal, params.id ?? ''),
});
