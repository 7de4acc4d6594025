/**
 * Batches what the ADS streams record per proxy and type (sent, ACK, NACK) into one statement every
 * `intervalMs`: with 1,000 proxies a push is 4,000 responses and 4,000 ACKs, which as single upserts would
 * cost the xds process more CPU than the push itself. Changes of one (proxy, type) are merged group-wise
 * (server/db/proxy.repo.ts recordResourceStates), so the stored row is what writing each event in order
 * would give, at most `intervalMs` later. Connects and disconnects are not batched.
 */
import type { Logger } from 'pino';
import { recordResourceStates, type ResourceStateChange } from '../../server/db/proxy.repo';
import type { DbTx } from '../../server/db/tx';

export class ProxyStateWriter {
  private pending = new Map<string, ResourceStateChange>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: DbTx,
    private readonly log: Logger,
    private readonly intervalMs = 25,
    /** Flush at once beyond this many pending (proxy, type) rows. */
    private readonly maxPending = 5_000,
  ) {}

  sent(proxyId: string, typeUrl: string, s: { version: string; nonce: string }): Promise<void> {
    return this.change(proxyId, typeUrl, (c) => (c.sent = { ...s, at: new Date() }));
  }

  acked(proxyId: string, typeUrl: string, version: string): Promise<void> {
    return this.change(proxyId, typeUrl, (c) => (c.acked = { version, at: new Date() }));
  }

  nacked(proxyId: string, typeUrl: string, n: { version: string; nonce: string; error: string }): Promise<void> {
    return this.change(proxyId, typeUrl, (c) => (c.nacked = { ...n, at: new Date() }));
  }

  /** Writes everything pending now; resolves when it is stored. */
  flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    if (batch.length > 0) {
      this.flushing = this.flushing.then(() =>
        recordResourceStates(this.db, batch).catch((err: unknown) => this.log.error({ err, rows: batch.length }, 'could not record proxy state')),
      );
    }
    return this.flushing;
  }

  private change(proxyId: string, typeUrl: string, apply: (c: ResourceStateChange) => void): Promise<void> {
    const key = `${proxyId}\u0000${typeUrl}`;
    let c = this.pending.get(key);
    if (c === undefined) {
      c = { proxyId, typeUrl };
      this.pending.set(key, c);
    }
    apply(c);
    if (this.pending.size >= this.maxPending) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.intervalMs);
    return Promise.resolve();
  }
}
