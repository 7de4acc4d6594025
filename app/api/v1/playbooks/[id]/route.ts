import { apiRoute } from '@/server/http/api-route';
import { getPlaybook } from '@/server/services/playbook.service';

export const GET = apiRoute({
  route: '/api/v1/playbooks/[id]',
  method: 'GET',
  permission: 'playbooks.read',
  handle: ({ db, principal, params }) => getPlaybook(db, principal, params.id ?? ''),
});
