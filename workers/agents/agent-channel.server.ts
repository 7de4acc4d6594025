/**
 * The agent channel (contracts/agent.proto AgentChannel/Connect): node agents keep one bidirectional stream
 * here. On Hello the agent is registered in PostgreSQL (Agent row, connected, session id) and gets the
 * desired bundle of its node group when its applied version differs. When a group's desired version
 * changes (publishXdpPolicy → NOTIFY proxyshard_xdp) every connected agent of the group gets the new
 * bundle at once (read once per group); a periodic resync (resyncIntervalMs) covers a missed notification.
 * ApplyResults and counter reports update the Agent row; applied/failed transitions are written to the
 * audit log. At start the channel registers the program objects it can build in the XdpProgram catalog
 * (so the web and the worker can compile policies against them) and ships objects it did not build
 * itself from that catalog.
 *
 * Mounting: `const ch = createAgentChannel({ db, log, databaseUrl }); server.addService(ch.service,
 * ch.implementation); await ch.start();` on the xds process's gRPC server (and `await ch.stop()` on
 * shutdown). `startAgentChannelServer` runs it standalone (tests, benchmarks, or a separate process).
 * Authentication of agents is not implemented yet (plaintext, tenant by slug): run it on a management
 * network only.
 */
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import {
  agentChannelDefinition,
  bundleToMsg,
  type AgentMessage,
  type ControlMessage,
  type HelloMsg,
} from '../../agents/src/proto';
import type { XdpBundle, XdpCounter } from '../../contracts/xdp.schema';
import { XDP_PROGRAM_NAMES } from '../../agents/build';
import { appendAudit } from '../../server/audit/audit.service';
import type { Db } from '../../server/db/client';
import {
  findTenantIdBySlug,
  markAgentDisconnected,
  markBundleSent,
  recordApplyResult,
  recordCounters,
  registerAgent,
} from '../../server/db/agent.repo';
import { findDesiredXdpBundle, XDP_NOTIFY_CHANNEL } from '../../server/db/xdp-policy.repo';
import { findXdpProgramObject, registerXdpPrograms } from '../../server/db/xdp-program.repo';
import { createProgramStore, type ProgramStore } from './program-store';

export interface AgentChannelDeps {
  db: Db;
  log: Logger;
  /** For LISTEN proxyshard_xdp; without it only the periodic resync pushes new versions. */
  databaseUrl?: string;
  programs?: ProgramStore;
  /** Counter report period told to agents; default 5000 ms. */
  reportIntervalMs?: number;
  /** Safety-net resync of every connected agent; default 5000 ms. */
  resyncIntervalMs?: number;
}

interface Session {
  sessionId: string;
  agentId: string;
  tenantId: string;
  nodeName: string;
  nodeGroup: string;
  appliedVersion: string;
  sentVersion: string;
  failedVersion: string;
  call: grpc.ServerDuplexStream<AgentMessage, ControlMessage>;
  queue: Promise<void>;
}

export interface AgentChannel {
  service: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
  /** Starts LISTEN and the periodic resync. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Pushes the desired bundle to the group's connected agents that do not run it (what NOTIFY triggers). */
  syncGroup(tenantId: string, nodeGroup: string): Promise<void>;
  connectedAgents(): { agentId: string; nodeName: string; nodeGroup: string }[];
}

export function createAgentChannel(deps: AgentChannelDeps): AgentChannel {
  const { db, log } = deps;
  const programs = deps.programs ?? createProgramStore();
  const sessions = new Map<string, Session>(); // by sessionId
  let listener: pg.Client | undefined;
  let resyncTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  const systemActor = (s: Session) => ({ type: 'system' as const, id: s.agentId, name: `agent:${s.nodeName}` });

  /**
   * Audit entries of apply results, appended one at a time per tenant, after the result is recorded: a
   * tenant's audit chain takes appends one by one (advisory lock), so ten agents answering at once would
   * otherwise hold ten pooled connections waiting on that lock while other agents' ACKs wait for a
   * connection.
   */
  const auditQueues = new Map<string, Promise<void>>();
  function auditLater(entry: Parameters<typeof appendAudit>[1]): void {
    const next = (auditQueues.get(entry.tenantId) ?? Promise.resolve())
      .then(() => appendAudit(db, entry))
      .then(
        () => undefined,
        (err: unknown) => log.error({ err, action: entry.action }, 'agent channel: audit append failed'),
      );
    auditQueues.set(entry.tenantId, next);
    void next.then(() => {
      if (auditQueues.get(entry.tenantId) === next) auditQueues.delete(entry.tenantId);
    });
  }

  /** Program objects by sha256: this process's builds, else the catalog (another replica's build). */
  const objects = new Map<string, Promise<Buffer | undefined>>();
  function programObject(sha256: string): Promise<Buffer | undefined> {
    const local = programs.objectBySha256(sha256);
    if (local) return Promise.resolve(local);
    let p = objects.get(sha256);
    if (!p) {
      p = findXdpProgramObject(db, sha256).then((b) => b ?? undefined);
      objects.set(sha256, p);
      p.then((b) => b === undefined && objects.delete(sha256), () => objects.delete(sha256));
    }
    return p;
  }

  /** Sends the group's desired bundle unless the agent runs it, has it in flight, or rejected it. */
  async function syncSession(s: Session, desired?: XdpBundle | null): Promise<void> {
    const bundle = desired === undefined ? await findDesiredXdpBundle(db, s.tenantId, s.nodeGroup) : desired;
    if (!bundle) return;
    if (bundle.version === s.appliedVersion || bundle.version === s.sentVersion || bundle.version === s.failedVersion) return;
    const object = await programObject(bundle.program.sha256);
    s.sentVersion = bundle.version;
    s.call.write({ bundle: bundleToMsg(bundle, object) });
    log.info({ node: s.nodeName, version: bundle.version, withObject: Boolean(object) }, 'bundle sent to agent');
    await markBundleSent(db, s.agentId, bundle.version);
  }

  function enqueue(s: Session, fn: () => Promise<void>): void {
    s.queue = s.queue.then(fn).catch((err: unknown) => log.error({ err, node: s.nodeName }, 'agent channel: handling failed'));
  }

  async function onHello(call: grpc.ServerDuplexStream<AgentMessage, ControlMessage>, h: HelloMsg, sessionId: string): Promise<Session> {
    const tenantId = await findTenantIdBySlug(db, h.tenant);
    if (!tenantId) throw Object.assign(new Error(`unknown tenant ${h.tenant}`), { code: grpc.status.NOT_FOUND });
    if (!h.nodeName || !h.nodeGroup) throw Object.assign(new Error('nodeName and nodeGroup are required'), { code: grpc.status.INVALID_ARGUMENT });
    const agent = await registerAgent(db, {
      tenantId,
      nodeName: h.nodeName,
      nodeGroup: h.nodeGroup,
      interfaces: h.interfaces,
      kernelVersion: h.kernelVersion,
      xdpModes: h.xdpModes,
      agentVersion: h.agentVersion,
      protectedCidrs: h.protectedCidrs,
      appliedVersion: h.appliedVersion,
      sessionId,
    });
    log.info({ node: h.nodeName, group: h.nodeGroup, applied: h.appliedVersion || null }, 'agent connected');
    return {
      sessionId,
      agentId: agent.id,
      tenantId,
      nodeName: h.nodeName,
      nodeGroup: h.nodeGroup,
      appliedVersion: h.appliedVersion,
      sentVersion: '',
      failedVersion: '',
      call,
      queue: Promise.resolve(),
    };
  }

  const implementation: grpc.UntypedServiceImplementation = {
    Connect(call: grpc.ServerDuplexStream<AgentMessage, ControlMessage>) {
      const sessionId = randomUUID();
      let session: Session | undefined;
      let pending: Promise<void> = Promise.resolve();
      const close = () => {
        if (!session) return;
        const s = session;
        sessions.delete(s.sessionId);
        enqueue(s, () => markAgentDisconnected(db, s.agentId, s.sessionId));
        log.info({ node: s.nodeName }, 'agent disconnected');
      };
      call.on('data', (msg: AgentMessage) => {
        pending = pending.then(async () => {
          if ('hello' in msg && msg.hello) {
            if (session) return;
            try {
              session = await onHello(call, msg.hello, sessionId);
            } catch (err) {
              const e = err as Error & { code?: number };
              log.warn({ err: e.message }, 'agent refused');
              call.emit('error', { code: e.code ?? grpc.status.INTERNAL, details: e.message });
              return;
            }
            sessions.set(sessionId, session);
            call.write({ welcome: { agentId: session.agentId, reportIntervalMs: deps.reportIntervalMs ?? 5000 } });
            const s = session;
            enqueue(s, () => syncSession(s));
            return;
          }
          const s = session;
          if (!s) return; // nothing before Hello
          if ('result' in msg && msg.result) {
            const r = msg.result;
            enqueue(s, async () => {
              if (r.ok) s.appliedVersion = r.version;
              else s.failedVersion = r.version;
              if (s.sentVersion === r.version) s.sentVersion = '';
              const { changed } = await recordApplyResult(db, s.agentId, { version: r.version, ok: r.ok, error: r.error });
              if (changed) {
                auditLater({
                  tenantId: s.tenantId,
                  actor: systemActor(s),
                  action: r.ok ? 'xdp.bundle_applied' : 'xdp.bundle_failed',
                  target: { type: 'agent', id: s.agentId },
                  details: {
                    nodeName: s.nodeName,
                    nodeGroup: s.nodeGroup,
                    version: r.version,
                    durationMs: r.durationMs,
                    ...(r.ok ? {} : { error: r.error.slice(0, 2000) }),
                  },
                });
              }
              log.info({ node: s.nodeName, version: r.version, ok: r.ok, ms: r.durationMs }, 'agent apply result');
              // a newer version may have become desired while this one was being applied
              await syncSession(s);
            });
          } else if ('counters' in msg && msg.counters) {
            const c = msg.counters;
            enqueue(s, async () => {
              if (c.appliedVersion && c.appliedVersion !== s.appliedVersion) s.appliedVersion = c.appliedVersion;
              await recordCounters(db, s.agentId, c.counters as XdpCounter[]);
            });
          }
        });
      });
      call.on('end', () => {
        close();
        call.end();
      });
      call.on('error', () => close());
      call.on('cancelled', () => close());
    },
  };

  async function syncGroup(tenantId: string, nodeGroup: string): Promise<void> {
    const members = [...sessions.values()].filter((s) => s.tenantId === tenantId && s.nodeGroup === nodeGroup);
    if (!members.length) return;
    // One read for the whole group, then every agent gets the bundle at once.
    const bundle = await findDesiredXdpBundle(db, tenantId, nodeGroup);
    for (const s of members) enqueue(s, () => syncSession(s, bundle));
  }

  async function registerPrograms(): Promise<void> {
    const built: { name: string; sha256: string; bytes: Buffer }[] = [];
    for (const name of XDP_PROGRAM_NAMES) {
      try {
        const sha256 = programs.programSha256(name);
        const bytes = programs.objectBySha256(sha256);
        if (bytes) built.push({ name, sha256, bytes });
      } catch (err) {
        log.warn({ program: name, err: err instanceof Error ? err.message.slice(0, 500) : String(err) }, 'cannot build XDP program; not registered');
      }
    }
    await registerXdpPrograms(db, built);
    log.info({ programs: built.map((p) => `${p.name}@${p.sha256.slice(0, 12)}`) }, 'XDP programs registered');
  }

  return {
    service: agentChannelDefinition(),
    implementation,
    async start() {
      await registerPrograms();
      if (deps.databaseUrl) {
        listener = new pg.Client({ connectionString: deps.databaseUrl });
        listener.on('notification', (n) => {
          try {
            const p = JSON.parse(n.payload ?? '{}') as { tenantId?: string; nodeGroup?: string };
            if (p.tenantId && p.nodeGroup) syncGroup(p.tenantId, p.nodeGroup).catch((err: unknown) => log.error({ err }, 'agent channel: group sync failed'));
          } catch {
            /* not ours */
          }
        });
        listener.on('error', (err) => log.error({ err }, 'agent channel LISTEN connection failed; relying on periodic resync'));
        await listener.connect();
        await listener.query(`LISTEN ${XDP_NOTIFY_CHANNEL}`);
      }
      const every = deps.resyncIntervalMs ?? 5000;
      resyncTimer = setInterval(() => {
        if (stopped) return;
        for (const s of sessions.values()) enqueue(s, () => syncSession(s));
      }, every);
      resyncTimer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(resyncTimer);
      for (const s of sessions.values()) s.call.end();
      await Promise.all([...sessions.values()].map((s) => s.queue));
      await Promise.all(auditQueues.values());
      await listener?.end().catch(() => undefined);
    },
    syncGroup,
    connectedAgents: () => [...sessions.values()].map((s) => ({ agentId: s.agentId, nodeName: s.nodeName, nodeGroup: s.nodeGroup })),
  };
}

/**
 * A gRPC server with only the agent channel, for tests and standalone use. `address` is host:port
 * (port 0 = any free port) or unix:/path.
 */
export async function startAgentChannelServer(
  deps: AgentChannelDeps & { address: string },
): Promise<{ address: string; port: number; channel: AgentChannel; stop(): Promise<void> }> {
  const channel = createAgentChannel(deps);
  const server = new grpc.Server({ 'grpc.keepalive_permit_without_calls': 1, 'grpc.http2.min_ping_interval_without_data_ms': 5000 });
  server.addService(channel.service, channel.implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(deps.address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  await channel.start();
  return {
    address: deps.address,
    port,
    channel,
    stop: async () => {
      await channel.stop();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
    },
  };
}
