import { ListDeliveriesQuerySchema } from '@/contracts/notify.schema';
import { apiRoute } from '@/server/http/api-route';
import { listDeliveries } from '@/server/services/notification.service';

/** Notification deliveries of the tenant, newest first: kind, endpoint, status, attempts, last error. */
export const GET = apiRoute({
  route: '/api/v1/notifications',
  method: 'GET',
  permission: 'notifications.read',
  query: ListDeliveriesQuerySchema,
  handle: async ({ db, principal, query }) => ({ deliveries: await listDeliveries(db, principal, { limit: query.limit }) }),
});
