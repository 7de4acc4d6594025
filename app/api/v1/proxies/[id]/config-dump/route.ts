import { apiRoute } from '@/server/http/api-route';
import { proxyConfigDump } from '@/server/services/proxy-status.service';

/** What was last sent to one proxy (by proxy id or node id), per xDS type, as proto3 JSON. */
export const GET = apiRoute({
  route: '/api/v1/proxies/[id]/config-dump',
  method: 'GET',
  permission: 'fleet.read',
  handle: ({ db, principal, params }) => proxyConfigDump(db, principal.tenant.id, params.id ?? ''),
});
