/**
 * The node agent process (runs as root on every XDP node):
 *
 *   npx tsx agents/src/main.ts --control-plane 10.0.0.5:18003 --tenant acme --node-name node-1 \
 *       --node-group edge [--protect 10.0.0.0/8 --protect fd00::/8] [--pin-root /sys/fs/bpf/proxyshard] \
 *       [--state-dir /var/lib/proxyshard-agent] [--report-interval-ms 5000] [--log-level info]
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
import { Agent } from './agent';
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
});

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
  const agent = new Agent({ ...cfg, localPrograms }, log);
  const stop = () => {
    log.info('stopping; XDP programs stay attached');
    agent.stop();
    setTimeout(() => process.exit(0), 100).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await agent.start();
}

main().catch((err: unknown) => {
  console.error('agent failed:', err);
  process.exit(1);
});
