/**
 * Live updates for the console: one LISTEN connection per web process (server/db/live-event-listener.ts) fans
 * the database's change notices out to server-sent-event streams, each scoped to one tenant and the topics its
 * principal may read. A stream carries ids only; clients reload what changed through the REST API.
 *
 * Lifetimes: the LISTEN connection opens with the first subscriber and closes after `idleCloseMs` without any;
 * one heartbeat timer runs while there are subscribers. A stream ends (and unsubscribes) when the client goes
 * away (request aborted or stream cancelled), when a heartbeat finds its credentials no longer valid (signed
 * out, token revoked, tenant switched, role lowered), or when the client stops reading.
 */
import type { Logger } from 'pino';
import type { LiveChange, LiveReady, LiveTopic } from '../../contracts/live-events.schema';
import { authenticateRequest } from '../auth/authenticate';
import { can, type Action } from '../auth/permissions';
import { requirePermission, type Principal } from '../auth/principal';
import type { Db } from '../db/client';
import { listenForLiveEvents, type LiveEventNotification } from '../db/live-event-listener';
import type { ChannelListener } from '../db/pg-listener';
import { getEnv } from '../env';
import { AppError } from '../errors';
import { getLogger } from '../log';

/** What a principal needs to follow each topic (the same permission as reading it through the API). */
export const LIVE_TOPIC_PERMISSION: Record<LiveTopic, Action> = {
  rollouts: 'rollouts.read',
  playbooks: 'playbooks.read',
  proxies: 'fleet.read',
  agents: 'fleet.read',
  audit: 'audit.read',
  certificates: 'certificates.read',
};

export interface LiveSubscriber {
  tenantId: string;
  topics: ReadonlySet<LiveTopic>;
  onChange(change: LiveChange): void;
  /** Changes may have been missed (the database listener reconnected): reload everything. */
  onResync(): void;
  onHeartbeat(): void;
}

export interface LiveEventHub {
  readonly heartbeatMs: number;
  /** Resolves once the database listener is in place; the function it returns unsubscribes (idempotent). */
  subscribe(subscriber: LiveSubscriber): Promise<() => void>;
  subscriberCount(): number;
  /** Whether the LISTEN connection is open (it closes after a while without subscribers). */
  listening(): boolean;
  close(): Promise<void>;
}

export interface LiveEventHubOptions {
  databaseUrl: string;
  /** How often each stream gets a `ping` (and its credentials are checked again). */
  heartbeatMs?: number;
  /** How long the LISTEN connection stays open without subscribers. */
  idleCloseMs?: number;
  log?: Logger;
}

export function createLiveEventHub(opts: LiveEventHubOptions): LiveEventHub {
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const idleCloseMs = opts.idleCloseMs ?? 30_000;
  const log = opts.log ?? getLogger();
  const subscribers = new Set<LiveSubscriber>();
  let listener: Promise<ChannelListener> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let idle: NodeJS.Timeout | undefined;
  let closed = false;

  const each = (fn: (s: LiveSubscriber) => void) => {
    for (const s of [...subscribers]) {
      try {
        fn(s);
      } catch (err) {
        log.warn({ err }, 'live events: a subscriber failed');
      }
    }
  };

  const dispatch = (n: LiveEventNotification) => each((s) => s.tenantId === n.tenantId && s.topics.has(n.topic) && s.onChange({ topic: n.topic, id: n.id }));

  const ensureListener = (): Promise<ChannelListener> => {
    if (!listener) {
      const started = listenForLiveEvents(opts.databaseUrl, {
        onNotification: dispatch,
        onReconnect: () => each((s) => s.onResync()),
        onError: (err) => log.warn({ err }, 'live events: database listener error'),
      });
      listener = started;
      started.catch(() => {
        if (listener === started) listener = undefined;
      });
    }
    return listener;
  };

  const stopListener = async () => {
    const l = listener;
    listener = undefined;
    if (l) await (await l.catch(() => undefined))?.close();
  };

  const onCountChanged = () => {
    if (subscribers.size > 0) {
      if (idle) clearTimeout(idle);
      idle = undefined;
      heartbeat ??= setInterval(() => each((s) => s.onHeartbeat()), heartbeatMs);
      return;
    }
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
    if (!idle && listener) {
      idle = setTimeout(() => {
        idle = undefined;
        if (subscribers.size === 0) void stopListener();
      }, idleCloseMs);
      idle.unref();
    }
  };

  return {
    heartbeatMs,
    async subscribe(subscriber) {
      if (closed) throw new Error('live event hub closed');
      await ensureListener();
      subscribers.add(subscriber);
      onCountChanged();
      let done = false;
      return () => {
        if (done) return;
        done = true;
        subscribers.delete(subscriber);
        onCountChanged();
      };
    },
    subscriberCount: () => subscribers.size,
    listening: () => listener !== undefined,
    async close() {
      closed = true;
      subscribers.clear();
      onCountChanged();
      if (idle) clearTimeout(idle);
      idle = undefined;
      await stopListener();
    },
  };
}

const holder = globalThis as typeof globalThis & { __proxyshardLiveEvents?: LiveEventHub };

/** The web process's hub (kept on globalThis like the database client, so every route module shares it). */
export function getAppLiveEvents(): LiveEventHub {
  if (!holder.__proxyshardLiveEvents) {
    const url = getEnv().DATABASE_URL;
    if (!url) throw new AppError('unavailable', 'live updates are unavailable: DATABASE_URL is not set');
    holder.__proxyshardLiveEvents = createLiveEventHub({ databaseUrl: url });
  }
  return holder.__proxyshardLiveEvents;
}

/** Use `hub` for every stream (tests: a hub on the per-file test database). */
export function setAppLiveEvents(hub: LiveEventHub | undefined): void {
  holder.__proxyshardLiveEvents = hub;
}

/** Streams whose client reads nothing for this many queued messages are closed (the client reconnects). */
const MAX_QUEUED = 256;

const encoder = new TextEncoder();
const sse = (event: string, data: unknown) => encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

/**
 * GET /api/v1/events: a `text/event-stream` of `ready`, then `change` / `resync` / `ping` messages for the
 * principal's tenant and the requested topics, until the client goes away or its credentials lapse.
 */
export async function openLiveEventStream(
  hub: LiveEventHub,
  db: Db,
  req: Request,
  principal: Principal,
  topics: readonly LiveTopic[],
): Promise<Response> {
  for (const t of topics) requirePermission(principal, LIVE_TOPIC_PERMISSION[t]);
  const log = getLogger();
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let unsubscribe: (() => void) | undefined;
  let ended = false;
  let checking = false;

  const end = () => {
    if (ended) return;
    ended = true;
    unsubscribe?.();
    req.signal.removeEventListener('abort', end);
    try {
      controller?.close();
    } catch {
      // already closed or cancelled by the client
    }
  };
  const send = (chunk: Uint8Array) => {
    if (ended || !controller) return;
    if ((controller.desiredSize ?? 0) < -MAX_QUEUED) {
      log.info({ tenantId: principal.tenant.id }, 'live events: closing a stream whose client stopped reading');
      return end();
    }
    try {
      controller.enqueue(chunk);
    } catch {
      end();
    }
  };
  /** Still the same tenant, still allowed every topic: otherwise the stream ends. */
  const recheck = async () => {
    if (checking || ended) return;
    checking = true;
    try {
      const now = await authenticateRequest(db, req.headers);
      const ok = now !== null && now.tenant.id === principal.tenant.id && topics.every((t) => can(now.role, LIVE_TOPIC_PERMISSION[t]));
      if (!ok) end();
    } catch (err) {
      log.warn({ err }, 'live events: re-checking credentials failed; keeping the stream until the next heartbeat');
    } finally {
      checking = false;
    }
  };

  try {
    unsubscribe = await hub.subscribe({
      tenantId: principal.tenant.id,
      topics: new Set(topics),
      onChange: (change) => send(sse('change', change)),
      onResync: () => send(sse('resync', {})),
      onHeartbeat: () => {
        send(sse('ping', { at: new Date().toISOString() }));
        void recheck();
      },
    });
  } catch (err) {
    throw new AppError('unavailable', 'live updates are unavailable right now (the server cannot listen to the database); pages refresh periodically instead', undefined, { cause: err });
  }
  if (req.signal.aborted) {
    unsubscribe();
    ended = true;
  } else req.signal.addEventListener('abort', end, { once: true });

  const ready: LiveReady = { topics: [...topics], heartbeatMs: hub.heartbeatMs };
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      // `retry`: how long EventSource waits before reconnecting by itself.
      c.enqueue(encoder.encode('retry: 3000\n\n'));
      c.enqueue(sse('ready', ready));
      if (ended) c.close();
    },
    cancel: end,
  });
  return new Response(stream, {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      // no-transform: no compression (which would hold messages back); no-store: never cached.
      'cache-control': 'no-store, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    },
  });
}
