/** Webhook endpoints and notification deliveries (prisma/notify.prisma); always filtered by tenant. */
import type { Prisma } from './generated/client';
import type { DbTx } from './tx';
import { isUuid } from './tx';

export interface WebhookEndpointRow {
  id: string;
  tenantId: string;
  name: string;
  url: string;
  secret: string;
  kinds: string[];
  createdAt: Date;
}

const endpointSelect = { id: true, tenantId: true, name: true, url: true, secret: true, kinds: true, createdAt: true } as const;

export async function createWebhookEndpoint(
  db: DbTx,
  input: { tenantId: string; name: string; url: string; secret: string; kinds: string[] },
): Promise<WebhookEndpointRow> {
  return db.webhookEndpoint.create({ data: input, select: endpointSelect });
}

/** The tenant's endpoints that are not deleted, by name. */
export async function listWebhookEndpoints(db: DbTx, tenantId: string): Promise<WebhookEndpointRow[]> {
  return db.webhookEndpoint.findMany({ where: { tenantId, deletedAt: null }, orderBy: { name: 'asc' }, select: endpointSelect });
}

export async function findWebhookEndpoint(db: DbTx, tenantId: string, id: string): Promise<WebhookEndpointRow | null> {
  if (!isUuid(id)) return null;
  return db.webhookEndpoint.findFirst({ where: { id, tenantId, deletedAt: null }, select: endpointSelect });
}

/** Soft delete (the name becomes free again): past deliveries keep pointing at it. */
export async function deleteWebhookEndpoint(db: DbTx, tenantId: string, id: string): Promise<boolean> {
  const { count } = await db.webhookEndpoint.updateMany({
    where: { id, tenantId, deletedAt: null },
    data: { deletedAt: new Date(), name: `deleted:${id}` },
  });
  return count === 1;
}

export interface DeliveryRow {
  id: string;
  tenantId: string;
  endpointId: string;
  dedupeKey: string;
  kind: string;
  severity: string;
  subject: string;
  payload: Prisma.JsonValue;
  status: string;
  attempts: number;
  httpStatus: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** The delivery of (endpoint, dedupeKey), created as `pending` when new. */
export async function upsertDelivery(
  db: DbTx,
  input: { tenantId: string; endpointId: string; dedupeKey: string; kind: string; severity: string; subject: string; payload: Prisma.InputJsonValue },
): Promise<DeliveryRow> {
  return db.notificationDelivery.upsert({
    where: { endpointId_dedupeKey: { endpointId: input.endpointId, dedupeKey: input.dedupeKey } },
    create: { ...input, status: 'pending' },
    update: {},
  });
}

export async function recordDeliveryAttempt(
  db: DbTx,
  id: string,
  outcome: { ok: boolean; httpStatus: number | null; error: string | null; at: Date },
): Promise<void> {
  await db.notificationDelivery.update({
    where: { id },
    data: {
      status: outcome.ok ? 'delivered' : 'failed',
      attempts: { increment: 1 },
      httpStatus: outcome.httpStatus,
      lastError: outcome.error,
      ...(outcome.ok ? { deliveredAt: outcome.at } : {}),
    },
  });
}

/** The tenant's deliveries, newest first. */
export async function listDeliveries(db: DbTx, tenantId: string, opts: { endpointId?: string; limit?: number } = {}): Promise<DeliveryRow[]> {
  return db.notificationDelivery.findMany({
    where: { tenantId, ...(opts.endpointId ? { endpointId: opts.endpointId } : {}) },
    orderBy: { createdAt: 'desc' },
    take: opts.limit ?? 100,
  });
}
