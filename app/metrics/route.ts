import { plainRoute } from '@/server/http/api-route';
import { webMetrics } from '@/server/http/metrics';

export const dynamic = 'force-dynamic';

/** Prometheus text format: default process metrics and HTTP requests by route and status. */
export const GET = plainRoute('/metrics', 'GET', async () => {
  const { registry } = webMetrics();
  return new Response(await registry.metrics(), { headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' } });
});
