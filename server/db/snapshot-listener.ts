/**
 * LISTEN on SNAPSHOT_CHANNEL (server/db/pg-listener.ts: dedicated connection, reconnect with back-off;
 * `onReconnect` tells the caller to reload everything, since notifications sent meanwhile are lost).
 */
import { listenOnChannels, type ChannelListener } from './pg-listener';
import { SNAPSHOT_CHANNEL, type SnapshotNotification } from './snapshot.repo';

export interface SnapshotListenerOptions {
  onNotification: (n: SnapshotNotification) => void;
  /** The connection was lost and is back: state may have changed unseen. */
  onReconnect: () => void;
  onError?: (err: unknown) => void;
  /** Back-off bounds for reconnects, ms. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

export type SnapshotListener = ChannelListener;

/** Resolves once the first LISTEN is in place (rejects when that first connection fails). */
export async function listenForSnapshots(databaseUrl: string, opts: SnapshotListenerOptions): Promise<SnapshotListener> {
  return listenOnChannels(databaseUrl, [SNAPSHOT_CHANNEL], {
    ...opts,
    onNotification: (_channel, payload) => {
      const n = JSON.parse(payload) as Partial<SnapshotNotification>;
      if (typeof n.tenantId === 'string' && typeof n.nodeGroup === 'string') {
        opts.onNotification({ tenantId: n.tenantId, nodeGroup: n.nodeGroup, version: String(n.version ?? '') });
      }
    },
  });
}
