import { apiRoute } from '@/server/http/api-route';
import { deleteWebhook } from '@/server/services/notification.service';

export const DELETE = apiRoute({
  route: '/api/v1/webhooks/[id]',
  method: 'DELETE',
  permission: 'webhooks.manage',
  handle: async ({ db, principal, params }) => deleteWebhook(db, principal, params.id ?? ''),
});
