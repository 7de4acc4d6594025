'use client';

import { useCallback, useEffect, useRef, useState } from 'react';
import { callConsoleApi, type ConsoleResult } from './console-api';

/**
 * Live data by polling a GET endpoint (default every second; paused while the tab is hidden), so status and
 * progress on screen are at most ~1 s old. `refresh()` fetches at once (after an action).
 *
 * A response with the same `keyOf` as the previous one (default: the same JSON) changes nothing: `result`
 * keeps its object and the caller does not re-render. A page that polls beside something costly to render
 * (the graph editor's 1,000 nodes) pays for a poll only when the data changed. `keyOf` must be stable (a
 * module-level function).
 */
export function usePoll<T>(
  path: string | null,
  intervalMs = 1000,
  keyOf: (r: ConsoleResult<T>) => string = JSON.stringify,
): { result: ConsoleResult<T> | null; refresh: () => void } {
  const [result, setResult] = useState<ConsoleResult<T> | null>(null);
  const inFlight = useRef(false);
  const lastKey = useRef<string | null>(null);
  const fetchOnce = useCallback(async () => {
    if (!path || inFlight.current) return;
    inFlight.current = true;
    try {
      const r = await callConsoleApi<T>('GET', path);
      const key = keyOf(r);
      if (key === lastKey.current) return;
      lastKey.current = key;
      setResult(r);
    } finally {
      inFlight.current = false;
    }
  }, [path, keyOf]);
  useEffect(() => {
    if (!path) return;
    const first = setTimeout(() => void fetchOnce(), 0);
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void fetchOnce();
    }, intervalMs);
    return () => {
      clearTimeout(first);
      clearInterval(timer);
    };
  }, [path, intervalMs, fetchOnce]);
  const refresh = useCallback(() => void fetchOnce(), [fetchOnce]);
  return { result, refresh };
}
