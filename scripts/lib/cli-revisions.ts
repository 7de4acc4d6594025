/**
 * CLI commands for route-graph revisions, translation, proxy status and GitOps `apply -f` (wired into
 * scripts/cli.ts). A graph file is YAML or JSON (contracts/route-graph.json-schema.json describes it); JSON
 * when the name ends in .json, else YAML (which reads JSON too); `-` reads standard input.
 *
 *   revisions create -f graph.yaml [--message M] [--draft]   store a new revision (validated)
 *   revisions validate -f graph.yaml                          exit 1 and list issues by field path when invalid
 *   revisions diff <id> [--against ID]                        graph-level changes (default: against live)
 *   revisions plan <id> [--against ID]                        xDS resources added/removed/changed per node group
 *   revisions apply <id> [--no-wait] [--ack-timeout-ms N] [--node-group G]   publish + wait for ACKs
 *   revisions revert <id> [--message M]                       a new revision equal to <id>
 *   revisions approve <id> [--comment C]                      approve a revision the admission guardrails
 *                                                             asked an approval for (not its author)
 *   translate -f graph.yaml | translate <revision id>         xDS JSON per node group, nothing applied
 *   proxy-status                                              per proxy and type: SYNCED/STALE/NACKED/NOT SENT
 *   config-dump <proxy id|node id> [--type CDS|EDS|LDS|RDS]   what was sent to the proxy
 *   apply -f graph.yaml [--message M] [--no-wait]             GitOps: create a revision from the file and apply it
 *                                                             (nothing stored when it equals the live revision)
 */
import { readFileSync } from 'node:fs';
import { validateRouteGraph } from '../../contracts/route-graph.validate';
import { contentHash } from '../../core/xds/snapshot';

export const REVISIONS_USAGE = `  revisions create -f GRAPH [--message M] [--draft]
  revisions validate -f GRAPH
  revisions diff|plan <id> [--against ID]
  revisions apply <id> [--no-wait] [--ack-timeout-ms N] [--node-group G]
  revisions revert <id> [--message M]
  revisions approve <id> [--comment C]
  translate -f GRAPH | translate <revision id>
  proxy-status
  config-dump <proxy id|node id> [--type CDS|EDS|LDS|RDS]
  apply -f GRAPH [--message M] [--no-wait] [--ack-timeout-ms N]   GRAPH: the whole route graph, YAML or JSON`;

export interface RevisionsCliContext {
  cmd: string;
  sub: string | undefined;
  rest: string[];
  o: {
    file?: string;
    message?: string;
    comment?: string;
    against?: string;
    draft?: boolean;
    'no-wait'?: boolean;
    'ack-timeout-ms'?: string;
    'node-group'?: string;
    type?: string;
  };
  api: (method: string, path: string, body?: unknown) => Promise<unknown>;
  print: (json: unknown, text: () => string[]) => void;
  usage: (message: string) => Error;
  readStdin?: () => string;
}

interface Issue {
  path: string;
  message: string;
}

interface RevisionRef {
  id: string;
  number: number;
  state: string;
  live: boolean;
  message: string;
  graphHash: string;
}

interface FieldChange {
  path: string;
  before?: unknown;
  after?: unknown;
}

function readGraphFile(path: string, ctx: RevisionsCliContext): unknown {
  let text: string;
  try {
    text = path === '-' ? (ctx.readStdin ?? (() => readFileSync(0, 'utf8')))() : readFileSync(path, 'utf8');
  } catch (err) {
    throw ctx.usage(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return text;
}

async function parseGraph(path: string, ctx: RevisionsCliContext): Promise<unknown> {
  const text = readGraphFile(path, ctx) as string;
  const json = path.endsWith('.json');
  try {
    return json ? JSON.parse(text) : (await import('yaml')).parse(text);
  } catch (err) {
    throw ctx.usage(`${path} is not valid ${json ? 'JSON' : 'YAML'}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v));
const short = (v: string | null) => (v === null ? '-' : v.slice(0, 12));

export function formatIssues(issues: Issue[]): string[] {
  return issues.map((i) => `  ${i.path || '(graph)'}: ${i.message}`);
}

export function formatDiff(d: { revision: RevisionRef; against: RevisionRef | null; diff: { changes: { kind: string; name: string; change: string; fields: FieldChange[] }[] } }): string[] {
  const lines = [`revision #${d.revision.number} against ${d.against ? `#${d.against.number}` : 'an empty graph'}`];
  if (d.diff.changes.length === 0) lines.push('  no changes');
  for (const c of d.diff.changes) {
    const sign = c.change === 'added' ? '+' : c.change === 'removed' ? '-' : '~';
    lines.push(`${sign} ${c.kind} ${c.name}`);
    for (const f of c.fields) lines.push(`    ${f.path}: ${show(f.before)} → ${show(f.after)}`);
  }
  return lines;
}

interface PlanJson {
  revision: RevisionRef;
  against: RevisionRef | null;
  plan: {
    changed: boolean;
    nodeGroups: { nodeGroup: string; versionBefore: string | null; versionAfter: string | null; changes: { type: string; name: string; change: string }[] }[];
  };
}

export function formatPlan(p: PlanJson): string[] {
  const lines = [`plan for revision #${p.revision.number} against ${p.against ? `#${p.against.number}` : 'nothing published'}`];
  for (const g of p.plan.nodeGroups) {
    lines.push(`node group ${g.nodeGroup}: ${short(g.versionBefore)} → ${short(g.versionAfter)}${g.changes.length === 0 ? ' (unchanged)' : ''}`);
    for (const c of g.changes) lines.push(`  ${c.change === 'added' ? '+' : c.change === 'removed' ? '-' : '~'} ${c.type} ${c.name}`);
  }
  return lines;
}

interface ProxyJson {
  id: string;
  nodeId: string;
  nodeGroup: string;
  connected: boolean;
  userAgent: string;
  latestVersion: string | null;
  types: { type: string; status: string; sentVersion: string; ackedVersion: string; error: string | null }[];
}

export function formatProxyStatus(proxies: ProxyJson[]): string[] {
  const header = ['NODE', 'GROUP', 'CONNECTED', 'CDS', 'LDS', 'EDS', 'RDS', 'VERSION', 'AGENT'];
  const rows = proxies.map((p) => {
    const st = (t: string) => p.types.find((x) => x.type === t)?.status ?? 'NOT SENT';
    return [p.nodeId, p.nodeGroup, p.connected ? 'yes' : 'no', st('CDS'), st('LDS'), st('EDS'), st('RDS'), short(p.latestVersion), p.userAgent];
  });
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const lines = [fmt(header), ...rows.map(fmt)];
  for (const p of proxies) for (const t of p.types) if (t.status === 'NACKED') lines.push(`${p.nodeId} ${t.type} NACKED: ${t.error ?? ''}`);
  return lines;
}

/** Runs one of the commands above; returns the exit code, or undefined when `cmd` is not one of them. */
export async function runRevisionsCommand(ctx: RevisionsCliContext): Promise<number | undefined> {
  const { cmd, sub, rest, o, api, print } = ctx;
  const needFile = (what: string) => {
    if (!o.file) throw ctx.usage(`${what} needs -f FILE (YAML or JSON route graph)`);
    return o.file;
  };
  const needId = (what: string, id: string | undefined) => {
    if (!id || rest.length > (cmd === 'revisions' ? 1 : 0)) throw ctx.usage(`${what} needs exactly one <id>`);
    return encodeURIComponent(id);
  };
  const applyBody = () => {
    const ms = o['ack-timeout-ms'];
    if (ms !== undefined && !/^\d+$/.test(ms)) throw ctx.usage('--ack-timeout-ms must be a whole number');
    return {
      wait: !o['no-wait'],
      ...(ms !== undefined ? { ackTimeoutMs: Number(ms) } : {}),
      ...(o['node-group'] ? { nodeGroups: [o['node-group']] } : {}),
    };
  };
  const printApplied = (r: { revision: RevisionRef; workflowId: string; result?: unknown }, waited: boolean) =>
    print(r, () => [
      waited ? `revision #${r.revision.number} applied (workflow ${r.workflowId})` : `revision #${r.revision.number}: publish started (workflow ${r.workflowId})`,
      ...(waited && r.result !== undefined ? [JSON.stringify(r.result)] : []),
    ]);

  switch (cmd) {
    case 'revisions': {
      switch (sub) {
        case 'create': {
          const graph = await parseGraph(needFile('revisions create'), ctx);
          const r = (await api('POST', 'api/v1/revisions', { graph, ...(o.message ? { message: o.message } : {}), ...(o.draft ? { state: 'draft' } : {}) })) as { revision: RevisionRef };
          print(r, () => [`revision #${r.revision.number} created (${r.revision.state}), id ${r.revision.id}`]);
          return 0;
        }
        case 'validate': {
          const graph = await parseGraph(needFile('revisions validate'), ctx);
          const v = (await api('POST', 'api/v1/revisions/validate', { graph })) as { valid: boolean; issues: Issue[] };
          print(v, () => (v.valid ? ['valid'] : [`invalid: ${v.issues.length} problem${v.issues.length === 1 ? '' : 's'}`, ...formatIssues(v.issues)]));
          return v.valid ? 0 : 1;
        }
        case 'diff':
        case 'plan': {
          const id = needId(`revisions ${sub}`, rest[0]);
          const q = o.against ? `?${new URLSearchParams({ against: o.against })}` : '';
          const r = await api('GET', `api/v1/revisions/${id}/${sub}${q}`);
          print(r, () => (sub === 'diff' ? formatDiff(r as Parameters<typeof formatDiff>[0]) : formatPlan(r as PlanJson)));
          return 0;
        }
        case 'apply': {
          const id = needId('revisions apply', rest[0]);
          const body = applyBody();
          const r = (await api('POST', `api/v1/revisions/${id}/apply`, body)) as { revision: RevisionRef; workflowId: string; result?: unknown };
          printApplied(r, body.wait);
          return 0;
        }
        case 'approve': {
          const id = needId('revisions approve', rest[0]);
          const r = (await api('POST', `api/v1/revisions/${id}/approve`, o.comment ? { comment: o.comment } : {})) as {
            approval: { approver: { name: string; role: string } };
            created: boolean;
            approvalReasons: { policy: string; message: string }[];
          };
          print(r, () => [
            `revision ${id} ${r.created ? 'approved' : 'was already approved'} by ${r.approval.approver.name} (${r.approval.approver.role})`,
            ...r.approvalReasons.map((x) => `  ${x.policy}: ${x.message}`),
          ]);
          return 0;
        }
        case 'revert': {
          const id = needId('revisions revert', rest[0]);
          const r = (await api('POST', `api/v1/revisions/${id}/revert`, o.message ? { message: o.message } : {})) as { revision: RevisionRef };
          print(r, () => [`revision #${r.revision.number} created: ${r.revision.message} (apply it with: revisions apply ${r.revision.id})`]);
          return 0;
        }
        default:
          throw ctx.usage(`unknown command: revisions ${sub ?? ''}`.trim());
      }
    }
    case 'translate': {
      const r = o.file
        ? await api('POST', 'api/v1/translate', { graph: await parseGraph(o.file, ctx) })
        : await api('GET', `api/v1/revisions/${needId('translate', sub)}/translate`);
      // The xDS JSON is the output, in text mode too.
      print(r, () => [JSON.stringify(r, null, 2)]);
      return 0;
    }
    case 'proxy-status': {
      if (sub) throw ctx.usage('proxy-status takes no arguments');
      const r = (await api('GET', 'api/v1/proxies')) as { proxies: ProxyJson[] };
      print(r, () => (r.proxies.length === 0 ? ['no proxies'] : formatProxyStatus(r.proxies)));
      return r.proxies.some((p) => p.types.some((t) => t.status === 'NACKED')) ? 1 : 0;
    }
    case 'config-dump': {
      if (!sub || rest.length > 0) throw ctx.usage('config-dump needs exactly one <proxy id|node id>');
      const r = (await api('GET', `api/v1/proxies/${encodeURIComponent(sub)}/config-dump`)) as { types: { type: string }[] };
      const wanted = o.type?.toUpperCase();
      const out = wanted ? { ...r, types: r.types.filter((t) => t.type === wanted) } : r;
      print(out, () => [JSON.stringify(out, null, 2)]);
      return 0;
    }
    case 'apply': {
      if (sub) throw ctx.usage('apply takes -f FILE, not positional arguments');
      const graph = await parseGraph(needFile('apply'), ctx);
      // Idempotent: a file equal to the live revision stores nothing (hash of the graph with defaults applied).
      const local = validateRouteGraph(graph);
      if (local.ok) {
        const page = (await api('GET', 'api/v1/revisions?limit=200')) as { revisions: RevisionRef[] };
        const live = page.revisions.find((r) => r.live);
        if (live !== undefined && live.graphHash === contentHash(local.graph)) {
          print({ revision: live, unchanged: true }, () => [`unchanged: ${o.file} equals live revision #${live.number}`]);
          return 0;
        }
      }
      const created = (await api('POST', 'api/v1/revisions', { graph, message: o.message ?? `apply -f ${o.file}` })) as { revision: RevisionRef };
      const d = (await api('GET', `api/v1/revisions/${created.revision.id}/diff`)) as Parameters<typeof formatDiff>[0];
      const body = applyBody();
      const r = (await api('POST', `api/v1/revisions/${created.revision.id}/apply`, body)) as { revision: RevisionRef; workflowId: string; result?: unknown };
      print({ ...r, diff: d.diff }, () => [
        ...formatDiff(d),
        body.wait ? `revision #${r.revision.number} applied (workflow ${r.workflowId})` : `revision #${r.revision.number}: publish started (workflow ${r.workflowId})`,
      ]);
      return 0;
    }
    default:
      return undefined;
  }
}
