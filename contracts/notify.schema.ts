/**
 * Notifications: what workflows tell people (rollout failed, approval waiting, certificate expiring, playbook
 * step done), delivered to the tenant's webhook endpoints by the `notify` activity.
 *
 * A delivery is `POST <url>` with a JSON body `{ id, tenantId, kind, severity, subject, details, at }` and the
 * headers `x-proxyshard-event: <kind>`, `x-proxyshard-delivery: <id>` and
 * `x-proxyshard-signature: sha256=<hex HMAC-SHA256 of the raw body under the endpoint's secret>`.
 * Any 2xx status is success; anything else (or no answer within 5 s) fails the activity, which Temporal retries.
 */
import { z } from 'zod';

/** Dotted lowercase kind, e.g. `rollout.failed`, `certificate.expiring`, `playbook.step.completed`. */
export const NotificationKindSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/, 'dotted lowercase words, e.g. "certificate.expiring"')
  .max(100);

/** A kind filter: an exact kind, or a prefix ending in `.*` (`certificate.*`). */
export const NotificationKindFilterSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$/, 'a kind ("rollout.failed") or a prefix with ".*" ("certificate.*")')
  .max(100);

export const NOTIFICATION_SEVERITIES = ['info', 'warning', 'critical'] as const;
export const NotificationSeveritySchema = z.enum(NOTIFICATION_SEVERITIES);

export const NotifyInputSchema = z.strictObject({
  tenantId: z.uuid(),
  kind: NotificationKindSchema,
  severity: NotificationSeveritySchema,
  /** One line for humans. */
  subject: z.string().min(1).max(500),
  details: z.record(z.string(), z.unknown()).default({}),
  /**
   * Makes delivery idempotent: one delivery per endpoint and key, however often the activity runs (use e.g.
   * `${workflowId}:${step}:${attempt}`).
   */
  dedupeKey: z.string().min(1).max(300),
});
export type NotifyInput = z.input<typeof NotifyInputSchema>;

export interface NotifyResult {
  /** Endpoints that received it now or earlier (same dedupe key). */
  delivered: number;
  /** Endpoints of the tenant whose kind filter does not match. */
  skipped: number;
}

export interface NotifyActivities {
  notify(input: NotifyInput): Promise<NotifyResult>;
}

const WebhookUrlSchema = z
  .url({ protocol: /^https?$/, error: 'an http:// or https:// URL' })
  .max(2000);

export const CreateWebhookBodySchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lowercase letters, digits, ".", "_", "-"; at most 63'),
  url: WebhookUrlSchema,
  kinds: z.array(NotificationKindFilterSchema).max(50).default([]),
});
export type CreateWebhookBody = z.infer<typeof CreateWebhookBodySchema>;

export const ListDeliveriesQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).optional(),
});

export interface WebhookView {
  id: string;
  name: string;
  url: string;
  kinds: string[];
  createdAt: string;
}

export interface DeliveryView {
  id: string;
  endpointId: string;
  kind: string;
  severity: string;
  subject: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  httpStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}
