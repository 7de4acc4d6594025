'use client';

import { useCallback, useEffect, useRef, useState } from 'react';
import type { LiveChange, LiveTopic } from '@/contracts/live-events.schema';
import { callConsoleApi, type ConsoleResult } from './console-api';
import { subscribeLive, type LiveState } from './live-updates';

/** While live updates are down, data is refreshed this often instead. */
export const FALLBACK_POLL_MS = 5_000;

/**
 * Follow live change notices of `topics` (see live-updates.ts): `onChange` runs for each matching notice and
 * on a resync. Returns the connection state. `onChange` may change between renders.
 */
export function useLiveTopics(topics: readonly LiveTopic[], onChange: (change: LiveChange | null) => void): LiveState {
  const [state, setState] = useState<LiveState>('connecting');
  const latest = useRef(onChange);
  useEffect(() => {
    latest.current = onChange;
  });
  const key = [...topics].sort().join(',');
  useEffect(() => {
    const list = key.split(',') as LiveTopic[];
    return subscribeLive({
      topics: list,
      onChange: (c) => latest.current(c),
      onResync: () => latest.current(null),
      onState: setState,
    });
  }, [key]);
  return state;
}

/**
 * A GET endpoint's data, reloaded when a live notice says it changed (`match` narrows which notices count,
 * e.g. one rollout's id), and every FALLBACK_POLL_MS while live updates are down. Reloads coalesce (one in
 * flight, at most one queued) and wait while the tab is hidden.
 */
export function useLiveData<T>(
  path: string | null,
  topics: readonly LiveTopic[],
  match?: (change: LiveChange) => boolean,
): { result: ConsoleResult<T> | null; refresh: () => void; updatedAt: number | null; live: LiveState } {
  const [result, setResult] = useState<ConsoleResult<T> | null>(null);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const inFlight = useRef(false);
  const queued = useRef(false);
  const dirty = useRef(false);

  const load = useCallback(async () => {
    if (!path) return;
    if (inFlight.current) {
      queued.current = true;
      return;
    }
    inFlight.current = true;
    try {
      do {
        queued.current = false;
        const r = await callConsoleApi<T>('GET', path);
        setResult(r);
        setUpdatedAt(Date.now());
      } while (queued.current);
    } finally {
      inFlight.current = false;
    }
  }, [path]);

  const changed = useCallback(() => {
    if (document.visibilityState === 'hidden') dirty.current = true;
    else void load();
  }, [load]);

  const live = useLiveTopics(topics, (c) => {
    if (c === null || !match || match(c)) changed();
  });

  useEffect(() => {
    const first = setTimeout(() => void load(), 0);
    const onVisible = () => {
      if (document.visibilityState === 'visible' && dirty.current) {
        dirty.current = false;
        void load();
      }
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearTimeout(first);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [load]);

  useEffect(() => {
    if (live === 'live' || !path) return;
    const timer = setInterval(changed, FALLBACK_POLL_MS);
    return () => clearInterval(timer);
  }, [live, path, changed]);

  return { result, refresh: () => void load(), updatedAt, live };
}
