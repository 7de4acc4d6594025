import { CreateWebhookBodySchema } from '@/contracts/notify.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { createWebhook, listWebhooks } from '@/server/services/notification.service';

export const GET = apiRoute({
  route: '/api/v1/webhooks',
  method: 'GET',
  permission: 'webhooks.read',
  handle: async ({ db, principal }) => ({ webhooks: await listWebhooks(db, principal) }),
});

/** Creates a webhook endpoint; the response is the only time its signing `secret` is shown. */
export const POST = apiRoute({
  route: '/api/v1/webhooks',
  method: 'POST',
  permission: 'webhooks.manage',
  body: CreateWebhookBodySchema,
  handle: async ({ db, principal, body }) => jsonResponse(await createWebhook(db, principal, body), { status: 201 }),
});
