import { ListAgentsQuerySchema } from '@/contracts/xdp.schema';
import { apiRoute } from '@/server/http/api-route';
import { listAgents } from '@/server/services/xdp.service';

/** Node agents of the tenant (optionally one node group): connected, last seen, applied vs desired version, errors, counters. */
export const GET = apiRoute({
  route: '/api/v1/agents',
  method: 'GET',
  permission: 'fleet.read',
  query: ListAgentsQuerySchema,
  handle: async ({ db, principal, query }) => ({ agents: await listAgents(db, principal, query) }),
});
