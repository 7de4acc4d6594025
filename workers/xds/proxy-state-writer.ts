/**
 * Batches what the ADS streams record per proxy and type (sent, ACK, NACK) into one statement: with 1,000
 * proxies a push is 4,000 responses and 4,000 ACKs, which as single upserts would cost the xds process (and
 * PostgreSQL, on the same cores) more CPU than the push itself. Changes of one (proxy, type) are merged
 * group-wise (server/db/proxy.repo.ts recordResourceStates), so the stored row is what writing each event in
 * order would give. The batch is written once events stop arriving for `quietMs` (a push and its ACKs are
 * one burst: its "sent" and ACK become one row write, made after the burst rather than competing with it),
 * and at most `maxDelayMs` after its first event. A proxy's lastSeenAt (on ACK/NACK) is written at most every
 * `touchIntervalMs`. Connects and disconnects are not batched (a disconnect flushes first).
 */
import type { Logger } from 'pino';
import { recordResourceStates, type ResourceStateChange } from '../../server/db/proxy.repo';
import type { Sql } from '../../server/db/sql';

export interface ProxyStateWriterOptions {
  /**
   * Write once no event came for this long (checked every quietMs); default 10 ms. A lone proxy's push and
   * ACK (a rollout step on one node group) are written ~2 × quietMs after the push: at 50 ms that was ~100 ms
   * added to every step; a fleet's burst keeps events coming faster than this and is bounded by maxDelayMs.
   */
  quietMs?: number;
  /**
   * Longest time an event waits before it is written; default 100 ms. An ACK is only visible to whoever
   * waits for it (awaitProxyAck, a rollout step's serving check) once written, so this bounds what batching
   * adds to a step's latency while pushes keep coming (concurrent rollouts); a fleet's burst of ACKs is then a
   * few statements instead of one.
   */
  maxDelayMs?: number;
  /** Write at once beyond this many pending (proxy, type) rows; default 5,000. */
  maxPending?: number;
  /** lastSeenAt is refreshed at most this often per proxy; default 5 s. */
  touchIntervalMs?: number;
}

export class ProxyStateWriter {
  /** proxyId → typeUrl → merged change. */
  private pending = new Map<string, Map<string, ResourceStateChange>>();
  private pendingRows = 0;
  private eventsSinceCheck = 0;
  private firstPendingAt = 0;
  /** Proxies that ACKed or NACKed since the last flush. */
  private seen = new Set<string>();
  /** proxyId → when its lastSeenAt was last written (ms). */
  private readonly touched = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly quietMs: number;
  private readonly maxDelayMs: number;
  private readonly maxPending: number;
  private readonly touchIntervalMs: number;

  constructor(
    /** The xds process' own pg pool (server/db/sql.ts poolSql): these writes skip Prisma. */
    private readonly db: Sql,
    private readonly log: Logger,
    opts: ProxyStateWriterOptions = {},
  ) {
    this.quietMs = opts.quietMs ?? 10;
    this.maxDelayMs = opts.maxDelayMs ?? 100;
    this.maxPending = opts.maxPending ?? 5_000;
    this.touchIntervalMs = opts.touchIntervalMs ?? 5_000;
  }

  sent(proxyId: string, typeUrl: string, s: { version: string; nonce: string }): void {
    this.change(proxyId, typeUrl).sent = { ...s, at: new Date() };
  }

  acked(proxyId: string, typeUrl: string, version: string): void {
    this.change(proxyId, typeUrl).acked = { version, at: new Date() };
    this.seen.add(proxyId);
  }

  nacked(proxyId: string, typeUrl: string, n: { version: string; nonce: string; error: string }): void {
    this.change(proxyId, typeUrl).nacked = { ...n, at: new Date() };
    this.seen.add(proxyId);
  }

  /** The proxy disconnected: its lastSeenAt is written by the disconnect itself. */
  forget(proxyId: string): void {
    this.touched.delete(proxyId);
  }

  /** Writes everything pending now; resolves when it is stored. */
  flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const batch: ResourceStateChange[] = [];
    for (const byType of this.pending.values()) for (const c of byType.values()) batch.push(c);
    this.pending = new Map();
    this.pendingRows = 0;
    const now = Date.now();
    const touch: string[] = [];
    for (const proxyId of this.seen) {
      if (now - (this.touched.get(proxyId) ?? -Infinity) < this.touchIntervalMs) continue;
      this.touched.set(proxyId, now);
      touch.push(proxyId);
    }
    this.seen = new Set();
    if (batch.length > 0 || touch.length > 0) {
      this.flushing = this.flushing.then(() =>
        recordResourceStates(this.db, batch, touch).catch((err: unknown) => this.log.error({ err, rows: batch.length }, 'could not record proxy state')),
      );
    }
    return this.flushing;
  }

  private change(proxyId: string, typeUrl: string): ResourceStateChange {
    this.eventsSinceCheck++;
    let byType = this.pending.get(proxyId);
    if (byType === undefined) {
      byType = new Map();
      this.pending.set(proxyId, byType);
    }
    let c = byType.get(typeUrl);
    if (c === undefined) {
      c = { proxyId, typeUrl };
      byType.set(typeUrl, c);
      if (++this.pendingRows === this.maxPending) queueMicrotask(() => void this.flush());
      else if (this.timer === undefined) {
        this.firstPendingAt = Date.now();
        this.eventsSinceCheck = 0;
        this.timer = setTimeout(() => this.check(), this.quietMs);
      }
    }
    return c;
  }

  /** Writes when the burst is over (no event since the last check) or the oldest event waited long enough. */
  private check(): void {
    this.timer = undefined;
    if (this.eventsSinceCheck > 0 && Date.now() - this.firstPendingAt < this.maxDelayMs) {
      this.eventsSinceCheck = 0;
      this.timer = setTimeout(() => this.check(), this.quietMs);
      return;
    }
    void this.flush();
  }
}
