/**
 * GET /api/v1/events against a real PostgreSQL: the migration's triggers NOTIFY, the hub LISTENs, and a
 * subscribed client receives a `change` for a rollout or proxy state change of its tenant — never one of
 * another tenant. Credentials are required (and re-checked on heartbeats: a revoked token ends the stream),
 * bad topics are refused by name, an aborted or cancelled stream leaves no subscriber behind, the LISTEN
 * connection closes when nobody listens, and a lost LISTEN connection comes back with a `resync`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import * as eventsRoute from '../app/api/v1/events/route';
import type { LiveChange, LiveReady } from '../contracts/live-events.schema';
import type { RolloutSpec, RolloutStatus } from '../contracts/rollout.schema';
import { setAppDb } from '../server/app-db';
import type { Tenant } from '../server/db/tenant.repo';
import { recordProxyConnected, recordResourceStates } from '../server/db/proxy.repo';
import { insertRollout, updateRolloutStatus } from '../server/db/rollout.repo';
import { listProxyStatus } from '../server/services/proxy-status.service';
import { createLiveEventHub, setAppLiveEvents, type LiveEventHub } from '../server/services/live-events.service';
import { revokeToken } from '../server/services/token.service';
import { call, makeMember, makeRevision, makeTenant, makeToken, oneRouteGraph, type TestMember } from './support/api';
import { createTestDatabase, type TestDatabase } from './support/db';

const HEARTBEAT_MS = 200;
/** Bound of every wait below: a failure, never a measured figure. */
const WAIT_MS = 20_000;

let tdb: TestDatabase;
let hub: LiveEventHub;
let a: TestMember;
let b: TestMember;
let tokenA: string;
let tokenB: string;

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  hub = createLiveEventHub({ databaseUrl: tdb.url, heartbeatMs: HEARTBEAT_MS, idleCloseMs: 50 });
  setAppLiveEvents(hub);
  a = await makeMember(tdb.db, await makeTenant(tdb.db, 'live-a'), 'viewer');
  b = await makeMember(tdb.db, await makeTenant(tdb.db, 'live-b'), 'viewer');
  tokenA = (await makeToken(tdb.db, a)).secret;
  tokenB = (await makeToken(tdb.db, b)).secret;
});

after(async () => {
  await hub.close();
  setAppLiveEvents(undefined);
  setAppDb(undefined);
  await tdb.drop();
});

interface SseMessage {
  event: string;
  data: unknown;
}

/** An open stream: messages as they arrive, `next` waits for one that matches. */
interface Stream {
  status: number;
  contentType: string | null;
  messages: SseMessage[];
  next(what: string, pred: (m: SseMessage) => boolean): Promise<SseMessage>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  abort(): void;
  cancel(): Promise<void>;
}

async function openStream(token: string, topics: string): Promise<Stream> {
  const ac = new AbortController();
  const url = new URL('/api/v1/events', 'http://127.0.0.1:3000');
  url.searchParams.set('topics', topics);
  const req = new Request(url, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  const res = await eventsRoute.GET(req, { params: Promise.resolve({}) });
  if (res.status !== 200) assert.fail(`GET /api/v1/events: ${res.status} ${await res.text()}`);
  const reader = res.body!.getReader();
  const messages: SseMessage[] = [];
  const waiters: (() => void)[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  const ended = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined) messages.push({ event, data: data === undefined ? null : JSON.parse(data) });
      }
      for (const w of waiters.splice(0)) w();
    }
    for (const w of waiters.splice(0)) w();
  })();
  let finished = false;
  void ended.then(() => (finished = true));
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    messages,
    ended,
    async next(what, pred) {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const found = messages.find(pred);
        if (found) return found;
        if (finished) assert.fail(`${what}: the stream ended; got ${JSON.stringify(messages)}`);
        if (Date.now() > deadline) assert.fail(`${what}: not received; got ${JSON.stringify(messages)}`);
        await Promise.race([new Promise<void>((r) => waiters.push(r)), new Promise((r) => setTimeout(r, 250))]);
      }
    },
    abort: () => ac.abort(),
    cancel: () => reader.cancel(),
  };
}

const changeOf = (m: SseMessage) => (m.event === 'change' ? (m.data as LiveChange) : null);

async function until(what: string, fn: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail(`${what}: still false`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startRollout(tenant: Tenant, route: string) {
  const revisionId = await makeRevision(tdb.db, tenant, oneRouteGraph(route));
  const spec = { stableCluster: 'web', canaryCluster: 'web-canary', steps: [{ kind: 'setWeight', weight: 20 }] } as unknown as RolloutSpec;
  return insertRollout(tdb.db, {
    tenantId: tenant.id,
    workflowId: `rollout:${route}:${revisionId}`,
    routeName: route,
    revisionId,
    spec,
    stepsHash: 'h',
    authors: [],
    startedById: 'test',
    startedByName: 'test',
    lastGoodRevisionId: null,
  });
}

test('without credentials, with bad credentials or unknown topics: refused, and nobody is subscribed', async () => {
  const anonymous = await call(eventsRoute.GET, { query: { topics: 'rollouts' } });
  assert.equal(anonymous.status, 401);
  const badToken = await call(eventsRoute.GET, { token: 'ps_nope', query: { topics: 'rollouts' } });
  assert.equal(badToken.status, 401);
  const unknown = await call(eventsRoute.GET, { token: tokenA, query: { topics: 'rollouts,secrets' } });
  assert.equal(unknown.status, 400);
  assert.ok(unknown.body.error.issues.some((i: { path: string }) => i.path.startsWith('topics')), JSON.stringify(unknown.body));
  const none = await call(eventsRoute.GET, { token: tokenA });
  assert.equal(none.status, 400);
  assert.equal(hub.subscriberCount(), 0);
});

test("a rollout and a proxy change of tenant A reach A's subscriber, none reaches B's", async () => {
  const streamA = await openStream(tokenA, 'rollouts,proxies');
  const streamB = await openStream(tokenB, 'rollouts,proxies');
  assert.match(streamA.contentType ?? '', /^text\/event-stream/);
  const ready = (await streamA.next('ready', (m) => m.event === 'ready')).data as LiveReady;
  assert.deepEqual(ready.topics, ['rollouts', 'proxies']);
  await streamB.next('ready B', (m) => m.event === 'ready');

  // A rollout starts, then pauses for an approval.
  const rollout = await startRollout(a.tenant, 'checkout');
  await streamA.next('the new rollout', (m) => changeOf(m)?.topic === 'rollouts' && changeOf(m)?.id === rollout.id);
  const seen = streamA.messages.length;
  const status = { phase: 'Paused', currentStepIndex: 0, pauseReason: 'AwaitingApproval', traffic: { weight: 20, headerRoute: null, mirrorPercent: 0 } } as unknown as RolloutStatus;
  await updateRolloutStatus(tdb.db, a.tenant.id, rollout.id, status);
  await streamA.next('the paused rollout', (m) => streamA.messages.indexOf(m) >= seen && changeOf(m)?.id === rollout.id);

  // A proxy connects, is sent LDS and NACKs it: what the fleet page then reads says NACKED with Envoy's text.
  const proxy = await recordProxyConnected(tdb.db, { tenantId: a.tenant.id, nodeId: 'envoy-a', nodeCluster: '', nodeGroup: 'default', metadata: {}, userAgent: 'envoy', replica: 'r1' });
  await streamA.next('the connected proxy', (m) => changeOf(m)?.topic === 'proxies' && changeOf(m)?.id === proxy.proxyId);
  const beforeNack = streamA.messages.length;
  const typeUrl = 'type.googleapis.com/envoy.config.listener.v3.Listener';
  const at = new Date();
  await recordResourceStates(
    tdb.db,
    [{ proxyId: proxy.proxyId, typeUrl, sent: { version: 'v1', nonce: 'n1', at }, nacked: { version: 'v1', nonce: 'n1', error: 'duplicate listener name', at } }],
    [proxy.proxyId],
  );
  await streamA.next('the NACK', (m) => streamA.messages.indexOf(m) >= beforeNack && changeOf(m)?.id === proxy.proxyId);
  const lds = (await listProxyStatus(tdb.db, a.tenant.id))[0]!.types.find((t) => t.type === 'LDS')!;
  assert.equal(lds.status, 'NACKED');
  assert.equal(lds.error, 'duplicate listener name');

  // A fleet's ACKs written in one batch (as the xds process does) are one notification without an id, not
  // one per proxy: the rollout started after it is the sentinel that everything before it was dispatched.
  const more = await Promise.all(
    ['envoy-a2', 'envoy-a3'].map((nodeId) => recordProxyConnected(tdb.db, { tenantId: a.tenant.id, nodeId, nodeCluster: '', nodeGroup: 'default', metadata: {}, userAgent: 'envoy', replica: 'r1' })),
  );
  const fleet = [proxy, ...more].map((p) => p.proxyId);
  for (const p of more) await streamA.next('the other proxies connected', (m) => changeOf(m)?.id === p.proxyId);
  const ack = (version: string) => fleet.map((proxyId) => ({ proxyId, typeUrl, sent: { version, nonce: version, at }, acked: { version, nonce: version, at } }));
  await recordResourceStates(tdb.db, ack('v2'), fleet);
  const settled = await startRollout(a.tenant, 'settled');
  await streamA.next('the rollout after the first states', (m) => changeOf(m)?.id === settled.id);
  const beforeBatch = streamA.messages.length;
  await recordResourceStates(tdb.db, ack('v3'), fleet);
  const afterBatch = await startRollout(a.tenant, 'after-batch');
  await streamA.next('the rollout after the batch', (m) => changeOf(m)?.id === afterBatch.id);
  const batch = streamA.messages.slice(beforeBatch).filter((m) => changeOf(m)?.topic === 'proxies');
  assert.deepEqual(batch.map((m) => changeOf(m)!.id ?? null), [null], 'one notification for the batch, naming no single proxy');

  // B's subscriber: its own sentinel change arrives (notifications are delivered in commit order on one
  // connection, so everything of A's was dispatched before it), and nothing of A came before it.
  const sentinel = await startRollout(b.tenant, 'b-route');
  await streamB.next("B's own rollout", (m) => changeOf(m)?.id === sentinel.id);
  const aIds = new Set([rollout.id, settled.id, afterBatch.id, ...fleet]);
  assert.deepEqual(
    streamB.messages.filter((m) => m.event === 'change' && aIds.has(changeOf(m)!.id ?? '')),
    [],
    "B received none of A's changes",
  );
  assert.ok(!streamA.messages.some((m) => changeOf(m)?.id === sentinel.id), "A received none of B's changes");

  // Aborting (the browser went away) and cancelling the body both unsubscribe.
  assert.equal(hub.subscriberCount(), 2);
  streamA.abort();
  await streamA.ended;
  await streamB.cancel();
  await until('no subscriber left', () => hub.subscriberCount() === 0);
  await until('the LISTEN connection closed once idle', () => !hub.listening());
});

test('heartbeats arrive; a revoked token ends the stream at the next heartbeat', async () => {
  const token = await makeToken(tdb.db, a);
  const stream = await openStream(token.secret, 'agents');
  await stream.next('a heartbeat', (m) => m.event === 'ping');
  await revokeToken(tdb.db, a.principal, token.id);
  await stream.ended;
  await until('the revoked stream unsubscribed', () => hub.subscriberCount() === 0);
});

test('a lost LISTEN connection reconnects and tells subscribers to resync', async () => {
  const stream = await openStream(tokenA, 'rollouts');
  await stream.next('ready', (m) => m.event === 'ready');
  const admin = new pg.Client({ connectionString: tdb.url });
  await admin.connect();
  try {
    const killed = await admin.query(`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN proxyshard_events'`);
    assert.equal(killed.rowCount, 1, 'the hub holds one LISTEN connection');
  } finally {
    await admin.end();
  }
  await stream.next('resync after the reconnect', (m) => m.event === 'resync');
  // And notices flow again on the new connection.
  const rollout = await startRollout(a.tenant, 'after-reconnect');
  await stream.next('a change after the reconnect', (m) => changeOf(m)?.id === rollout.id);
  stream.abort();
  await until('no subscriber left', () => hub.subscriberCount() === 0);
});
