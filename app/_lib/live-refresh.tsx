'use client';

import { useRouter } from 'next/navigation';
import { useEffect, useRef } from 'react';
import type { LiveTopic } from '@/contracts/live-events.schema';
import { LiveStatus } from './live-status';
import { FALLBACK_POLL_MS, useLiveTopics } from './use-live-data';

/** A burst of notices (e.g. many audit entries in one apply) re-renders the page once per this interval. */
const MIN_REFRESH_GAP_MS = 500;

/**
 * For server-rendered pages: re-render (router.refresh) when a live notice of `topics` arrives, every
 * FALLBACK_POLL_MS while live updates are down, and show the connection state.
 */
export function LiveRefresh({ topics }: { topics: readonly LiveTopic[] }) {
  const router = useRouter();
  const last = useRef(0);
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const refresh = () => {
    if (pending.current) return;
    const wait = Math.max(0, last.current + MIN_REFRESH_GAP_MS - Date.now());
    pending.current = setTimeout(() => {
      pending.current = undefined;
      last.current = Date.now();
      if (document.visibilityState !== 'hidden') router.refresh();
    }, wait);
  };
  const state = useLiveTopics(topics, refresh);
  useEffect(() => () => clearTimeout(pending.current), []);
  useEffect(() => {
    if (state === 'live') return;
    const timer = setInterval(() => {
      if (document.visibilityState !== 'hidden') router.refresh();
    }, FALLBACK_POLL_MS);
    return () => clearInterval(timer);
  }, [state, router]);
  return <LiveStatus state={state} />;
}
