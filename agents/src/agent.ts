/**
 * The node agent: keeps one gRPC stream (contracts/agent.proto AgentChannel/Connect) to the control plane,
 * applies the bundles it receives (dataplane.ts), answers each with an ApplyResult and reports counters
 * periodically. When the stream breaks it reconnects with exponential backoff (with jitter); the kernel
 * keeps enforcing the last applied state meanwhile, since programs and maps are pinned and attached.
 * At start it adopts what is pinned (dataplane.adopt) and tells the control plane which version the
 * kernel enforces, so the control plane resends only when the desired version differs.
 */
import * as grpc from '@grpc/grpc-js';
import { release } from 'node:os';
import type { Logger } from 'pino';
import { Dataplane, type LocalProgram } from './dataplane';
import { ensureBpffs, listLinks } from './kernel';
import {
  agentChannelClientConstructor,
  bundleFromMsg,
  type AgentMessage,
  type ApplyResultMsg,
  type ControlMessage,
} from './proto';

export const AGENT_VERSION = '0.1.0';

export interface AgentConfig {
  /** host:port, or unix:/path/to.sock */
  controlPlane: string;
  tenant: string;
  nodeName: string;
  nodeGroup: string;
  pinRoot: string;
  stateDir: string;
  protectedCidrs: string[];
  localPrograms: LocalProgram[];
  /** Counter report period until the control plane says otherwise; default 5000 ms. */
  reportIntervalMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /**
   * mTLS to the control plane: the CA bundle the server certificate must chain to, this node's client
   * certificate chain and key (from the tenant CA), and the name the server certificate must carry when it
   * differs from the host in `controlPlane`. Without it the channel is plaintext.
   */
  tls?: { caPem: string; certChainPem?: string; privateKeyPem?: string; serverName?: string };
}

export class Agent {
  readonly dataplane: Dataplane;
  private client: grpc.Client | undefined;
  private call: grpc.ClientDuplexStream<AgentMessage, ControlMessage> | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private backoffMs: number;
  private reportIntervalMs: number;
  private connectedOnce = false;
  private registered = false;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly log: Logger,
  ) {
    this.dataplane = new Dataplane(
      { pinRoot: cfg.pinRoot, stateDir: cfg.stateDir, protectedCidrs: cfg.protectedCidrs, localPrograms: cfg.localPrograms },
      log,
    );
    this.backoffMs = cfg.backoffMinMs ?? 200;
    this.reportIntervalMs = cfg.reportIntervalMs ?? 5000;
  }

  async start(): Promise<void> {
    await ensureBpffs();
    await this.dataplane.adopt();
    this.connect();
  }

  /** True while the control plane stream is up and has welcomed this agent. */
  get connected(): boolean {
    return this.registered && this.call !== undefined;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.reportTimer);
    clearTimeout(this.reconnectTimer);
    this.call?.cancel();
    this.client?.close();
  }

  private connect(): void {
    if (this.stopped) return;
    const Ctor = agentChannelClientConstructor();
    const tls = this.cfg.tls;
    const credentials = tls
      ? grpc.credentials.createSsl(
          Buffer.from(tls.caPem),
          tls.privateKeyPem !== undefined ? Buffer.from(tls.privateKeyPem) : null,
          tls.certChainPem !== undefined ? Buffer.from(tls.certChainPem) : null,
        )
      : grpc.credentials.createInsecure();
    this.client ??= new Ctor(this.cfg.controlPlane, credentials, {
      ...(tls?.serverName !== undefined ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName } : {}),
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 5_000,
    });
    const call = (this.client as unknown as { connect(): grpc.ClientDuplexStream<AgentMessage, ControlMessage> }).connect();
    this.call = call;
    let ended = false;
    const onEnd = (why: string) => {
      if (ended) return;
      ended = true;
      this.registered = false;
      clearInterval(this.reportTimer);
      if (this.call === call) this.call = undefined;
      if (this.stopped) return;
      const delay = Math.round(this.backoffMs * (0.5 + Math.random() / 2));
      this.log.warn({ why, retryInMs: delay }, 'control plane stream ended; enforcing the last applied state meanwhile');
      this.backoffMs = Math.min(this.backoffMs * 2, this.cfg.backoffMaxMs ?? 10_000);
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    };
    call.on('data', (msg: ControlMessage) => void this.onMessage(call, msg));
    call.on('error', (err: Error) => onEnd(err.message));
    call.on('end', () => onEnd('server closed the stream'));
    void this.sendHello(call).catch((err: unknown) => {
      this.log.error({ err }, 'hello failed');
      call.cancel();
    });
  }

  private async sendHello(call: grpc.ClientDuplexStream<AgentMessage, ControlMessage>): Promise<void> {
    const links = await listLinks();
    call.write({
      hello: {
        tenant: this.cfg.tenant,
        nodeName: this.cfg.nodeName,
        nodeGroup: this.cfg.nodeGroup,
        interfaces: links.map((l) => ({ name: l.name, ifindex: l.ifindex, mtu: l.mtu, xdpMode: l.xdpMode, xdpProgId: l.xdpProgId })),
        kernelVersion: release(),
        xdpModes: ['generic', 'native'],
        agentVersion: AGENT_VERSION,
        appliedVersion: this.dataplane.appliedVersion,
        protectedCidrs: this.cfg.protectedCidrs,
        programs: this.cfg.localPrograms.map((p) => ({ name: p.name, sha256: p.sha256 })),
      },
    });
  }

  private async onMessage(call: grpc.ClientDuplexStream<AgentMessage, ControlMessage>, msg: ControlMessage): Promise<void> {
    if ('welcome' in msg && msg.welcome) {
      this.backoffMs = this.cfg.backoffMinMs ?? 200;
      if (msg.welcome.reportIntervalMs > 0) this.reportIntervalMs = msg.welcome.reportIntervalMs;
      this.log.info({ agentId: msg.welcome.agentId, reconnect: this.connectedOnce }, 'registered with the control plane');
      this.connectedOnce = true;
      this.registered = true;
      clearInterval(this.reportTimer);
      this.reportTimer = setInterval(() => void this.report(call), this.reportIntervalMs);
      return;
    }
    if ('bundle' in msg && msg.bundle) {
      const { bundle, object } = bundleFromMsg(msg.bundle);
      this.log.info({ version: msg.bundle.version, program: msg.bundle.program?.name }, 'bundle received');
      const result: ApplyResultMsg = await this.dataplane.apply(bundle, object);
      if (result.ok) this.log.info({ version: result.version, ms: result.durationMs, interfaces: result.interfaces }, 'bundle applied');
      else this.log.error({ version: result.version, error: result.error.slice(0, 4000) }, 'bundle rejected; previous state keeps running');
      if (this.call === call) call.write({ result });
      await this.report(call);
    }
  }

  private async report(call: grpc.ClientDuplexStream<AgentMessage, ControlMessage>): Promise<void> {
    try {
      const counters = await this.dataplane.readCounters();
      if (this.call === call) call.write({ counters: { appliedVersion: this.dataplane.appliedVersion, counters } });
    } catch (err) {
      this.log.warn({ err }, 'counter report failed');
    }
  }
}
