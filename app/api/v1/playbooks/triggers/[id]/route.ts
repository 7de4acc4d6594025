import { apiRoute } from '@/server/http/api-route';
import { disableTrigger } from '@/server/services/playbook.service';

export const DELETE = apiRoute({
  route: '/api/v1/playbooks/triggers/[id]',
  method: 'DELETE',
  permission: 'playbooks.write',
  handle: ({ db, principal, params }) => disableTrigger(db, principal, params.id ?? ''),
});
