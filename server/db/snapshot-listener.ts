/**
 * LISTEN on SNAPSHOT_CHANNEL with a dedicated pg connection (Prisma cannot LISTEN). Reconnects with back-off
 * after the connection drops; notifications sent meanwhile are lost, so `onReconnect` tells the caller to
 * reload everything.
 */
import pg from 'pg';
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

export interface SnapshotListener {
  close(): Promise<void>;
}

/** Resolves once the first LISTEN is in place (rejects when that first connection fails). */
export async function listenForSnapshots(databaseUrl: string, opts: SnapshotListenerOptions): Promise<SnapshotListener> {
  const minDelay = opts.minDelayMs ?? 500;
  const maxDelay = opts.maxDelayMs ?? 10_000;
  let closed = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let delay = minDelay;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: databaseUrl });
    c.on('notification', (msg) => {
      if (msg.channel !== SNAPSHOT_CHANNEL || msg.payload === undefined) return;
      try {
        const n = JSON.parse(msg.payload) as Partial<SnapshotNotification>;
        if (typeof n.tenantId === 'string' && typeof n.nodeGroup === 'string') {
          opts.onNotification({ tenantId: n.tenantId, nodeGroup: n.nodeGroup, version: String(n.version ?? '') });
        }
      } catch (err) {
        opts.onError?.(err);
      }
    });
    let lost = false;
    const onLost = (err?: unknown) => {
      if (lost) return;
      lost = true;
      if (err !== undefined) opts.onError?.(err);
      c.end().catch(() => {});
      if (client === c) client = undefined;
      if (!closed) schedule();
    };
    // While connecting, failures surface as the rejected promise.
    const ignore = () => {};
    c.on('error', ignore);
    try {
      await c.connect();
      await c.query(`LISTEN ${SNAPSHOT_CHANNEL}`);
    } catch (err) {
      await c.end().catch(() => {});
      throw err;
    }
    c.off('error', ignore);
    c.on('error', onLost);
    c.on('end', () => onLost());
    client = c;
    delay = minDelay;
  };

  const schedule = () => {
    timer = setTimeout(() => {
      timer = undefined;
      if (closed) return;
      connect().then(
        () => {
          if (closed) void client?.end().catch(() => {});
          else opts.onReconnect();
        },
        (err: unknown) => {
          opts.onError?.(err);
          delay = Math.min(delay * 2, maxDelay);
          if (!closed) schedule();
        },
      );
    }, delay);
    timer.unref();
  };

  await connect();
  return {
    close: async () => {
      closed = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
