'use client';

import type { LiveState } from './live-updates';
import { FALLBACK_POLL_MS } from './use-live-data';

const TEXT: Record<LiveState, string> = {
  connecting: 'Connecting to live updates…',
  live: 'Live',
  reconnecting: `Live updates interrupted: reconnecting; refreshing every ${FALLBACK_POLL_MS / 1000} s meanwhile.`,
  unavailable: `Live updates are unavailable (the server or a proxy in between does not pass server-sent events): refreshing every ${FALLBACK_POLL_MS / 1000} s instead and retrying in the background. If this stays, check that /api/v1/events is not buffered.`,
};

/** Says whether the page is live, and what it does when it is not. */
export function LiveStatus({ state, updatedAt }: { state: LiveState; updatedAt?: number | null }) {
  return (
    <p className={`live-status ${state}`} role="status" aria-live="polite" data-live-state={state}>
      {TEXT[state]}
      {updatedAt ? <span className="small"> · updated {new Date(updatedAt).toLocaleTimeString()}</span> : null}
    </p>
  );
}
