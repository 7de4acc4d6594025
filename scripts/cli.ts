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
 *
 * Every command takes --url and --token; otherwise PROXYSHARD_URL / PROXYSHARD_TOKEN, otherwise the stored
 * login. --json prints the API's JSON instead of text. Exit codes: 0 ok, 1 failure (API error, broken
 * chain), 2 usage error.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { getEnv } from '../server/env';

export const USAGE = `usage: npm run cli -- <command> [--url URL] [--token TOKEN] [--json]
commands:
  login --url URL --token TOKEN     store url and token in ~/.config/proxyshard/cli.json
  whoami                            who the token belongs to
  routes                            routes of the live revision
  audit list [--action A] [--actor X] [--target-type T] [--target-id I] [--limit N] [--before SEQ]
  audit verify                      check the audit hash chain (exit 1 when broken)
  tokens create <name> [--expires-in-days N]`;

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

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(1);
    },
  );
}
