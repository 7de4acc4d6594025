import { LiveEventsQuerySchema } from '@/contracts/live-events.schema';
import { apiRoute } from '@/server/http/api-route';
import { getAppLiveEvents, openLiveEventStream } from '@/server/services/live-events.service';

/**
 * Live change notices as server-sent events: `?topics=rollouts,proxies,…` (each topic needs its read
 * permission). Messages carry {topic, id} of what changed in the caller's tenant; read the data through the
 * other endpoints. `ready` first, then `change`, `resync` (reload everything) and `ping` (heartbeat).
 */
export const GET = apiRoute({
  route: '/api/v1/events',
  method: 'GET',
  permission: 'events.read',
  query: LiveEventsQuerySchema,
  handle: ({ db, req, principal, query }) => openLiveEventStream(getAppLiveEvents(), db, req, principal, query.topics),
});
