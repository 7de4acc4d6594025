/**
 * The node agent process (runs as root on every XDP node):
 *
 *   npx tsx agents/src/main.ts --control-plane 10.0.0.5:18003 --tenant acme --node-name node-1 \
 *       --node-group edge [--protect 10.0.0.0/8 --protect fd00::/8] [--pin-root /sys/fs/bpf/proxyshard] \
 *       [--state-dir /var/lib/proxyshard-agent] [--report-interval-ms 5000] [--log-level info] [--http-port 18006]
 *       [--tls-ca ca.pem --tls-cert node.pem --tls-key node.key [--tls-server-name xds.example]]
 *
 * With --tls-ca the channel to the control plane is TLS (mTLS with --tls-cert/--tls-key: certificates issued by
 * the tenant CA, `npm run cli -- certs issue … --usage client`); the xds process requires them when it runs with
 * XDS_TLS_CLIENT_CA_FILE.
 *
 * /healthz (200 while XDP state is adopted and the process runs; the body says whether the control plane is
 * connected — the kernel keeps enforcing without it) and /metrics on 127.0.0.1:<http-port> (0 = off).
 *
 * --config <file.json> reads the same options from JSON (camelCase keys: controlPlane, tenant, nodeName,
 * nodeGroup, protectedCidrs, pinRoot, stateDir, reportIntervalMs, logLevel); flags win over the file.
 * --control-plane also accepts unix:/path/to.sock. The agent builds its programs from agents/bpf when clang
 * is available; otherwise it runs the objects the control plane ships in bundles.
 * Stops on SIGTERM/SIGINT without detaching anything: the kernel keeps enforcing.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import pino from 'pino';
import { z } from 'zod';
import { buildAllXdpPrograms } from '../build';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { Agent } from './agent';
import { startOpsHttpServer, type OpsHttpServer } from './ops-http';
import type { CounterMsg } from './proto';
import type { LocalProgram } from './dataplane';

const ConfigSchema = z.object({
  controlPlane: z.string().min(1),
  tenant: z.string().min(1),
  nodeName: z.string().min(1).default(hostname()),
  nodeGroup: z.string().min(1),
  protectedCidrs: z.array(z.string()).default([]),
  pinRoot: z.string().default('/sys/fs/bpf/proxyshard'),
  stateDir: z.string().default('/var/lib/proxyshard-agent'),
  reportIntervalMs: z.coerce.number().int().positive().default(5000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  httpPort: z.coerce.number().int().min(0).max(65535).default(18006),
  tlsCa: z.string().min(1).optional(),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  tlsServerName: z.string().min(1).optional(),
})
  .refine((c) => (c.tlsCert === undefined) === (c.tlsKey === undefined), { message: '--tls-cert and --tls-key go together', path: ['tlsKey'] })
  .refine((c) => c.tlsCert === undefined || c.tlsCa !== undefined, { message: '--tls-cert needs --tls-ca', path: ['tlsCa'] });

/** The agent's TLS settings from the files named in its configuration (undefined: plaintext). */
function tlsFromFiles(cfg: { tlsCa?: string; tlsCert?: string; tlsKey?: string; tlsServerName?: string }) {
  if (cfg.tlsCa === undefined) return undefined;
  return {
    caPem: readFileSync(cfg.tlsCa, 'utf8'),
    ...(cfg.tlsCert !== undefined ? { certChainPem: readFileSync(cfg.tlsCert, 'utf8') } : {}),
    ...(cfg.tlsKey !== undefined ? { privateKeyPem: readFileSync(cfg.tlsKey, 'utf8') } : {}),
    ...(cfg.tlsServerName !== undefined ? { serverName: cfg.tlsServerName } : {}),
  };
}

function parseArgs(argv: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const protect: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (!flag.startsWith('--') || value === undefined) throw new Error(`unexpected argument ${flag}`);
    i++;
    const key = flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (key === 'config') Object.assign(out, JSON.parse(readFileSync(value, 'utf8')) as Record<string, unknown>);
    else if (key === 'protect') protect.push(value);
    else out[key] = value;
  }
  if (protect.length) out.protectedCidrs = [...((out.protectedCidrs as string[] | undefined) ?? []), ...protect];
  return out;
}

async function main(): Promise<void> {
  const parsed = ConfigSchema.safeParse(parseArgs(process.argv.slice(2)));
  if (!parsed.success) {
    console.error(`agent: invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    process.exit(2);
  }
  const cfg = parsed.data;
  const log = pino({ level: cfg.logLevel, base: { service: 'agent', node: cfg.nodeName } });
  let localPrograms: LocalProgram[] = [];
  try {
    localPrograms = buildAllXdpPrograms().map((p) => ({ name: p.name, sha256: p.sha256, path: p.path }));
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot build local XDP programs; relying on shipped objects');
  }
  const tls = tlsFromFiles(cfg);
  const agent = new Agent({ ...cfg, localPrograms, ...(tls ? { tls } : {}) }, log);
  let ops: OpsHttpServer | undefined;
  const stop = () => {
    log.info('stopping; XDP programs stay attached');
    agent.stop();
    void ops?.close();
    setTimeout(() => process.exit(0), 100).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await agent.start();
  if (cfg.httpPort > 0) ops = await startOpsHttpServer({ host: '127.0.0.1', port: cfg.httpPort, registry: agentMetrics(agent), log, health: () => agentHealth(agent) });
}

function agentHealth(agent: Agent) {
  return { ok: true, body: { status: 'ok', controlPlane: agent.connected ? 'connected' : 'disconnected', appliedVersion: agent.dataplane.appliedVersion } };
}

function agentMetrics(agent: Agent): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'proxyshard_agent_control_plane_connected',
    help: '1 while the stream to the control plane is up.',
    registers: [registry],
    collect() {
      this.set(agent.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'proxyshard_agent_applied_version_info',
    help: 'The XDP bundle version this node enforces (value is always 1).',
    labelNames: ['version'],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ version: agent.dataplane.appliedVersion }, 1);
    },
  });
  const labelNames = ['interface', 'rule'] as const;
  const series = (name: string, help: string, pick: (c: CounterMsg) => number) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        this.reset();
        for (const c of await agent.dataplane.readCounters()) this.set({ interface: c.interface, rule: c.name }, pick(c));
      },
    });
  // Kernel per-CPU counters summed by the agent; gauges because a program change resets them.
  series('proxyshard_agent_rule_matched_packets', 'Packets that matched an XDP rule.', (c) => c.matchPackets);
  series('proxyshard_agent_rule_dropped_packets', 'Packets an XDP rule dropped.', (c) => c.dropPackets);
  series('proxyshard_agent_rule_dropped_bytes', 'Bytes an XDP rule dropped.', (c) => c.dropBytes);
  return registry;
}

main().catch((err: unknown) => {
  console.error('agent failed:', err);
  process.exit(1);
});
