/**
 * Notifications to the tenant's webhook endpoints (contracts/notify.schema.ts describes the wire format).
 * `deliverNotification` is what the `notify` activity runs: one delivery per (endpoint, dedupeKey), so a
 * retried activity never posts twice to an endpoint that already accepted it; a failed endpoint makes the call
 * throw (Temporal retries it with backoff) after the others were tried. Endpoint changes are audited; every
 * delivery attempt is recorded (status, HTTP status, error).
 */
import { createHmac, randomBytes } from 'node:crypto';
import {
  NotifyInputSchema,
  type CreateWebhookBody,
  type DeliveryView,
  type NotifyInput,
  type NotifyResult,
  type WebhookView,
} from '../../contracts/notify.schema';
import { appendAudit } from '../audit/audit.service';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  findWebhookEndpoint,
  listDeliveries as listDeliveryRows,
  listWebhookEndpoints,
  recordDeliveryAttempt,
  upsertDelivery,
  type DeliveryRow,
  type WebhookEndpointRow,
} from '../db/notify.repo';
import { inTransaction, isUniqueViolation, type DbTx } from '../db/tx';
import { badRequest, conflict, notFound } from '../errors';

const DELIVERY_TIMEOUT_MS = 5_000;

function toWebhookView(e: WebhookEndpointRow): WebhookView {
  return { id: e.id, name: e.name, url: e.url, kinds: e.kinds, createdAt: e.createdAt.toISOString() };
}

function toDeliveryView(d: DeliveryRow): DeliveryView {
  return {
    id: d.id,
    endpointId: d.endpointId,
    kind: d.kind,
    severity: d.severity,
    subject: d.subject,
    status: d.status as DeliveryView['status'],
    attempts: d.attempts,
    httpStatus: d.httpStatus,
    lastError: d.lastError,
    createdAt: d.createdAt.toISOString(),
    deliveredAt: d.deliveredAt?.toISOString() ?? null,
  };
}

/** Whether an endpoint's kind filters let `kind` through (no filter: everything; `certificate.*`: a prefix). */
export function kindMatches(filters: readonly string[], kind: string): boolean {
  if (filters.length === 0) return true;
  return filters.some((f) => (f.endsWith('.*') ? kind.startsWith(f.slice(0, -1)) : f === kind));
}

/** `sha256=<hex>`: the HMAC-SHA256 of the raw body under the endpoint's secret. */
export function signatureOf(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export async function listWebhooks(db: DbTx, principal: Principal): Promise<WebhookView[]> {
  requirePermission(principal, 'webhooks.read');
  return (await listWebhookEndpoints(db, principal.tenant.id)).map(toWebhookView);
}

/** Creates an endpoint; the response is the only time its signing `secret` is shown. */
export async function createWebhook(db: DbTx, principal: Principal, body: CreateWebhookBody): Promise<{ webhook: WebhookView; secret: string }> {
  requirePermission(principal, 'webhooks.manage');
  const secret = `whsec_${randomBytes(24).toString('base64url')}`;
  try {
    const created = await inTransaction(db, async (tx) => {
      const e = await createWebhookEndpoint(tx, { tenantId: principal.tenant.id, name: body.name, url: body.url, secret, kinds: body.kinds });
      await appendAudit(tx, {
        tenantId: principal.tenant.id,
        actor: auditActorOf(principal),
        action: 'webhook.create',
        target: { type: 'webhook', id: e.id },
        after: toWebhookView(e),
        details: { name: e.name, url: e.url, kinds: e.kinds },
      });
      return e;
    });
    return { webhook: toWebhookView(created), secret };
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict(`a webhook named "${body.name}" already exists`);
    throw err;
  }
}

export async function deleteWebhook(db: DbTx, principal: Principal, id: string): Promise<{ deleted: true }> {
  requirePermission(principal, 'webhooks.manage');
  await inTransaction(db, async (tx) => {
    const existing = await findWebhookEndpoint(tx, principal.tenant.id, id);
    if (!existing || !(await deleteWebhookEndpoint(tx, principal.tenant.id, id))) throw notFound('webhook');
    await appendAudit(tx, {
      tenantId: principal.tenant.id,
      actor: auditActorOf(principal),
      action: 'webhook.delete',
      target: { type: 'webhook', id },
      before: toWebhookView(existing),
    });
  });
  return { deleted: true };
}

export async function listDeliveries(db: DbTx, principal: Principal, opts: { limit?: number } = {}): Promise<DeliveryView[]> {
  requirePermission(principal, 'notifications.read');
  return (await listDeliveryRows(db, principal.tenant.id, opts)).map(toDeliveryView);
}

export interface DeliverOptions {
  fetch?: typeof fetch;
  now?: () => Date;
  timeoutMs?: number;
}

/** Thrown when at least one endpoint did not accept the notification; the others were delivered. */
export class NotificationDeliveryError extends Error {
  constructor(readonly failures: { endpoint: string; error: string }[]) {
    super(`webhook delivery failed: ${failures.map((f) => `${f.endpoint}: ${f.error}`).join('; ')}`);
    this.name = 'NotificationDeliveryError';
  }
}

/**
 * Posts the notification to every endpoint of the tenant whose kinds match, at most once per endpoint and
 * dedupe key. Throws NotificationDeliveryError when any endpoint fails (after trying all of them).
 */
export async function deliverNotification(db: DbTx, raw: NotifyInput, opts: DeliverOptions = {}): Promise<NotifyResult> {
  const parsed = NotifyInputSchema.safeParse(raw);
  if (!parsed.success) {
    throw badRequest('invalid notification', parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  }
  const input = parsed.data;
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? (() => new Date());
  const endpoints = await listWebhookEndpoints(db, input.tenantId);
  const targets = endpoints.filter((e) => kindMatches(e.kinds, input.kind));
  const failures: { endpoint: string; error: string }[] = [];
  let delivered = 0;
  for (const endpoint of targets) {
    const delivery = await upsertDelivery(db, {
      tenantId: input.tenantId,
      endpointId: endpoint.id,
      dedupeKey: input.dedupeKey,
      kind: input.kind,
      severity: input.severity,
      subject: input.subject,
      payload: input.details as object,
    });
    if (delivery.status === 'delivered') {
      delivered++;
      continue;
    }
    const body = JSON.stringify({
      id: delivery.id,
      tenantId: input.tenantId,
      kind: input.kind,
      severity: input.severity,
      subject: input.subject,
      details: input.details,
      at: delivery.createdAt.toISOString(),
    });
    let httpStatus: number | null = null;
    let error: string | null = null;
    try {
      const res = await doFetch(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'proxyshard-webhook/1',
          'x-proxyshard-event': input.kind,
          'x-proxyshard-delivery': delivery.id,
          'x-proxyshard-signature': signatureOf(endpoint.secret, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(opts.timeoutMs ?? DELIVERY_TIMEOUT_MS),
      });
      httpStatus = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status > 299) error = `HTTP ${res.status}`;
    } catch (err) {
      error = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
    }
    await recordDeliveryAttempt(db, delivery.id, { ok: error === null, httpStatus, error, at: now() });
    if (error === null) delivered++;
    else failures.push({ endpoint: endpoint.name, error });
  }
  if (failures.length > 0) throw new NotificationDeliveryError(failures);
  return { delivered, skipped: endpoints.length - targets.length };
}
