/**
 * Wakes whoever waits for proxies to ACK: the writes of per-type proxy state (sent / ACK / NACK) NOTIFY the
 * live-events channel with topic `proxies` (migration `proxy_resource_live_statement`: one NOTIFY per tenant
 * per statement), so a rollout step waiting for its ACKs reads them right after they are stored instead of at
 * its next poll. Polling stays the fallback: a notification lost with a dropped connection wakes everyone.
 */
import { listenForLiveEvents } from './live-event-listener';

export interface ProxyStateChanges {
  /** Resolves at the next stored change of the tenant's proxy state (one shared promise per tenant). */
  next(tenantId: string): Promise<void>;
  close(): Promise<void>;
}

export async function listenForProxyStateChanges(databaseUrl: string, opts: { onError?: (err: unknown) => void } = {}): Promise<ProxyStateChanges> {
  const waiting = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  const wake = (tenantId?: string) => {
    for (const [t, w] of waiting) {
      if (tenantId !== undefined && t !== tenantId) continue;
      waiting.delete(t);
      w.resolve();
    }
  };
  const listener = await listenForLiveEvents(databaseUrl, {
    onNotification: (n) => {
      if (n.topic === 'proxies') wake(n.tenantId);
    },
    onReconnect: () => wake(),
    ...(opts.onError ? { onError: opts.onError } : {}),
  });
  return {
    next(tenantId) {
      let w = waiting.get(tenantId);
      if (!w) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        w = { promise, resolve };
        waiting.set(tenantId, w);
      }
      return w.promise;
    },
    async close() {
      wake();
      await listener.close();
    },
  };
}
