import { getAppDb } from '@/server/app-db';
import { pingDatabase } from '@/server/db/health.repo';
import { jsonResponse, plainRoute } from '@/server/http/api-route';

export const dynamic = 'force-dynamic';

/** 200 when the database answers, 503 otherwise. */
export const GET = plainRoute('/healthz', 'GET', async () => {
  try {
    await pingDatabase(getAppDb());
    return jsonResponse({ status: 'ok' });
  } catch {
    return jsonResponse({ status: 'unavailable', reason: 'database unreachable' }, { status: 503 });
  }
});
