/**
 * envoy.service.discovery.v3.AggregatedDiscoveryService: StreamAggregatedResources (state of the world) and
 * DeltaAggregatedResources (incremental).
 *
 * Versions are per type: a type's responses carry its type version (a hash of that type's content,
 * core/xds/snapshot.ts typeVersions), and that is what is recorded as sent, ACKed and NACKed. A snapshot that
 * changes only routes therefore reaches proxies as one RDS response; CDS, EDS and LDS stay quiet.
 * State of the world, per stream and type URL:
 *   - every response carries version_info (the type version) and a fresh nonce (unique across streams);
 *   - a request whose response_nonce is the last nonce sent is an ACK, or a NACK when it has error_detail
 *     (recorded with that nonce, the version that nonce carried and Envoy's message); a request with an
 *     older nonce is stale and ignored; a request without nonce is a new subscription and always answered;
 *   - the server answers only an outstanding request (after an ACK/NACK or a new subscription), and only when
 *     the type version or the set of resources the request selects differs from the last response;
 *   - LDS/CDS: empty resource_names (or "*") = all; RDS/EDS: exactly the requested names that exist;
 *   - on a new snapshot, the types whose version changed go out in the order clusters → endpoints →
 *     listeners → routes.
 * Delta, per stream and type URL:
 *   - the subscription is a set of names plus a wildcard flag (LDS/CDS: a first request subscribing to
 *     nothing, or to "*", is a wildcard); resource_names_subscribe / _unsubscribe change it at any time;
 *   - every resource carries its own version (a hash of its encoding, equal on every replica); the server
 *     keeps what the client has (name → version, seeded from initial_resource_versions on a reconnect) and
 *     sends only resources whose version differs, plus removed_resources for names the client has that the
 *     snapshot no longer holds (and, once, for explicitly subscribed names that do not exist);
 *   - every response has a fresh nonce and system_version_info = the type version; a request whose
 *     response_nonce names a response still awaiting its answer ACKs it, or NACKs it with error_detail
 *     (recorded exactly like state-of-the-world, by nonce); several responses may be in flight;
 *   - the first answer to a subscription is sent even when empty (Envoy waits for it to finish warming), and
 *     so is one answer per new type version (even when the client already has every resource, e.g. after a
 *     reconnect), so that every type is ACKed per type version like SotW.
 * The proxy's tenant and node group come from node metadata (`tenant`, `node_group`) of the first request.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { PUSH_ORDER, resourceKindOfTypeUrl, TYPE_URL, type ResourceKind } from '../../core/xds/snapshot';
import type { ProxyConnection, ProxyConnectInput } from '../../server/db/proxy.repo';
import { XdsMetrics } from './metrics';
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryRequestInput,
  DeltaDiscoveryResponse,
  DeltaResource,
  DiscoveryNode,
  DiscoveryRequest,
  DiscoveryRequestInput,
  DiscoveryResponse,
  EncodedAny,
  XdsProtos,
} from './protos';
import type { CachedSnapshot, SnapshotCache } from './snapshot-cache';

export const ADS_SERVICE_NAME = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/**
 * Where the server records what proxies do (PostgreSQL in production, a fake in unit tests). `sent`, `acked`
 * and `nacked` only hand the event over (production batches them, see proxy-state-writer.ts): they run on
 * the push path and must neither block nor fail it.
 */
export interface ProxyStateStore {
  connected(input: ProxyConnectInput): Promise<ProxyConnection>;
  disconnected(conn: ProxyConnection): Promise<void>;
  sent(proxyId: string, typeUrl: string, sent: { version: string; nonce: string }): void;
  acked(proxyId: string, typeUrl: string, version: string): void;
  nacked(proxyId: string, typeUrl: string, nack: { version: string; nonce: string; error: string }): void;
}

export interface AdsServerOptions {
  protos: XdsProtos;
  cache: SnapshotCache;
  store: ProxyStateStore;
  /** Tenant slug → tenant id; undefined when there is no such tenant. */
  resolveTenant: (slug: string) => Promise<string | undefined>;
  metrics: XdsMetrics;
  log: Logger;
  /** This replica's name, stored on the proxies it serves. */
  replica: string;
  defaultTenant?: string;
  defaultNodeGroup?: string;
}

export function adsServiceDefinition(protos: XdsProtos): grpc.ServiceDefinition {
  return {
    StreamAggregatedResources: {
      path: `/${ADS_SERVICE_NAME}/StreamAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (req: DiscoveryRequestInput) => Buffer.from(protos.encodeDiscoveryRequest(req)),
      requestDeserialize: (bytes: Buffer) => protos.decodeDiscoveryRequest(bytes),
      // The server writes responses already encoded (one encoding per snapshot, type and subscription,
      // shared by every stream: SotwResponses below); other users of this definition may pass objects.
      responseSerialize: (res: DiscoveryResponse | Buffer) => (Buffer.isBuffer(res) ? res : Buffer.from(protos.encodeDiscoveryResponse(res))),
      responseDeserialize: (bytes: Buffer) => protos.decodeDiscoveryResponse(bytes),
    },
    DeltaAggregatedResources: {
      path: `/${ADS_SERVICE_NAME}/DeltaAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (req: DeltaDiscoveryRequestInput) => Buffer.from(protos.encodeDeltaDiscoveryRequest(req)),
      requestDeserialize: (bytes: Buffer) => protos.decodeDeltaDiscoveryRequest(bytes),
      responseSerialize: (res: DeltaDiscoveryResponse) => Buffer.from(protos.encodeDeltaDiscoveryResponse(res)),
      responseDeserialize: (bytes: Buffer) => protos.decodeDeltaDiscoveryResponse(bytes),
    },
  };
}

/** The ADS service: its implementation plus a handle on the open streams (for shutdown and tests). */
export class AdsServer {
  private readonly streams = new Set<StreamBase<unknown, unknown>>();

  constructor(private readonly opts: AdsServerOptions) {}

  implementation(): grpc.UntypedServiceImplementation {
    const sotw: grpc.handleBidiStreamingCall<DiscoveryRequest, Buffer> = (call) => {
      const stream: StreamBase<DiscoveryRequest, Buffer> = new AdsStream(call, this.opts, () => this.streams.delete(stream as StreamBase<unknown, unknown>));
      this.streams.add(stream as StreamBase<unknown, unknown>);
    };
    const delta: grpc.handleBidiStreamingCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> = (call) => {
      const stream: StreamBase<DeltaDiscoveryRequest, DeltaDiscoveryResponse> = new DeltaStream(call, this.opts, () =>
        this.streams.delete(stream as StreamBase<unknown, unknown>),
      );
      this.streams.add(stream as StreamBase<unknown, unknown>);
    };
    return { StreamAggregatedResources: sotw, DeltaAggregatedResources: delta };
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Ends every stream with UNAVAILABLE (proxies reconnect, possibly to another replica) and waits for their cleanup. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.streams].map((s) => s.close(grpc.status.UNAVAILABLE, 'xds server shutting down')));
  }
}

interface TypeState {
  typeUrl: string;
  kind: ResourceKind | undefined;
  /** The client has a request we have not answered yet. */
  pending: boolean;
  /** resource_names of the latest request. */
  names: string[];
  /** The subscription as a key: "*" for all, else the sorted distinct names. */
  namesKey: string;
  /** The last response: its type version, nonce, the subscription it answered and the names it carried. */
  lastSent?: { version: string; nonce: string; namesKey: string; selectedKey: string };
}

interface ProxyIdentity {
  tenantId: string;
  tenantSlug: string;
  nodeGroup: string;
  nodeId: string;
}

/** What both protocols share per stream: identity from the first request, the connection row, ordered handling, close. */
abstract class StreamBase<Req, Res> {
  protected readonly log: Logger;
  private readonly noncePrefix = randomBytes(4).toString('hex');
  private nonceCounter = 0;
  protected identity?: ProxyIdentity;
  protected connection?: Promise<ProxyConnection | undefined>;
  /** The proxy's row id once its connection is recorded; events before that wait in `early`. */
  private proxyId?: string;
  private early: ((proxyId: string) => void)[] = [];
  private unsubscribe?: () => void;
  /** Requests are handled one at a time, in order: synchronously, unless one has to wait (identification). */
  private readonly queue: Req[] = [];
  private busy = false;
  protected closed = false;
  private finished?: Promise<void>;

  constructor(
    protected readonly call: grpc.ServerDuplexStream<Req, Res>,
    protected readonly opts: AdsServerOptions,
    private readonly onFinished: () => void,
  ) {
    this.log = opts.log.child({ peer: call.getPeer() });
    call.on('data', (req: Req) => {
      this.queue.push(req);
      if (!this.busy) this.drain();
    });
    call.on('end', () => void this.close(grpc.status.OK, 'client closed the stream'));
    call.on('error', (err) => {
      this.log.debug({ err }, 'ADS stream error');
      void this.close(undefined, undefined);
    });
    call.on('cancelled', () => void this.close(undefined, undefined));
  }

  /** Handles one request; returns a promise only when it had to wait for something. */
  protected abstract handle(req: Req): Promise<void> | void;
  protected abstract onSnapshot(snapshot: CachedSnapshot): void;

  private drain(): void {
    this.busy = true;
    while (this.queue.length > 0 && !this.closed) {
      const req = this.queue.shift()!;
      let waiting: Promise<void> | void;
      try {
        waiting = this.handle(req);
      } catch (err) {
        this.fail(err);
        return;
      }
      if (waiting !== undefined) {
        waiting.then(
          () => this.drain(),
          (err: unknown) => this.fail(err),
        );
        return;
      }
    }
    this.busy = false;
  }

  protected nextNonce(): string {
    return `${this.noncePrefix}-${++this.nonceCounter}`;
  }

  /** Ends the stream (with a status when it is still open) and records the disconnect. Idempotent. */
  close(code: grpc.status | undefined, details: string | undefined): Promise<void> {
    this.finished ??= (async () => {
      this.closed = true;
      this.unsubscribe?.();
      if (code !== undefined && !this.call.cancelled) {
        if (code === grpc.status.OK) this.call.end();
        else this.call.emit('error', { code, details: details ?? '' });
      }
      if (this.identity !== undefined) {
        this.opts.metrics.connectedProxies.dec();
        this.log.info({ nodeId: this.identity.nodeId }, 'proxy disconnected');
      }
      const conn = await this.connection;
      if (conn !== undefined) {
        await this.opts.store.disconnected(conn).catch((err: unknown) => {
          this.log.error({ err, nodeId: this.identity?.nodeId }, 'could not record the proxy disconnect');
        });
      }
      this.onFinished();
    })();
    return this.finished;
  }

  private fail(err: unknown): void {
    this.log.error({ err }, 'ADS stream failed');
    void this.close(grpc.status.INTERNAL, err instanceof Error ? err.message : String(err));
  }

  /** Reads tenant and node group from the first request's node; false when the stream was refused. */
  protected async identify(node: DiscoveryNode | null, protocol: 'sotw' | 'delta'): Promise<boolean> {
    if (node === null || node.id === '') {
      await this.close(grpc.status.INVALID_ARGUMENT, 'the first DiscoveryRequest must carry a node with an id');
      return false;
    }
    const meta = node.metadata;
    const tenantSlug = typeof meta.tenant === 'string' && meta.tenant !== '' ? meta.tenant : (this.opts.defaultTenant ?? 'demo');
    const nodeGroup =
      typeof meta.node_group === 'string' && meta.node_group !== '' ? meta.node_group : (this.opts.defaultNodeGroup ?? 'default');
    const tenantId = await this.opts.resolveTenant(tenantSlug);
    if (tenantId === undefined) {
      this.log.warn({ nodeId: node.id, tenant: tenantSlug }, 'proxy of an unknown tenant refused');
      await this.close(grpc.status.NOT_FOUND, `unknown tenant "${tenantSlug}" (node metadata "tenant")`);
      return false;
    }
    if (this.closed) return false;
    this.identity = { tenantId, tenantSlug, nodeGroup, nodeId: node.id };
    const input: ProxyConnectInput = {
      tenantId,
      nodeId: node.id,
      nodeCluster: node.cluster,
      nodeGroup,
      metadata: meta,
      userAgent: node.userAgent,
      replica: this.opts.replica,
    };
    // Recorded before any sent/ACK/NACK of this stream (those wait in `early`), but not awaited before answering.
    this.connection = this.opts.store.connected(input).then(
      (conn) => {
        this.proxyId = conn.proxyId;
        for (const event of this.early) event(conn.proxyId);
        this.early = [];
        return conn;
      },
      (err: unknown) => {
        this.log.error({ err, nodeId: node.id }, 'could not record the proxy connection');
        this.early = [];
        return undefined;
      },
    );
    this.opts.metrics.connectedProxies.inc();
    this.log.info({ nodeId: node.id, tenant: tenantSlug, nodeGroup, userAgent: node.userAgent, protocol }, 'proxy connected');
    this.unsubscribe = this.opts.cache.subscribe(tenantId, nodeGroup, (snapshot) => this.onSnapshot(snapshot));
    return true;
  }

  protected snapshot(): CachedSnapshot | undefined {
    return this.identity === undefined ? undefined : this.opts.cache.get(this.identity.tenantId, this.identity.nodeGroup);
  }

  /** ACK or NACK of the response `sent` (by nonce), counted and recorded. */
  protected answered(typeUrl: string, sent: { version: string; nonce: string }, error: { message: string } | null): void {
    if (error !== null) {
      const message = error.message;
      this.opts.metrics.forType(typeUrl).nacks.inc();
      this.log.warn({ nodeId: this.identity?.nodeId, typeUrl, version: sent.version, nonce: sent.nonce, error: message }, 'NACK');
      this.record((proxyId) => this.opts.store.nacked(proxyId, typeUrl, { version: sent.version, nonce: sent.nonce, error: message }));
    } else {
      this.opts.metrics.forType(typeUrl).acks.inc();
      if (this.log.isLevelEnabled('debug')) this.log.debug({ typeUrl, version: sent.version }, 'ACK');
      this.record((proxyId) => this.opts.store.acked(proxyId, typeUrl, sent.version));
    }
  }

  /** Counts and records a response that went out. */
  protected sentResponse(typeUrl: string, version: string, nonce: string, resources: number): void {
    this.opts.metrics.forType(typeUrl).pushes.inc();
    if (this.log.isLevelEnabled('debug')) this.log.debug({ typeUrl, version, nonce, resources }, 'sent');
    this.record((proxyId) => this.opts.store.sent(proxyId, typeUrl, { version, nonce }));
  }

  /** Hands an event to the store, in order, once the proxy's row exists (dropped when it could not be recorded). */
  private record(event: (proxyId: string) => void): void {
    if (this.proxyId !== undefined) event(this.proxyId);
    else if (this.connection !== undefined) this.early.push(event);
  }
}

/** State of the world. */
class AdsStream extends StreamBase<DiscoveryRequest, Buffer> {
  private readonly types = new Map<string, TypeState>();

  protected handle(req: DiscoveryRequest): Promise<void> | void {
    if (this.closed) return;
    if (this.identity === undefined) {
      return this.identify(req.node, 'sotw').then((ok) => {
        if (ok && !this.closed) this.handleIdentified(req);
      });
    }
    this.handleIdentified(req);
  }

  private handleIdentified(req: DiscoveryRequest): void {
    const typeUrl = req.type_url;
    if (typeUrl === '') {
      this.log.warn('request without type_url ignored');
      return;
    }
    let state = this.types.get(typeUrl);
    if (state === undefined) {
      const kind = resourceKindOfTypeUrl(typeUrl);
      state = { typeUrl, kind, pending: false, names: [], namesKey: kind === undefined ? '' : subscriptionKey(kind, []) };
      this.types.set(typeUrl, state);
      if (state.kind === undefined) this.log.warn({ typeUrl }, 'subscription to a resource type this server does not serve');
    }

    const nonce = req.response_nonce;
    let force = false;
    if (nonce === '') {
      force = true; // a new subscription (or a reconnect): always answer
    } else if (state.lastSent === undefined || nonce !== state.lastSent.nonce) {
      if (this.log.isLevelEnabled('debug')) this.log.debug({ typeUrl, nonce, expected: state.lastSent?.nonce }, 'stale nonce ignored');
      return;
    } else {
      this.answered(typeUrl, state.lastSent, req.error_detail);
    }
    if (!sameNames(state.names, req.resource_names)) {
      state.names = req.resource_names;
      state.namesKey = state.kind === undefined ? '' : subscriptionKey(state.kind, req.resource_names);
    }
    state.pending = true;
    this.respond(state, force);
  }

  protected onSnapshot(_snapshot: CachedSnapshot): void {
    if (this.closed) return;
    for (const kind of PUSH_ORDER) {
      const state = this.types.get(TYPE_URL[kind]);
      if (state !== undefined) this.respond(state, false);
    }
  }

  private respond(state: TypeState, force: boolean): void {
    if (!state.pending || state.kind === undefined || this.identity === undefined || this.closed) return;
    const snapshot = this.snapshot();
    if (snapshot === undefined) return; // nothing published for this node group yet: hold the request
    const version = snapshot.typeVersions[state.kind];
    const last = state.lastSent;
    // Same type version and same subscription: same content, nothing to send (the common case on a push
    // that changed other types).
    if (!force && last !== undefined && last.version === version && last.namesKey === state.namesKey) return;
    const body = sotwResponseBody(this.opts.protos, snapshot, state);
    if (!force && last !== undefined && last.version === version && last.selectedKey === body.selectedKey) return;

    const nonce = this.nextNonce();
    this.call.write(this.opts.protos.withNonce(body.bytes, nonce));
    state.pending = false;
    state.lastSent = { version, nonce, namesKey: state.namesKey, selectedKey: body.selectedKey };
    this.sentResponse(state.typeUrl, version, nonce, body.resources);
  }
}

interface DeltaTypeState {
  typeUrl: string;
  kind: ResourceKind | undefined;
  wildcard: boolean;
  /** Explicitly subscribed names. */
  names: Set<string>;
  /** What the client has: name → version ('' = told it does not exist). */
  known: Map<string, string>;
  /** Responses awaiting ACK/NACK: nonce → type version. */
  inFlight: Map<string, string>;
  /** The subscription has had its first answer. */
  answered: boolean;
  /** Type version of the last response. */
  version?: string;
}

/** Incremental (delta) xDS. */
class DeltaStream extends StreamBase<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
  private readonly types = new Map<string, DeltaTypeState>();

  protected handle(req: DeltaDiscoveryRequest): Promise<void> | void {
    if (this.closed) return;
    if (this.identity === undefined) {
      return this.identify(req.node, 'delta').then((ok) => {
        if (ok && !this.closed) this.handleIdentified(req);
      });
    }
    this.handleIdentified(req);
  }

  private handleIdentified(req: DeltaDiscoveryRequest): void {
    const typeUrl = req.type_url;
    if (typeUrl === '') {
      this.log.warn('delta request without type_url ignored');
      return;
    }
    let state = this.types.get(typeUrl);
    const kind = resourceKindOfTypeUrl(typeUrl);
    if (state === undefined) {
      const wildcardType = kind === 'listeners' || kind === 'clusters';
      state = {
        typeUrl,
        kind,
        // Legacy wildcard: the first request of a wildcard type that subscribes to nothing.
        wildcard: wildcardType && req.resource_names_subscribe.length === 0,
        names: new Set(),
        known: new Map(Object.entries(req.initial_resource_versions)),
        inFlight: new Map(),
        answered: false,
      };
      this.types.set(typeUrl, state);
      if (kind === undefined) this.log.warn({ typeUrl }, 'delta subscription to a resource type this server does not serve');
    }

    let changed = false;
    if (req.response_nonce !== '') {
      const version = state.inFlight.get(req.response_nonce);
      if (version === undefined) {
        this.log.debug({ typeUrl, nonce: req.response_nonce }, 'delta: answer to an unknown or old nonce');
      } else {
        // Responses before the answered one are superseded.
        for (const n of [...state.inFlight.keys()]) {
          state.inFlight.delete(n);
          if (n === req.response_nonce) break;
        }
        this.answered(typeUrl, { version, nonce: req.response_nonce }, req.error_detail);
      }
    }
    for (const name of req.resource_names_subscribe) {
      if (name === '*') state.wildcard = true;
      else state.names.add(name);
      changed = true;
    }
    for (const name of req.resource_names_unsubscribe) {
      if (name === '*') state.wildcard = false;
      else {
        state.names.delete(name);
        // The client forgets it; if subscribed again it must be sent again.
        if (!state.wildcard) state.known.delete(name);
      }
      changed = true;
    }
    if (!state.answered || changed) this.respond(state);
  }

  protected onSnapshot(snapshot: CachedSnapshot): void {
    if (this.closed) return;
    for (const kind of PUSH_ORDER) {
      const state = this.types.get(TYPE_URL[kind]);
      // An unchanged type version is unchanged content: nothing to compare.
      if (state !== undefined && state.version !== snapshot.typeVersions[kind]) this.respond(state);
    }
  }

  private respond(state: DeltaTypeState): void {
    if (state.kind === undefined || this.identity === undefined || this.closed) return;
    const snapshot = this.snapshot();
    if (snapshot === undefined) return; // nothing published for this node group yet
    const all = snapshot.resources[state.kind];
    const versions = snapshot.resourceVersions[state.kind];
    const wanted = state.wildcard ? new Set([...all.keys(), ...state.names]) : state.names;

    const resources: DeltaResource[] = [];
    const removed: string[] = [];
    for (const name of [...wanted].sort()) {
      const any = all.get(name);
      const have = state.known.get(name);
      if (any === undefined) {
        // Explicitly subscribed but absent: say so once.
        if (have !== '' && state.names.has(name)) {
          removed.push(name);
          state.known.set(name, '');
        }
        continue;
      }
      const version = versions.get(name)!;
      if (have !== version) {
        resources.push({ name, version, resource: any });
        state.known.set(name, version);
      }
    }
    for (const name of [...state.known.keys()]) {
      if (wanted.has(name)) continue;
      // Known to the client but no longer wanted (gone from a wildcard subscription).
      if (state.known.get(name) !== '') removed.push(name);
      state.known.delete(name);
    }
    removed.sort();
    // Nothing changed for this type: stay quiet, unless its type version moved on: then an empty response
    // lets the client ACK the new type version (awaitProxyAck reads ACKs per type and type version).
    const version = snapshot.typeVersions[state.kind];
    if (resources.length === 0 && removed.length === 0 && state.answered && state.version === version) return;

    const nonce = this.nextNonce();
    this.call.write({
      system_version_info: version,
      resources,
      type_url: state.typeUrl,
      removed_resources: removed,
      nonce,
    });
    state.answered = true;
    state.version = version;
    state.inFlight.set(nonce, version);
    this.sentResponse(state.typeUrl, version, nonce, resources.length);
  }
}

const isWildcardType = (kind: ResourceKind) => kind === 'listeners' || kind === 'clusters';

/** LDS/CDS: all when no names (or "*") are requested ("*"); RDS/EDS: the requested names, sorted and distinct. */
function subscriptionKey(kind: ResourceKind, names: readonly string[]): string {
  if (isWildcardType(kind) && (names.length === 0 || names.includes('*'))) return '*';
  return [...new Set(names)].sort().join('\u0000');
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** One SotW response of a snapshot for one type and subscription, encoded without nonce. */
interface SotwResponseBody {
  bytes: Uint8Array;
  /** Names of the resources it carries (a changed selection is sent even at the same version). */
  selectedKey: string;
  resources: number;
}

/**
 * Encoded bodies per snapshot: type URL → subscription → body (keys are strings kept on the streams' state,
 * so lookups hash nothing new). Bounded: beyond the limit, odd subscriptions are encoded per stream.
 */
const sotwBodies = new WeakMap<CachedSnapshot, Map<string, Map<string, SotwResponseBody>>>();
const MAX_BODIES_PER_TYPE = 1_000;

/**
 * The response body for `state` at `snapshot`: encoded once per (snapshot version, type URL, subscription)
 * and shared by every stream, so a push to N streams costs N writes, not N protobuf encodings.
 */
function sotwResponseBody(protos: XdsProtos, snapshot: CachedSnapshot, state: TypeState): SotwResponseBody {
  let byType = sotwBodies.get(snapshot);
  if (byType === undefined) {
    byType = new Map();
    sotwBodies.set(snapshot, byType);
  }
  let bodies = byType.get(state.typeUrl);
  if (bodies === undefined) {
    bodies = new Map();
    byType.set(state.typeUrl, bodies);
  }
  let body = bodies.get(state.namesKey);
  if (body === undefined) {
    const resources = selectResources(snapshot, state.kind!, state.namesKey);
    body = {
      bytes: protos.encodeDiscoveryResponseBody({ version_info: snapshot.typeVersions[state.kind!], resources: resources.map(([, any]) => any), type_url: state.typeUrl }),
      selectedKey: resources.map(([name]) => name).join('\u0000'),
      resources: resources.length,
    };
    if (bodies.size < MAX_BODIES_PER_TYPE) bodies.set(state.namesKey, body);
  }
  return body;
}

/** The resources a subscription (see subscriptionKey) selects, in snapshot order for "*", else by name. */
function selectResources(snapshot: CachedSnapshot, kind: ResourceKind, namesKey: string): [string, EncodedAny][] {
  const all = snapshot.resources[kind];
  if (namesKey === '*') return [...all];
  const out: [string, EncodedAny][] = [];
  if (namesKey === '') return out;
  for (const name of namesKey.split('\u0000')) {
    const any = all.get(name);
    if (any !== undefined) out.push([name, any]);
  }
  return out;
}
