import { apiRoute } from '@/server/http/api-route';
import { listProxyStatus } from '@/server/services/proxy-status.service';

/** Like `istioctl proxy-status`: per proxy and xDS type, SYNCED / STALE / NACKED (with the error) / NOT SENT. */
export const GET = apiRoute({
  route: '/api/v1/proxies',
  method: 'GET',
  permission: 'fleet.read',
  handle: async ({ db, principal }) => ({ proxies: await listProxyStatus(db, principal.tenant.id) }),
});
