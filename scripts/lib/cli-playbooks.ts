/**
 * `npm run cli -- playbooks …`: failover playbooks over /api/v1/playbooks (versions, dry runs, runs and their
 * approvals, automatic triggers). Called from scripts/cli.ts.
 */
import { readFileSync } from 'node:fs';

export const PLAYBOOKS_USAGE = `  playbooks list | show <id> | create <name> -f PLAYBOOK (YAML or JSON spec; a new version when the name exists)
  playbooks dry-run <id> --target T [--param k=v]… [--version N]   the revisions and XDP bundles a run would apply
  playbooks run <id> --target T [--param k=v]… [--version N]       start a run (409 while one is active for T)
  playbooks runs [--target T] | status <run id> [--watch] [--interval-ms N]
  playbooks approve|reject|resume|abort <run id> [--comment TEXT]
  playbooks trigger <id> --target T -f TRIGGER [--param k=v]…      TRIGGER: { condition, intervalMs?, cooldownMs? }
  playbooks triggers | untrigger <trigger id>`;

export interface PlaybooksCliContext {
  sub: string | undefined;
  rest: string[];
  o: { file?: string; target?: string; param?: string[]; version?: string; comment?: string; watch?: boolean; 'interval-ms'?: string };
  api: (method: string, path: string, body?: unknown) => Promise<unknown>;
  print: (json: unknown, text: () => string[]) => void;
  usage: (message: string) => Error;
  sleep?: (ms: number) => Promise<void>;
}

interface RunJson {
  id: string;
  target: string;
  phase: string;
  currentStepIndex: number;
  pauseReason: string | null;
  trigger: { type: string };
  failure: { reason: string; message: string } | null;
  status: { steps?: number; elapsedMs?: number };
  createdAt: string;
}

const FINISHED = ['Completed', 'Compensated', 'Failed'];

async function readSpec(path: string, ctx: PlaybooksCliContext): Promise<unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw ctx.usage(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return path.endsWith('.json') ? JSON.parse(text) : (await import('yaml')).parse(text);
  } catch (err) {
    throw ctx.usage(`${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function runLine(r: RunJson): string {
  const step = `step ${r.currentStepIndex + 1}/${r.status.steps ?? '?'}`;
  return `${r.id}  ${r.phase.padEnd(16)} ${r.target}  ${step}  ${r.trigger.type}${r.pauseReason ? `  (${r.pauseReason})` : ''}${r.failure ? `  ${r.failure.reason}: ${r.failure.message}` : ''}`;
}

export async function runPlaybooksCommand(ctx: PlaybooksCliContext): Promise<number | undefined> {
  const { sub, rest, o, api, print } = ctx;
  const id = (what: string) => {
    if (rest.length !== 1) throw ctx.usage(`playbooks ${what} needs exactly one <id>`);
    return encodeURIComponent(rest[0]!);
  };
  const target = () => {
    if (!o.target) throw ctx.usage(`playbooks ${sub} needs --target T`);
    return o.target;
  };
  const params = () => {
    const out: Record<string, string | number> = {};
    for (const p of o.param ?? []) {
      const m = /^([a-zA-Z_][a-zA-Z0-9_]*)=(.*)$/.exec(p);
      if (!m) throw ctx.usage(`--param ${p}: expected name=value`);
      out[m[1]!] = /^-?\d+(\.\d+)?$/.test(m[2]!) ? Number(m[2]) : m[2]!;
    }
    return out;
  };
  const version = () => {
    if (o.version === undefined) return {};
    if (!/^\d+$/.test(o.version)) throw ctx.usage('--version must be a whole number');
    return { version: Number(o.version) };
  };
  switch (sub) {
    case 'list': {
      const r = (await api('GET', '/api/v1/playbooks')) as { playbooks: { id: string; name: string; version: number; params: string[] }[] };
      print(r, () => r.playbooks.map((p) => `${p.id}  ${p.name} v${p.version}${p.params.length ? `  params: ${p.params.join(', ')}` : ''}`));
      return 0;
    }
    case 'show': {
      const r = (await api('GET', `/api/v1/playbooks/${id('show')}`)) as { playbook: { name: string; version: number; spec: unknown } };
      print(r, () => [`${r.playbook.name} v${r.playbook.version}`, JSON.stringify(r.playbook.spec, null, 2)]);
      return 0;
    }
    case 'create': {
      if (rest.length !== 1 || !o.file) throw ctx.usage('playbooks create needs <name> and -f PLAYBOOK');
      const r = (await api('POST', '/api/v1/playbooks', { name: rest[0], spec: await readSpec(o.file, ctx) })) as { playbook: { id: string; name: string; version: number } };
      print(r, () => [`playbook ${r.playbook.name} v${r.playbook.version} stored (${r.playbook.id})`]);
      return 0;
    }
    case 'dry-run': {
      const r = (await api('POST', `/api/v1/playbooks/${id('dry-run')}/dry-run`, { target: target(), params: params(), ...version() })) as {
        actions: { key: string; step: string; kind: string; graphHash?: string; changed?: boolean; nodeGroup?: string; version?: string }[];
      };
      print(r, () =>
        r.actions.map((a) =>
          a.kind === 'revision'
            ? `${a.key.padEnd(6)} ${a.step.padEnd(20)} revision ${a.graphHash!.slice(0, 12)}${a.changed ? '' : ' (no change)'}`
            : a.kind === 'xdp'
              ? `${a.key.padEnd(6)} ${a.step.padEnd(20)} XDP bundle ${a.version!.slice(0, 12)} → node group ${a.nodeGroup}`
              : `${a.key.padEnd(6)} ${a.step}`,
        ),
      );
      return 0;
    }
    case 'run': {
      const r = (await api('POST', `/api/v1/playbooks/${id('run')}/runs`, { target: target(), params: params(), ...version() })) as { run: RunJson };
      print(r, () => [`run ${r.run.id} started for ${r.run.target}`]);
      return 0;
    }
    case 'runs': {
      const r = (await api('GET', `/api/v1/playbooks/runs${o.target ? `?target=${encodeURIComponent(o.target)}` : ''}`)) as { runs: RunJson[] };
      print(r, () => r.runs.map(runLine));
      return 0;
    }
    case 'status': {
      const runId = id('status');
      const every = o['interval-ms'] !== undefined ? Number(o['interval-ms']) : 1000;
      if (!Number.isInteger(every) || every < 100) throw ctx.usage('--interval-ms must be a whole number ≥ 100');
      for (;;) {
        const r = (await api('GET', `/api/v1/playbooks/runs/${runId}`)) as { run: RunJson; events: { seq: number; action: string; at: string }[] };
        print(r, () => [runLine(r.run), ...r.events.slice(-5).map((e) => `  #${e.seq} ${e.at} ${e.action}`)]);
        if (!o.watch || FINISHED.includes(r.run.phase)) return r.run.phase === 'Completed' || !o.watch ? 0 : 1;
        await (ctx.sleep ?? ((ms) => new Promise((res) => setTimeout(res, ms))))(every);
      }
    }
    case 'approve':
    case 'reject':
    case 'resume':
    case 'abort': {
      const r = (await api('POST', `/api/v1/playbooks/runs/${id(sub)}/${sub}`, o.comment ? { comment: o.comment } : {})) as { status: { phase: string } };
      print(r, () => [`${sub}: run is ${r.status.phase}`]);
      return 0;
    }
    case 'trigger': {
      if (!o.file) throw ctx.usage('playbooks trigger needs -f TRIGGER ({ condition, intervalMs?, cooldownMs? })');
      const body = (await readSpec(o.file, ctx)) as Record<string, unknown>;
      const r = (await api('POST', `/api/v1/playbooks/${id('trigger')}/triggers`, { ...body, target: target(), params: params(), ...version() })) as { trigger: { id: string } };
      print(r, () => [`trigger ${r.trigger.id} watching for ${target()}`]);
      return 0;
    }
    case 'triggers': {
      const r = (await api('GET', '/api/v1/playbooks/triggers')) as { triggers: { id: string; target: string; enabled: boolean; lastFiredAt: string | null }[] };
      print(r, () => r.triggers.map((t) => `${t.id}  ${t.target}  ${t.enabled ? 'enabled' : 'disabled'}  last fired ${t.lastFiredAt ?? 'never'}`));
      return 0;
    }
    case 'untrigger': {
      const r = (await api('DELETE', `/api/v1/playbooks/triggers/${id('untrigger')}`)) as { trigger: { id: string; enabled: boolean } };
      print(r, () => [`trigger ${r.trigger.id} ${r.trigger.enabled ? 'enabled' : 'disabled'}`]);
      return 0;
    }
    default:
      return undefined;
  }
}
