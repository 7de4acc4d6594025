/**
 * LISTEN on PostgreSQL channels with a dedicated pg connection (Prisma cannot LISTEN). Reconnects with back-off
 * after the connection drops; notifications sent meanwhile are lost, so `onReconnect` tells the caller to
 * reload everything.
 */
import pg from 'pg';

export interface ChannelListenerOptions {
  onNotification: (channel: string, payload: string) => void;
  /** The connection was lost and is back: state may have changed unseen. */
  onReconnect: () => void;
  onError?: (err: unknown) => void;
  /** Back-off bounds for reconnects, ms. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

export interface ChannelListener {
  close(): Promise<void>;
}

const CHANNEL_NAME = /^[a-z_][a-z0-9_]*$/;

/** Resolves once the first LISTEN is in place (rejects when that first connection fails). */
export async function listenOnChannels(databaseUrl: string, channels: readonly string[], opts: ChannelListenerOptions): Promise<ChannelListener> {
  for (const ch of channels) if (!CHANNEL_NAME.test(ch)) throw new Error(`not a plain channel name: ${ch}`);
  const wanted = new Set(channels);
  const minDelay = opts.minDelayMs ?? 500;
  const maxDelay = opts.maxDelayMs ?? 10_000;
  let closed = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let delay = minDelay;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: databaseUrl });
    c.on('notification', (msg) => {
      if (!wanted.has(msg.channel) || msg.payload === undefined) return;
      try {
        opts.onNotification(msg.channel, msg.payload);
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
      for (const ch of channels) await c.query(`LISTEN ${ch}`);
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
