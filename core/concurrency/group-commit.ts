/**
 * Group commit: callers submit items under a key (a tenant); one `flush` per key runs at a time, and items
 * submitted while a flush of their key is in flight are merged into the next one. A lone item is flushed
 * on the next turn of the event loop (setImmediate: what arrived in the same turn joins it; no timer, no
 * added latency); under load, N concurrent submissions cost a handful of flushes
 * instead of N serialised ones — the way a database group-commits its log.
 *
 * `flush` answers every item of its batch on its own (a bad item fails alone); if `flush` itself throws,
 * every item of that batch gets the error. Pure (promises only, no I/O).
 */
export type ItemOutcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface GroupCommit<T, R> {
  submit(key: string, item: T): Promise<R>;
  /** Items waiting or being flushed, per key (for metrics and tests). */
  pending(key: string): number;
}

interface Waiter<T, R> {
  item: T;
  resolve(value: R): void;
  reject(err: unknown): void;
}

export function createGroupCommit<T, R>(opts: {
  flush(key: string, items: readonly T[]): Promise<ItemOutcome<R>[]>;
  /** Largest batch; the rest waits for the next flush. Default 1000. */
  maxBatch?: number;
}): GroupCommit<T, R> {
  const maxBatch = opts.maxBatch ?? 1000;
  const queues = new Map<string, { waiting: Waiter<T, R>[]; inFlight: number }>();

  const drain = async (key: string, q: { waiting: Waiter<T, R>[]; inFlight: number }): Promise<void> => {
    while (q.waiting.length > 0) {
      const batch = q.waiting.splice(0, maxBatch);
      q.inFlight = batch.length;
      try {
        const outcomes = await opts.flush(key, batch.map((w) => w.item));
        batch.forEach((w, i) => {
          const o = outcomes[i];
          if (!o) w.reject(new Error(`group commit: flush answered ${outcomes.length} of ${batch.length} items`));
          else if (o.ok) w.resolve(o.value);
          else w.reject(o.error);
        });
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
      q.inFlight = 0;
    }
    queues.delete(key);
  };

  return {
    submit(key, item) {
      return new Promise<R>((resolve, reject) => {
        let q = queues.get(key);
        const idle = q === undefined;
        if (!q) {
          q = { waiting: [], inFlight: 0 };
          queues.set(key, q);
        }
        q.waiting.push({ item, resolve, reject });
        if (idle) setImmediate(() => void drain(key, q));
      });
    },
    pending(key) {
      const q = queues.get(key);
      return q ? q.waiting.length + q.inFlight : 0;
    },
  };
}
