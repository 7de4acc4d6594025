/**
 * Live updates (GET /api/v1/events, server-sent events): the topics a client can follow and the messages it
 * receives. A message says *what* changed (topic + id), never the data: the client then reads the changed
 * resource through the ordinary, permission-checked REST endpoints.
 */
import { z } from 'zod';

export const LIVE_TOPICS = ['rollouts', 'playbooks', 'proxies', 'agents', 'audit', 'certificates'] as const;
export const LiveTopicSchema = z.enum(LIVE_TOPICS);
export type LiveTopic = z.infer<typeof LiveTopicSchema>;

/** `?topics=rollouts,proxies`: one or more topics, comma-separated, each at most once. */
export const LiveEventsQuerySchema = z.strictObject({
  topics: z
    .string()
    .max(200)
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean))
    .pipe(
      z
        .array(LiveTopicSchema)
        .min(1, `name at least one topic (${LIVE_TOPICS.join(', ')})`)
        .refine((a) => new Set(a).size === a.length, 'a topic appears twice'),
    ),
});
export type LiveEventsQuery = z.infer<typeof LiveEventsQuerySchema>;

/** SSE `event: ready` — the subscription is in place; `heartbeatMs` is how often `ping` arrives. */
export interface LiveReady {
  topics: LiveTopic[];
  heartbeatMs: number;
}

/** SSE `event: change` — something of `topic` changed; `id` names the object when there is one. */
export interface LiveChange {
  topic: LiveTopic;
  id: string | null;
}

/**
 * SSE event names: `ready` (once), `change`, `resync` (changes may have been missed — the server lost and
 * regained its database listener — so reload everything), `ping` (heartbeat).
 */
export const LIVE_EVENT_NAMES = ['ready', 'change', 'resync', 'ping'] as const;
