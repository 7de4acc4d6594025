/**
 * LISTEN on LIVE_EVENTS_CHANNEL, which the triggers of migration `live_events` NOTIFY when rollouts, playbook
 * runs, proxies, agents, the audit log or certificates change (payload JSON {tenantId, topic, id}).
 */
import { LiveTopicSchema, type LiveTopic } from '../../contracts/live-events.schema';
import { listenOnChannels, type ChannelListener, type ChannelListenerOptions } from './pg-listener';

export const LIVE_EVENTS_CHANNEL = 'proxyshard_events';

export interface LiveEventNotification {
  tenantId: string;
  topic: LiveTopic;
  id: string | null;
}

/** The notification in a payload, or null when it is not one (unknown topic, missing tenant). */
export function parseLiveEventPayload(payload: string): LiveEventNotification | null {
  const raw = JSON.parse(payload) as { tenantId?: unknown; topic?: unknown; id?: unknown };
  const topic = LiveTopicSchema.safeParse(raw.topic);
  if (typeof raw.tenantId !== 'string' || !topic.success) return null;
  return { tenantId: raw.tenantId, topic: topic.data, id: typeof raw.id === 'string' ? raw.id : null };
}

export function listenForLiveEvents(
  databaseUrl: string,
  opts: Omit<ChannelListenerOptions, 'onNotification'> & { onNotification: (n: LiveEventNotification) => void },
): Promise<ChannelListener> {
  return listenOnChannels(databaseUrl, [LIVE_EVENTS_CHANNEL], {
    ...opts,
    onNotification: (_channel, payload) => {
      const n = parseLiveEventPayload(payload);
      if (n) opts.onNotification(n);
    },
  });
}
