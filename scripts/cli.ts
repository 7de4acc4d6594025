/**
 * `npm run cli -- <command>`: the ProxyShard REST API from a terminal.
 *
 *   login --url http://127.0.0.1:3000 --token ps_…   check the token, store url + token in
 *                                                    ~/.config/proxyshard/cli.json (mode 0600)
 *   whoami                                           user, tenant and role behind the token
 *   routes                                           routes of the live revision
 *   audit list [--action A] [--actor X] [--target-type T] [--target-id I] [--limit N] [--before SEQ]
 *   audit verify                                     exit 1 and print the first broken entry when the chain is broken
 *   tokens create <name> [--expires-in-days N]       print the new token (shown once)
 *   webhooks list | create <name> <url> [--kind K1,K2.*] | delete <id>
 *                                                    webhook endpoints for notifications (create prints the signing secret once)
 *   notifications [--limit N]                        recent notification deliveries: kind, status, attempts, last error
 *   agents [--node-group G]                          node agents: connected, applied/desired version, errors, counters
 *   xdp policies [--node-group G] [--limit N]        XDP policy versions (* = what the group should run)
 *   xdp create -f rules.yaml|json --node-group G     store a new policy version (validation issues by field path)
 *   xdp publish <id> [--no-wait] [--ack-timeout-ms N]  push it to the group's agents; waits until they apply it
 *                                                    (exit 1 when an agent rejects it or it does not finish)
 *   rollouts list [--route R]                        rollouts of the tenant, newest first
 *   rollouts start --revision ID --spec FILE         start a canary rollout (spec: JSON or YAML file)
 *   rollouts status <id> [--watch] [--interval-ms N] phase, step, weight, failure; --watch polls until it ends
 *   rollouts approve|reject|pause|resume|abort|promote|retry <id> [--comment TEXT]
 *   policies list [--kind admission|request]        Rego policies with their live version
 *   policies show <id|name>                          versions (status, tests, live)
 *   policies create <name> --kind K -f policy.rego [--data data.json] [--tests x_test.rego] [--activate]
 *                                                    check → test → build; exit 1 with file:row:col diagnostics
 *   policies version <id|name> -f policy.rego [--data …] [--tests …] [--activate]   the next version
 *   policies activate <id|name> <version>            make a compiled version live (older = rollback)
 *   policies check|fmt|test -f file.rego [--tests x_test.rego] [--data data.json] [--write (fmt)]
 *   policies eval <id|name> --input input.json [--version N]   playground: the decision for a sample input
 *   policies decisions <id|name> [--allowed true|false] [--method M] [--route R] [--since ISO] [--limit N] [--before ID]
 *
 *   playbooks list|show|create|dry-run|run|runs|status|approve|reject|resume|abort|trigger|triggers|untrigger
 *                                                    failover playbooks (scripts/lib/cli-playbooks.ts)
 *   revisions create|validate|diff|plan|apply|revert, translate, proxy-status, config-dump, apply -f FILE
 *                                                    route-graph revisions and GitOps (scripts/lib/cli-revisions.ts)
 *
 * Every command takes --url and --token; otherwise PROXYSHARD_URL / PROXYSHARD_TOKEN, otherwise the stored
 * login. --json prints the API's JSON instead of text. Exit codes: 0 ok, 1 failure (API error, broken
 * chain), 2 usage error.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { getEnv } from '../server/env';
import { CERTS_OPTIONS, CERTS_USAGE, runCertsCommand } from './lib/cli-certs';
import { PLAYBOOKS_USAGE, runPlaybooksCommand } from './lib/cli-playbooks';
import { REVISIONS_USAGE, runRevisionsCommand } from './lib/cli-revisions';

export const USAGE = `usage: npm run cli -- <command> [--url URL] [--token TOKEN] [--json]
commands:
  login --url URL --token TOKEN     store url and token in ~/.config/proxyshard/cli.json
  whoami                            who the token belongs to
  routes                            routes of the live revision
  audit list [--action A] [--actor X] [--target-type T] [--target-id I] [--limit N] [--before SEQ]
  audit verify                      check the audit hash chain (exit 1 when broken)
  tokens create <name> [--expires-in-days N]
  webhooks list | create <name> <url> [--kind K1,K2.*] | delete <id>
  notifications [--limit N]         recent webhook deliveries
  agents [--node-group G]           node agents with applied version, errors and counters
  xdp policies [--node-group G] [--limit N]
  xdp create -f FILE --node-group G FILE: the policy spec as YAML or JSON
  xdp publish <id> [--no-wait] [--ack-timeout-ms N]
  rollouts list [--route R]
  rollouts start --revision ID --spec FILE
  rollouts status <id> [--watch] [--interval-ms N]
  rollouts approve|reject|pause|resume|abort|promote|retry <id> [--comment TEXT]
  policies list [--kind admission|request]
  policies show <id|name>
  policies create <name> --kind admission|request -f policy.rego [--data data.json] [--tests x_test.rego] [--activate]
  policies version <id|name> -f policy.rego [--data data.json] [--tests x_test.rego] [--activate]
  policies activate <id|name> <version>
  policies check|fmt|test -f file.rego [--tests x_test.rego] [--data data.json] [--write]
  policies eval <id|name> --input input.json [--version N]
  policies decisions <id|name> [--allowed true|false] [--method M] [--route R] [--since ISO-TIME] [--limit N] [--before ID]
${REVISIONS_USAGE}
${CERTS_USAGE}
${PLAYBOOKS_USAGE}`;

export function configPath(): string {
  return join(homedir(), '.config', 'proxyshard', 'cli.json');
}

interface Config {
  url: string;
  token: string;
}

function readConfig(): Partial<Config> {
  try {
    const parsed = JSON.parse(readFileSync(configPath(), 'utf8')) as Partial<Config>;
    return { url: typeof parsed.url === 'string' ? parsed.url : undefined, token: typeof parsed.token === 'string' ? parsed.token : undefined };
  } catch {
    return {};
  }
}

function writeConfig(config: Config): void {
  const path = configPath();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

class UsageError extends Error {}

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

interface ApiErrorBody {
  error?: { code?: string; message?: string; issues?: { path: string; message: string }[]; eventId?: string };
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    const e = body.error;
    const issues = e?.issues?.map((i) => `\n  ${i.path || '(body)'}: ${i.message}`).join('') ?? '';
    super(`${status} ${e?.code ?? 'error'}: ${e?.message ?? 'request failed'}${e?.eventId ? ` (event ${e.eventId})` : ''}${issues}`);
  }
}

async function call(conn: Config, method: string, path: string, body?: unknown): Promise<unknown> {
  const url = new URL(path, conn.url.endsWith('/') ? conn.url : `${conn.url}/`);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${conn.token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    const detail = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    throw new Error(`cannot reach ${url.origin}: ${detail}`, { cause: err });
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (err) {
    throw new Error(`${res.status}: the server did not answer JSON (is ${conn.url} ProxyShard?)`, { cause: err });
  }
  if (!res.ok) throw new ApiError(res.status, (json ?? {}) as ApiErrorBody);
  return json;
}

function pad(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

interface AuditEntryJson {
  seq: number;
  at: string;
  actor: { type: string; id: string; name: string };
  action: string;
  target: { type: string; id: string };
  details: unknown;
  prevHash: string;
  hash: string;
}

export type VerifyJson =
  | { ok: true; entries: number; headHash: string }
  | { ok: false; entries: number; firstBrokenSeq: number; reason: string; entry: AuditEntryJson | null };

/** Text for `audit verify` and its exit code. */
export function formatVerification(v: VerifyJson): { lines: string[]; exitCode: number } {
  if (v.ok) return { lines: [`audit chain OK: ${v.entries} entries, head ${v.headHash}`], exitCode: 0 };
  const lines = [`audit chain BROKEN at seq ${v.firstBrokenSeq}: ${v.reason}`, `(${v.entries} entries before it verified)`];
  if (v.entry) {
    const e = v.entry;
    lines.push(
      'first broken entry:',
      `  seq       ${e.seq}`,
      `  at        ${e.at}`,
      `  actor     ${e.actor.type} ${e.actor.name} (${e.actor.id})`,
      `  action    ${e.action}`,
      `  target    ${e.target.type} ${e.target.id}`,
      `  details   ${JSON.stringify(e.details)}`,
      `  prevHash  ${e.prevHash}`,
      `  hash      ${e.hash}`,
    );
  }
  return { lines, exitCode: 1 };
}

// ---- agents and XDP policies -------------------------------------------------------------------------------

interface AgentJson {
  nodeName: string;
  nodeGroup: string;
  connected: boolean;
  lastSeenAt: string;
  appliedVersion: string | null;
  desiredVersion: string | null;
  inSync: boolean;
  failedVersion: string | null;
  lastError: string | null;
  counters: { interface: string; name: string; slot: number; matchPackets: number; dropPackets: number }[];
}

const short = (v: string | null | undefined) => (v ? v.slice(0, 12) : '-');

/** Text for `agents`: one row per agent, then rejections and the counters that counted something. */
export function formatAgents(agents: AgentJson[]): string[] {
  if (!agents.length) return ['no agents'];
  const rows = [['NODE', 'GROUP', 'STATE', 'LAST SEEN', 'APPLIED', 'DESIRED', 'IN SYNC']];
  for (const a of agents) {
    rows.push([a.nodeName, a.nodeGroup, a.connected ? 'connected' : 'offline', a.lastSeenAt, short(a.appliedVersion), short(a.desiredVersion), a.inSync ? 'yes' : a.desiredVersion ? 'NO' : '-']);
  }
  const lines = pad(rows);
  for (const a of agents) {
    if (a.lastError) lines.push(`${a.nodeName}: rejected ${short(a.failedVersion)}: ${a.lastError.split('\n')[0]}`);
    for (const c of a.counters) {
      if (c.matchPackets > 0 || c.dropPackets > 0) lines.push(`${a.nodeName} ${c.interface} ${c.name}: matched ${c.matchPackets}, dropped ${c.dropPackets}`);
    }
  }
  return lines;
}

interface XdpPolicyJson {
  id: string;
  nodeGroup: string;
  seq: number;
  version: string;
  desired: boolean;
  createdAt: string;
  createdBy: string;
  spec: { rules: unknown[] };
  bundle: { program: string; attachMode: string; denyCidrs: number; rateLimits: number };
}

interface XdpPushJson {
  workflowId: string;
  nodeGroup: string;
  version: string;
  status: 'running' | 'completed' | 'superseded' | 'rejected' | 'timedOut' | 'failed';
  result?: { outcome: string; changed: boolean; agentsAcked: { nodeName: string }[] };
  error?: { type: string | null; message: string };
}

/** A policy spec file: JSON when the name ends in .json, else YAML (which reads JSON too). */
async function readSpecFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const json = path.endsWith('.json');
  try {
    return json ? JSON.parse(text) : (await import('yaml')).parse(text);
  } catch (err) {
    throw new UsageError(`${path} is not valid ${json ? 'JSON' : 'YAML'}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function xdpCommand(
  need: () => Config,
  sub: string | undefined,
  rest: string[],
  o: { json?: boolean; 'node-group'?: string; file?: string; 'no-wait'?: boolean; 'ack-timeout-ms'?: string; limit?: string },
  print: (json: unknown, text: () => string[]) => void,
  intOption: (name: string, v: string | undefined) => number | undefined,
  io: Io,
): Promise<number> {
  if (sub === 'policies') {
    const q = new URLSearchParams();
    if (o['node-group']) q.set('nodeGroup', o['node-group']);
    const limit = intOption('limit', o.limit);
    if (limit !== undefined) q.set('limit', String(limit));
    const r = (await call(need(), 'GET', `api/v1/xdp-policies${q.size ? `?${q}` : ''}`)) as { policies: XdpPolicyJson[] };
    print(r, () =>
      r.policies.length
        ? pad([
            ['ID', 'GROUP', 'SEQ', 'VERSION', 'PROGRAM', 'RULES', 'CREATED', 'BY'],
            ...r.policies.map((p) => [
              p.id,
              p.nodeGroup,
              `${p.desired ? '*' : ''}${p.seq}`,
              short(p.version),
              `${p.bundle.program}/${p.bundle.attachMode}`,
              `${p.spec.rules.length} (${p.bundle.denyCidrs} CIDRs, ${p.bundle.rateLimits} limits)`,
              p.createdAt,
              p.createdBy,
            ]),
          ])
        : ['no XDP policies'],
    );
    return 0;
  }
  if (sub === 'create') {
    if (rest.length) throw new UsageError('xdp create takes no positional arguments');
    if (!o.file || !o['node-group']) throw new UsageError('xdp create needs -f FILE and --node-group G');
    const spec = await readSpecFile(o.file);
    const r = (await call(need(), 'POST', 'api/v1/xdp-policies', { nodeGroup: o['node-group'], spec })) as { policy: XdpPolicyJson };
    print(r, () => [
      `created XDP policy ${r.policy.id} (node group ${r.policy.nodeGroup}, #${r.policy.seq}, version ${short(r.policy.version)})`,
      `push it with: xdp publish ${r.policy.id}`,
    ]);
    return 0;
  }
  if (sub === 'publish') {
    const id = rest[0];
    if (!id || rest.length > 1) throw new UsageError('xdp publish needs exactly one policy <id>');
    const ackTimeoutMs = intOption('ack-timeout-ms', o['ack-timeout-ms']);
    const wait = !o['no-wait'];
    const r = (await call(need(), 'POST', `api/v1/xdp-policies/${encodeURIComponent(id)}/publish`, {
      wait,
      ...(ackTimeoutMs !== undefined ? { ackTimeoutMs, waitMs: Math.min(600_000, ackTimeoutMs + 30_000) } : {}),
    })) as { push: XdpPushJson };
    const p = r.push;
    const head = `XDP version ${short(p.version)} → node group ${p.nodeGroup}`;
    if (p.status === 'completed') {
      const names = p.result?.agentsAcked.map((a) => a.nodeName) ?? [];
      print(r, () => [`${head}: applied by ${names.length} agent${names.length === 1 ? '' : 's'}${names.length ? ` (${names.join(', ')})` : ''}${p.result?.changed === false ? '; it already was the desired version' : ''}`]);
      return 0;
    }
    if (p.status === 'superseded') {
      print(r, () => [`${head}: superseded by a newer push to the group before every agent applied it`]);
      return 0;
    }
    if (p.status === 'running') {
      print(r, () => [wait ? `${head}: not finished yet (workflow ${p.workflowId}); see \`agents --node-group ${p.nodeGroup}\`` : `${head}: started (workflow ${p.workflowId})`]);
      return wait ? 1 : 0;
    }
    if (o.json) io.out(JSON.stringify(r, null, 2));
    io.err(`${head}: ${p.status}: ${p.error?.message ?? 'failed'}`);
    return 1;
  }
  throw new UsageError(`unknown command: ${['xdp', sub].filter(Boolean).join(' ')}`);
}

export async function runCli(argv: string[], io: Io = { out: (l) => console.log(l), err: (l) => console.error(l) }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        action: { type: 'string' },
        actor: { type: 'string' },
        'target-type': { type: 'string' },
        'target-id': { type: 'string' },
        limit: { type: 'string' },
        before: { type: 'string' },
        'expires-in-days': { type: 'string' },
        'node-group': { type: 'string' },
        file: { type: 'string', short: 'f' },
        'no-wait': { type: 'boolean', default: false },
        'ack-timeout-ms': { type: 'string' },
        route: { type: 'string' },
        revision: { type: 'string' },
        spec: { type: 'string' },
        watch: { type: 'boolean', default: false },
        'interval-ms': { type: 'string' },
        comment: { type: 'string' },
        kind: { type: 'string' },
        data: { type: 'string' },
        tests: { type: 'string' },
        activate: { type: 'boolean' },
        input: { type: 'string' },
        version: { type: 'string' },
        allowed: { type: 'string' },
        method: { type: 'string' },
        since: { type: 'string' },
        write: { type: 'boolean' },
        // revisions, translate, proxy-status, config-dump, apply (scripts/lib/cli-revisions.ts)
        message: { type: 'string' },
        against: { type: 'string' },
        draft: { type: 'boolean' },
        type: { type: 'string' },
        // certs, cas (scripts/lib/cli-certs.ts)
        ...CERTS_OPTIONS,
        // playbooks (scripts/lib/cli-playbooks.ts)
        target: { type: 'string' },
        param: { type: 'string', multiple: true },
      },
    });
  } catch (err) {
    io.err(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  const { values: o, positionals: [cmd, sub, ...rest] } = parsed;
  if (o.help || !cmd) {
    (o.help ? io.out : io.err)(USAGE);
    return o.help ? 0 : 2;
  }
  const env = getEnv();
  const stored = readConfig();
  const conn = { url: o.url ?? env.PROXYSHARD_URL ?? stored.url, token: o.token ?? env.PROXYSHARD_TOKEN ?? stored.token };
  const need = (): Config => {
    if (!conn.url || !conn.token) throw new UsageError('no server: run `login --url URL --token TOKEN` first, or pass --url and --token');
    return { url: conn.url, token: conn.token };
  };
  const print = (json: unknown, text: () => string[]) => (o.json ? io.out(JSON.stringify(json, null, 2)) : text().forEach((l) => io.out(l)));
  const intOption = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number`);
    return Number(v);
  };

  try {
    const command = [cmd, sub].filter(Boolean).join(' ');
    switch (cmd) {
      case 'login': {
        if (!o.url || !o.token) throw new UsageError('login needs --url and --token');
        const c = { url: o.url, token: o.token };
        const me = (await call(c, 'GET', 'api/v1/me')) as { user: { username: string }; tenant: { slug: string }; role: string };
        writeConfig(c);
        io.out(`logged in to ${c.url} as ${me.user.username} (${me.role} in ${me.tenant.slug}); saved to ${configPath()}`);
        return 0;
      }
      case 'whoami': {
        const me = (await call(need(), 'GET', 'api/v1/me')) as { user: { username: string; displayName: string }; tenant: { slug: string; name: string }; role: string; via: string };
        print(me, () => [`${me.user.username} (${me.user.displayName}) — ${me.role} in ${me.tenant.slug} (${me.tenant.name}), via ${me.via}`]);
        return 0;
      }
      case 'routes': {
        const r = (await call(need(), 'GET', 'api/v1/routes')) as {
          revision: { number: number } | null;
          routes: {
            name: string;
            listener: { name: string; port: number } | null;
            virtualHost: { name: string; domains: string[] } | null;
            match: { prefix?: string; path?: string; regex?: string };
            action: string;
            destinations: { cluster: string; weight: number }[];
          }[];
        };
        print(r, () => {
          if (!r.revision) return ['no live revision'];
          const rows = [['ROUTE', 'LISTENER', 'VIRTUAL HOST', 'MATCH', 'DESTINATIONS']];
          for (const x of r.routes) {
            const match = x.match.path !== undefined ? `path ${x.match.path}` : x.match.prefix !== undefined ? `prefix ${x.match.prefix}` : x.match.regex !== undefined ? `regex ${x.match.regex}` : '-';
            const dest = x.action === 'forward' ? x.destinations.map((d) => `${d.cluster}=${d.weight}`).join(',') : x.action;
            rows.push([x.name, x.listener ? `${x.listener.name}:${x.listener.port}` : '-', x.virtualHost?.name ?? '-', match, dest]);
          }
          return [`live revision #${r.revision.number}`, ...pad(rows)];
        });
        return 0;
      }
      case 'audit': {
        if (sub === 'list') {
          const q = new URLSearchParams();
          if (o.action) q.set('action', o.action);
          if (o.actor) q.set('actor', o.actor);
          if (o['target-type']) q.set('targetType', o['target-type']);
          if (o['target-id']) q.set('targetId', o['target-id']);
          const limit = intOption('limit', o.limit);
          const before = intOption('before', o.before);
          if (limit !== undefined) q.set('limit', String(limit));
          if (before !== undefined) q.set('before', String(before));
          const page = (await call(need(), 'GET', `api/v1/audit${q.size ? `?${q}` : ''}`)) as { entries: AuditEntryJson[]; nextBefore: number | null };
          print(page, () => [
            ...pad([
              ['SEQ', 'AT', 'ACTOR', 'ACTION', 'TARGET'],
              ...page.entries.map((e) => [String(e.seq), e.at, `${e.actor.type}:${e.actor.name}`, e.action, `${e.target.type}:${e.target.id}`]),
            ]),
            ...(page.nextBefore !== null ? [`(more: --before ${page.nextBefore})`] : []),
          ]);
          return 0;
        }
        if (sub === 'verify') {
          const v = (await call(need(), 'POST', 'api/v1/audit/verify')) as VerifyJson;
          const { lines, exitCode } = formatVerification(v);
          print(v, () => lines);
          return exitCode;
        }
        throw new UsageError(`unknown command: ${command}`);
      }
      case 'tokens': {
        if (sub !== 'create') throw new UsageError(`unknown command: ${command}`);
        const name = rest[0];
        if (!name || rest.length > 1) throw new UsageError('tokens create needs exactly one <name>');
        const expiresInDays = intOption('expires-in-days', o['expires-in-days']);
        const r = (await call(need(), 'POST', 'api/v1/tokens', { name, ...(expiresInDays !== undefined ? { expiresInDays } : {}) })) as {
          token: { id: string; name: string; expiresAt: string | null };
          secret: string;
        };
        print(r, () => [r.secret, `(token "${r.token.name}", id ${r.token.id}${r.token.expiresAt ? `, expires ${r.token.expiresAt}` : ''}; shown once — store it now)`]);
        return 0;
      }
      case 'webhooks': {
        if (sub === 'list' && rest.length === 0) {
          const r = (await call(need(), 'GET', 'api/v1/webhooks')) as { webhooks: { id: string; name: string; url: string; kinds: string[] }[] };
          print(r, () => pad([['ID', 'NAME', 'URL', 'KINDS'], ...r.webhooks.map((w) => [w.id, w.name, w.url, w.kinds.join(',') || '*'])]));
          return 0;
        }
        if (sub === 'create') {
          const [name, url, ...extra] = rest;
          if (!name || !url || extra.length > 0) throw new UsageError('webhooks create needs <name> <url>');
          const kinds = o.kind ? o.kind.split(',').map((k) => k.trim()).filter(Boolean) : [];
          const r = (await call(need(), 'POST', 'api/v1/webhooks', { name, url, kinds })) as { webhook: { id: string; name: string }; secret: string };
          print(r, () => [r.secret, `(webhook "${r.webhook.name}", id ${r.webhook.id}: signing secret for x-proxyshard-signature, shown once)`]);
          return 0;
        }
        if (sub === 'delete' && rest.length === 1) {
          const r = await call(need(), 'DELETE', `api/v1/webhooks/${encodeURIComponent(rest[0]!)}`);
          print(r, () => [`deleted webhook ${rest[0]}`]);
          return 0;
        }
        throw new UsageError(`unknown command: ${command}`);
      }
      case 'notifications': {
        if (sub) throw new UsageError(`unknown command: ${command}`);
        const limit = intOption('limit', o.limit);
        const r = (await call(need(), 'GET', `api/v1/notifications${limit !== undefined ? `?limit=${limit}` : ''}`)) as {
          deliveries: { createdAt: string; kind: string; severity: string; status: string; attempts: number; lastError: string | null; subject: string }[];
        };
        print(r, () =>
          pad([['AT', 'KIND', 'SEVERITY', 'STATUS', 'ATTEMPTS', 'SUBJECT / LAST ERROR'], ...r.deliveries.map((d) => [d.createdAt, d.kind, d.severity, d.status, String(d.attempts), d.lastError ? `${d.subject} — ${d.lastError}` : d.subject])]),
        );
        return 0;
      }
      case 'rollouts': {
        return await rolloutsCommand(need, sub, rest, o, print, intOption, io);
      }
      case 'agents': {
        if (sub) throw new UsageError(`unknown command: ${command}`);
        const q = o['node-group'] ? `?${new URLSearchParams({ nodeGroup: o['node-group'] })}` : '';
        const r = (await call(need(), 'GET', `api/v1/agents${q}`)) as { agents: AgentJson[] };
        print(r, () => formatAgents(r.agents));
        return 0;
      }
      case 'xdp':
        return await xdpCommand(need, sub, rest, o, print, intOption, io);
      case 'policies':
        return await policiesCommand(need, sub, rest, o, print, intOption, io);
      case 'playbooks': {
        const code = await runPlaybooksCommand({ sub, rest, o, print, api: (m, path, body) => call(need(), m, path, body), usage: (m) => new UsageError(m) });
        if (code === undefined) throw new UsageError(`unknown command: ${command}`);
        return code;
      }
      case 'revisions':
      case 'translate':
      case 'proxy-status':
      case 'config-dump':
      case 'apply': {
        const code = await runRevisionsCommand({ cmd, sub, rest, o, print, api: (m, path, body) => call(need(), m, path, body), usage: (m) => new UsageError(m) });
        if (code === undefined) throw new UsageError(`unknown command: ${command}`);
        return code;
      }
      case 'certs':
      case 'cas': {
        const code = await runCertsCommand({
          cmd,
          sub,
          rest,
          o,
          print,
          pad,
          out: io.out,
          api: (m, path, body) => call(need(), m, path, body),
          apiText: async (path) => {
            const res = await fetch(new URL(path, need().url.endsWith('/') ? need().url : `${need().url}/`));
            if (!res.ok) throw new Error(`${res.status}: ${await res.text()}`);
            return res.text();
          },
          usage: (m) => new UsageError(m),
        });
        if (code === undefined) throw new UsageError(`unknown command: ${command}`);
        return code;
      }
      default:
        throw new UsageError(`unknown command: ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n${USAGE}`);
      return 2;
    }
    io.err(err instanceof Error ? err.message : String(err));
    return 1;
  }
}

// ---- rollouts ----------------------------------------------------------------------------------------------

interface RolloutJson {
  id: string;
  route: string;
  phase: string;
  currentStepIndex: number;
  steps: number;
  pauseReason: string | null;
  canaryWeight: number;
  failure: { reason: string; message: string } | null;
  startedBy: { name: string };
  createdAt: string;
}

const ROLLOUT_COMMANDS = ['approve', 'reject', 'pause', 'resume', 'abort', 'promote', 'retry'];
const ROLLOUT_DONE = ['Promoted', 'Failed', 'Aborted'];

export function formatRollout(r: RolloutJson): string {
  const step = r.currentStepIndex >= r.steps ? `${r.steps}/${r.steps}` : `${r.currentStepIndex + 1}/${r.steps}`;
  return `rollout ${r.id} route ${r.route}: ${r.phase}${r.pauseReason ? ` (${r.pauseReason})` : ''}, step ${step}, canary ${r.canaryWeight}%${r.failure ? ` — ${r.failure.reason}: ${r.failure.message}` : ''}`;
}

async function rolloutsCommand(
  need: () => Config,
  sub: string | undefined,
  rest: string[],
  o: { json?: boolean; route?: string; revision?: string; spec?: string; watch?: boolean; 'interval-ms'?: string; comment?: string },
  print: (json: unknown, text: () => string[]) => void,
  intOption: (name: string, v: string | undefined) => number | undefined,
  io: Io,
): Promise<number> {
  if (sub === 'list') {
    const r = (await call(need(), 'GET', `api/v1/rollouts${o.route ? `?route=${encodeURIComponent(o.route)}` : ''}`)) as { rollouts: RolloutJson[] };
    print(r, () => pad([['ID', 'ROUTE', 'PHASE', 'STEP', 'CANARY', 'BY'], ...r.rollouts.map((x) => [x.id, x.route, x.phase + (x.pauseReason ? ` (${x.pauseReason})` : ''), `${Math.min(x.currentStepIndex + 1, x.steps)}/${x.steps}`, `${x.canaryWeight}%`, x.startedBy.name])]));
    return 0;
  }
  if (sub === 'start') {
    if (!o.revision || !o.spec) throw new UsageError('rollouts start needs --revision ID and --spec FILE');
    const text = readFileSync(o.spec, 'utf8');
    const { parse } = await import('yaml');
    const spec = parse(text) as unknown;
    const r = (await call(need(), 'POST', 'api/v1/rollouts', { revisionId: o.revision, spec })) as { rollout: RolloutJson; created: boolean };
    print(r, () => [`${r.created ? 'started' : 'already started'}: ${formatRollout(r.rollout)}`]);
    return 0;
  }
  const id = rest[0];
  if (sub === 'status') {
    if (!id || rest.length > 1) throw new UsageError('rollouts status needs exactly one <id>');
    const interval = intOption('interval-ms', o['interval-ms']) ?? 2000;
    let last = '';
    // --watch: poll until the rollout ends (bounded: at most 24 h of polling).
    for (let i = 0; i < (o.watch ? Math.ceil(86_400_000 / Math.max(interval, 100)) : 1); i++) {
      const r = (await call(need(), 'GET', `api/v1/rollouts/${encodeURIComponent(id)}`)) as { rollout: RolloutJson };
      const line = formatRollout(r.rollout);
      if (o.json) io.out(JSON.stringify(r, null, 2));
      else if (line !== last) io.out(line);
      last = line;
      if (!o.watch) return 0;
      if (ROLLOUT_DONE.includes(r.rollout.phase)) return r.rollout.phase === 'Promoted' ? 0 : 1;
      await new Promise((res) => setTimeout(res, Math.max(interval, 100)));
    }
    return 1;
  }
  if (sub && ROLLOUT_COMMANDS.includes(sub)) {
    if (!id || rest.length > 1) throw new UsageError(`rollouts ${sub} needs exactly one <id>`);
    const body = sub === 'approve' || sub === 'reject' ? { ...(o.comment ? { comment: o.comment } : {}) } : { ...(o.comment ? { reason: o.comment } : {}) };
    const r = (await call(need(), 'POST', `api/v1/rollouts/${encodeURIComponent(id)}/${sub}`, body)) as { status: { phase: string; currentStepIndex: number; steps: number; pauseReason: string | null } };
    print(r, () => [`${sub}: ${r.status.phase}${r.status.pauseReason ? ` (${r.status.pauseReason})` : ''}, step ${Math.min(r.status.currentStepIndex + 1, r.status.steps)}/${r.status.steps}`]);
    return 0;
  }
  throw new UsageError(`unknown command: rollouts ${sub ?? ''}`.trim());
}

// ---- policies (Rego) ---------------------------------------------------------------------------------------

interface PolicyJson {
  id: string;
  name: string;
  kind: 'admission' | 'request';
  description: string;
  liveVersionId: string | null;
  liveVersionNumber?: number | null;
}

interface PolicyVersionJson {
  id: string;
  number: number;
  status: 'compiled' | 'failed';
  entrypoints: string[];
  wasmSha256: string | null;
  createdBy: string;
  createdAt: string;
  testResults: PolicyTestJson[];
}

interface PolicyDiagnosticJson {
  file: string;
  row: number;
  col: number;
  code: string;
  message: string;
}

interface PolicyTestJson {
  package: string;
  name: string;
  file: string;
  row: number;
  passed: boolean;
  skipped: boolean;
  error?: string;
  durationNs: number;
}

interface DecisionJson {
  id: string;
  at: string;
  allowed: boolean;
  httpStatus: number;
  method: string;
  path: string;
  route: string;
  durationUs: number;
  error: string | null;
}

/** `file:row:col: code: message`, as compilers and editors print them. */
export function formatDiagnostics(diagnostics: PolicyDiagnosticJson[]): string[] {
  return diagnostics.map((d) => `${d.file || '(policy)'}:${d.row}:${d.col}: ${d.code}: ${d.message}`);
}

/** One line per test (PASS / FAIL / SKIP / ERROR), then a summary. */
export function formatTestResults(results: PolicyTestJson[]): string[] {
  const lines = results.map((t) => {
    const status = t.skipped ? 'SKIP ' : t.error ? 'ERROR' : t.passed ? 'PASS ' : 'FAIL ';
    return `${status} ${t.package}.${t.name} (${t.file}:${t.row}, ${(t.durationNs / 1e6).toFixed(2)} ms)${t.error ? `: ${t.error}` : ''}`;
  });
  const passed = results.filter((t) => t.passed).length;
  const failed = results.filter((t) => !t.passed && !t.skipped).length;
  lines.push(`${passed} passed, ${failed} failed, ${results.length - passed - failed} skipped`);
  return lines;
}

function readRegoModule(path: string, as?: string): { file: string; source: string } {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { file: as ?? basename(path), source };
}

/** The --tests file keeps its name when it ends in _test.rego (opa's convention), else gets that suffix. */
function testModuleName(path: string): string {
  const base = basename(path);
  return /_test\.rego$/.test(base) ? base : `${base.replace(/\.rego$/, '')}_test.rego`;
}

function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${path} (${what}) is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

interface PolicyOptions {
  json?: boolean;
  file?: string;
  kind?: string;
  data?: string;
  tests?: string;
  activate?: boolean;
  input?: string;
  version?: string;
  allowed?: string;
  method?: string;
  route?: string;
  since?: string;
  limit?: string;
  before?: string;
  write?: boolean;
}

async function policiesCommand(
  need: () => Config,
  sub: string | undefined,
  rest: string[],
  o: PolicyOptions,
  print: (json: unknown, text: () => string[]) => void,
  intOption: (name: string, v: string | undefined) => number | undefined,
  io: Io,
): Promise<number> {
  const one = (what: string): string => {
    if (rest.length !== 1 || !rest[0]) throw new UsageError(`policies ${sub} needs exactly one ${what}`);
    return rest[0];
  };
  const path = (ref: string, tail = '') => `api/v1/policies/${encodeURIComponent(ref)}${tail}`;
  /** The policy modules of -f (and --tests). */
  const modules = (command: string) => {
    if (!o.file) throw new UsageError(`policies ${command} needs -f FILE.rego`);
    const ms = [readRegoModule(o.file)];
    if (o.tests) ms.push(readRegoModule(o.tests, testModuleName(o.tests)));
    return ms;
  };
  const data = () => (o.data ? (readJsonFile(o.data, 'data document') as Record<string, unknown>) : undefined);
  const versionLine = (p: PolicyJson, v: PolicyVersionJson, activated: boolean) => {
    const tests = v.testResults.length ? `, tests ${v.testResults.filter((t) => t.passed).length}/${v.testResults.length} passed` : '';
    return `${p.name} (${p.kind}, id ${p.id}) version ${v.number}: ${v.status}${tests}; ${activated ? 'now live' : `live: ${p.liveVersionId === v.id ? 'this version' : (p.liveVersionId ?? 'none')}`}`;
  };

  switch (sub) {
    case 'list': {
      if (rest.length) throw new UsageError('policies list takes no positional arguments');
      const q = o.kind ? `?${new URLSearchParams({ kind: o.kind })}` : '';
      const r = (await call(need(), 'GET', `api/v1/policies${q}`)) as { policies: PolicyJson[] };
      print(r, () =>
        r.policies.length
          ? pad([['ID', 'NAME', 'KIND', 'LIVE'], ...r.policies.map((p) => [p.id, p.name, p.kind, p.liveVersionNumber ? `v${p.liveVersionNumber}` : '-'])])
          : ['no policies'],
      );
      return 0;
    }
    case 'show': {
      const r = (await call(need(), 'GET', path(one('<id|name>')))) as { policy: PolicyJson; versions: PolicyVersionJson[] };
      print(r, () => [
        `${r.policy.name} (${r.policy.kind}, id ${r.policy.id})${r.policy.description ? `: ${r.policy.description}` : ''}`,
        ...pad([
          ['VERSION', 'STATUS', 'LIVE', 'TESTS', 'WASM', 'BY', 'CREATED'],
          ...r.versions.map((v) => [
            String(v.number),
            v.status,
            r.policy.liveVersionId === v.id ? '*' : '',
            v.testResults.length ? `${v.testResults.filter((t) => t.passed).length}/${v.testResults.length}` : '-',
            v.wasmSha256 ? v.wasmSha256.slice(0, 12) : '-',
            v.createdBy,
            v.createdAt,
          ]),
        ]),
      ]);
      return 0;
    }
    case 'create': {
      const name = one('<name>');
      if (o.kind !== 'admission' && o.kind !== 'request') throw new UsageError('policies create needs --kind admission|request');
      const d = data();
      const r = (await call(need(), 'POST', 'api/v1/policies', {
        name,
        kind: o.kind,
        modules: modules('create'),
        ...(d !== undefined ? { data: d } : {}),
        activate: o.activate ?? false,
      })) as { policy: PolicyJson; version: PolicyVersionJson; activated: boolean };
      print(r, () => [versionLine(r.policy, r.version, r.activated), ...(r.activated ? [] : [`activate it with: policies activate ${r.policy.id} ${r.version.number}`])]);
      return 0;
    }
    case 'version': {
      const ref = one('<id|name>');
      const d = data();
      const r = (await call(need(), 'POST', path(ref, '/versions'), { modules: modules('version'), ...(d !== undefined ? { data: d } : {}), activate: o.activate ?? false })) as {
        policy: PolicyJson;
        version: PolicyVersionJson;
        activated: boolean;
      };
      print(r, () => [versionLine(r.policy, r.version, r.activated)]);
      return 0;
    }
    case 'activate': {
      if (rest.length !== 2 || !/^\d+$/.test(rest[1] ?? '')) throw new UsageError('policies activate needs <id|name> <version>');
      const r = (await call(need(), 'POST', path(rest[0]!, '/activate'), { version: Number(rest[1]) })) as { policy: PolicyJson; version: PolicyVersionJson };
      print(r, () => [`${r.policy.name}: version ${r.version.number} is live`]);
      return 0;
    }
    case 'check': {
      if (rest.length) throw new UsageError('policies check takes -f FILE.rego');
      const r = (await call(need(), 'POST', 'api/v1/policies/check', { modules: modules('check') })) as { ok: boolean; diagnostics: PolicyDiagnosticJson[] };
      print(r, () => (r.ok ? [`${o.file}: OK`] : formatDiagnostics(r.diagnostics)));
      return r.ok ? 0 : 1;
    }
    case 'fmt': {
      if (rest.length || o.tests) throw new UsageError('policies fmt takes one -f FILE.rego');
      const [module] = modules('fmt');
      const r = (await call(need(), 'POST', 'api/v1/policies/format', { module })) as { ok: boolean; source?: string; changed?: boolean; diagnostics: PolicyDiagnosticJson[] };
      if (!r.ok) {
        print(r, () => formatDiagnostics(r.diagnostics));
        return 1;
      }
      if (o.write) {
        if (r.changed) writeFileSync(o.file!, r.source!);
        print(r, () => [`${o.file}: ${r.changed ? 'formatted' : 'already formatted'}`]);
      } else if (o.json) io.out(JSON.stringify(r, null, 2));
      else io.out(r.source!.replace(/\n$/, ''));
      return 0;
    }
    case 'test': {
      if (rest.length) throw new UsageError('policies test takes -f FILE.rego [--tests FILE_test.rego] [--data data.json]');
      const d = data();
      const r = (await call(need(), 'POST', 'api/v1/policies/test', { modules: modules('test'), ...(d !== undefined ? { data: d } : {}) })) as {
        ok: boolean;
        results: PolicyTestJson[];
        diagnostics: PolicyDiagnosticJson[];
      };
      print(r, () => (r.diagnostics.length ? formatDiagnostics(r.diagnostics) : formatTestResults(r.results)));
      return r.ok ? 0 : 1;
    }
    case 'eval': {
      const ref = one('<id|name>');
      if (!o.input) throw new UsageError('policies eval needs --input input.json');
      const version = intOption('version', o.version);
      const r = (await call(need(), 'POST', path(ref, '/evaluate'), { input: readJsonFile(o.input, 'input'), ...(version !== undefined ? { version } : {}) })) as {
        policy: PolicyJson;
        version: { number: number; live: boolean };
        result: Record<string, unknown>;
        decision: { kind: string; allowed: boolean } & Record<string, unknown>;
      };
      print(r, () => [
        `${r.policy.name} v${r.version.number}${r.version.live ? ' (live)' : ''}: ${r.decision.allowed ? 'ALLOW' : 'DENY'}`,
        `decision: ${JSON.stringify(r.decision)}`,
        `result:   ${JSON.stringify(r.result)}`,
      ]);
      return 0;
    }
    case 'decisions': {
      const ref = one('<id|name>');
      const q = new URLSearchParams();
      if (o.allowed !== undefined) {
        if (o.allowed !== 'true' && o.allowed !== 'false') throw new UsageError('--allowed must be true or false');
        q.set('allowed', o.allowed);
      }
      if (o.method) q.set('method', o.method);
      if (o.route) q.set('route', o.route);
      if (o.since) q.set('since', o.since);
      const limit = intOption('limit', o.limit);
      if (limit !== undefined) q.set('limit', String(limit));
      if (o.before) q.set('before', o.before);
      const r = (await call(need(), 'GET', path(ref, `/decisions${q.size ? `?${q}` : ''}`))) as { decisions: DecisionJson[]; nextBefore: string | null };
      print(r, () => [
        ...(r.decisions.length
          ? pad([
              ['ID', 'AT', 'DECISION', 'STATUS', 'METHOD', 'PATH', 'ROUTE', 'µs'],
              ...r.decisions.map((d) => [d.id, d.at, d.error ? 'ERROR' : d.allowed ? 'allow' : 'deny', String(d.httpStatus), d.method, d.path, d.route || '-', String(d.durationUs)]),
            ])
          : ['no sampled decisions']),
        ...(r.nextBefore !== null ? [`(more: --before ${r.nextBefore})`] : []),
      ]);
      return 0;
    }
    default:
      throw new UsageError(`unknown command: ${['policies', sub].filter(Boolean).join(' ')}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(1);
    },
  );
}
