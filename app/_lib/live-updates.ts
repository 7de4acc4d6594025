'use client';

/**
 * Live change notices in the browser: ONE EventSource per tab on GET /api/v1/events, for the union of the
 * topics the mounted components follow (browsers allow few connections per host, so components share it).
 * It reconnects with back-off, and a watchdog reconnects when the server's heartbeats stop. Components learn
 * the connection state so they can poll meanwhile and say so.
 */
import type { LiveChange, LiveReady, LiveTopic } from '@/contracts/live-events.schema';

/**
 * connecting: first attempt; live: notices arrive; reconnecting: lost, trying again; unavailable: several
 * attempts failed or the browser has no EventSource (still retrying, slowly, in the background).
 */
export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'unavailable';

export interface LiveListener {
  topics: readonly LiveTopic[];
  onChange(change: LiveChange): void;
  /** Notices may have been missed (reconnected): reload. */
  onResync(): void;
  onState(state: LiveState): void;
}

export const LIVE_EVENTS_PATH = '/api/v1/events';
const MAX_BACKOFF_MS = 30_000;
/** After this many failed attempts in a row the state is `unavailable`. */
const UNAVAILABLE_AFTER = 3;

const listeners = new Set<LiveListener>();
let source: EventSource | undefined;
let sourceTopics = '';
let state: LiveState = 'connecting';
let failures = 0;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let watchdog: ReturnType<typeof setTimeout> | undefined;
let reopenQueued = false;

function setState(next: LiveState): void {
  state = next;
  for (const l of [...listeners]) l.onState(next);
}

function wantedTopics(): string {
  return [...new Set([...listeners].flatMap((l) => l.topics))].sort().join(',');
}

function closeSource(): void {
  source?.close();
  source = undefined;
  sourceTopics = '';
  if (watchdog) clearTimeout(watchdog);
  watchdog = undefined;
}

function armWatchdog(heartbeatMs: number): void {
  if (watchdog) clearTimeout(watchdog);
  watchdog = setTimeout(() => fail(), heartbeatMs * 2 + 5_000);
}

function fail(): void {
  closeSource();
  failures += 1;
  setState(failures >= UNAVAILABLE_AFTER ? 'unavailable' : 'reconnecting');
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = setTimeout(
    () => {
      retryTimer = undefined;
      open();
    },
    Math.min(1_000 * 2 ** (failures - 1), MAX_BACKOFF_MS),
  );
}

function open(): void {
  const topics = wantedTopics();
  if (topics === '') return closeSource();
  if (source && sourceTopics === topics) return;
  closeSource();
  if (typeof EventSource === 'undefined') {
    failures = UNAVAILABLE_AFTER;
    return setState('unavailable');
  }
  const es = new EventSource(`${LIVE_EVENTS_PATH}?topics=${encodeURIComponent(topics)}`);
  source = es;
  sourceTopics = topics;
  let heartbeatMs = 15_000;
  armWatchdog(heartbeatMs);
  es.addEventListener('ready', (e) => {
    heartbeatMs = (JSON.parse((e as MessageEvent<string>).data) as LiveReady).heartbeatMs;
    armWatchdog(heartbeatMs);
    failures = 0;
    setState('live');
    // Whatever changed before the subscription was in place (since the page's first load, or while
    // disconnected) sent no notice: reload once now.
    for (const l of [...listeners]) l.onResync();
  });
  es.addEventListener('change', (e) => {
    armWatchdog(heartbeatMs);
    const change = JSON.parse((e as MessageEvent<string>).data) as LiveChange;
    for (const l of [...listeners]) if (l.topics.includes(change.topic)) l.onChange(change);
  });
  es.addEventListener('resync', () => {
    armWatchdog(heartbeatMs);
    for (const l of [...listeners]) l.onResync();
  });
  es.addEventListener('ping', () => armWatchdog(heartbeatMs));
  // EventSource would retry by itself, but not after a non-2xx answer; retrying here covers both, with back-off.
  es.onerror = () => {
    if (source === es) fail();
  };
}

/** Re-open with the new topic union once the current burst of (un)subscriptions is over. */
function queueReopen(): void {
  if (reopenQueued) return;
  reopenQueued = true;
  setTimeout(() => {
    reopenQueued = false;
    if (retryTimer) return; // a retry is scheduled and will use the new topics
    open();
  }, 0);
}

/** Follow `listener.topics`; returns the unsubscribe function. The listener learns the current state at once. */
export function subscribeLive(listener: LiveListener): () => void {
  listeners.add(listener);
  listener.onState(state);
  queueReopen();
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0) {
      closeSource();
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      failures = 0;
      state = 'connecting';
    } else queueReopen();
  };
}
