'use client';

import { useCallback, useEffect, useRef, useState } from 'react';
import { callConsoleApi, type ConsoleResult } from './console-api';

/**
 * Live data by polling a GET endpoint (default every second; paused while the tab is hidden), so status and
 * progress on screen are at most ~1 s old. `refresh()` fetches at once (after an action).
 */
export function usePoll<T>(path: string | null, intervalMs = 1000): { result: ConsoleResult<T> | null; refresh: () => void; updatedAt: number | null } {
  const [result, setResult] = useState<ConsoleResult<T> | null>(null);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const inFlight = useRef(false);
  const fetchOnce = useCallback(async () => {
    if (!path || inFlight.current) return;
    inFlight.current = true;
    try {
      const r = await callConsoleApi<T>('GET', path);
      setResult(r);
      setUpdatedAt(Date.now());
    } finally {
      inFlight.current = false;
    }
  }, [path]);
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
  return { result, refresh: () => void fetchOnce(), updatedAt };
}
