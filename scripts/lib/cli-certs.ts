/**
 * CLI commands for certificates and CAs (wired into scripts/cli.ts); everything goes through the REST API.
 *
 *   certs list [--expiring-within H] [--status S] [--name N]   table (soonest expiry first with --expiring-within)
 *   certs show <id>                                             details, users, certificate + chain PEM
 *   certs issue <name> --cn CN [--dns a,b] [--ip 127.0.0.1] [--uri spiffe://…] [--usage server|client] [--validity-hours H] [--renew-before-hours H] [--ca ID]
 *   certs import <name> --cert F --key F --chain F [--usage server|client]
 *   certs revoke <id> [--reason R]
 *   certs rotate <id> [--grace-seconds N]                      starts certRotationWorkflow
 *   certs schedule <id> [--every 720h] [--grace-seconds N] [--pause|--resume]
 *   cas list | show <id> | crl <id> | import --cert F --key F | intermediate [--root-key F] [--new-root]
 *   cas export-key <root id> [--remove] | retire <id> | rewrap-keys
 *   cas rotate <id> [--new-root] [--grace-seconds N]            starts caRotationWorkflow
 */
import { readFileSync } from 'node:fs';

export const CERTS_USAGE = `  certs list [--expiring-within HOURS] [--status S] [--name N]
  certs show <id>
  certs issue <name> --cn CN [--dns A,B] [--ip IP,IP] [--uri URI] [--usage server|client] [--validity-hours H] [--renew-before-hours H] [--ca ID]
  certs import <name> --cert FILE --key FILE --chain FILE [--usage server|client]
  certs revoke <id> [--reason R] | rotate <id> [--grace-seconds N] | schedule <id> [--every 720h] [--grace-seconds N] [--pause|--resume]
  cas list | show <id> | crl <id> | import --cert FILE --key FILE | intermediate [--root-key FILE] [--new-root]
  cas export-key <root id> [--remove] | retire <id> | rewrap-keys | rotate <id> [--new-root] [--grace-seconds N]`;

/** Options of these commands (merged into the CLI's parseArgs table). */
export const CERTS_OPTIONS = {
  'expiring-within': { type: 'string' },
  status: { type: 'string' },
  name: { type: 'string' },
  cn: { type: 'string' },
  dns: { type: 'string' },
  ip: { type: 'string' },
  uri: { type: 'string' },
  usage: { type: 'string' },
  'validity-hours': { type: 'string' },
  'renew-before-hours': { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  chain: { type: 'string' },
  reason: { type: 'string' },
  'grace-seconds': { type: 'string' },
  every: { type: 'string' },
  pause: { type: 'boolean' },
  resume: { type: 'boolean' },
  'root-key': { type: 'string' },
  'new-root': { type: 'boolean' },
  remove: { type: 'boolean' },
} as const;

type Opts = Partial<Record<keyof typeof CERTS_OPTIONS, string | boolean>>;

export interface CertsCliContext {
  cmd: 'certs' | 'cas';
  sub: string | undefined;
  rest: string[];
  o: Opts;
  print: (json: unknown, text: () => string[]) => void;
  api: (method: string, path: string, body?: unknown) => Promise<unknown>;
  /** The raw text of a GET (the CRL is PEM, not JSON). */
  apiText: (path: string) => Promise<string>;
  usage: (message: string) => Error;
  out: (line: string) => void;
  /** Aligned table rows (the CLI's own formatter). */
  pad: (rows: string[][]) => string[];
}

interface CertJson {
  id: string;
  name: string;
  status: string;
  usage: string;
  serial: string;
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
  notAfter: string;
  secondsUntilExpiry: number;
  usedBy: { listeners: string[]; clusters: string[] };
  certPem?: string;
  chainPem?: string;
}

interface CaJson {
  id: string;
  kind: string;
  source: string;
  status: string;
  subject: string;
  notAfter: string;
  keyOnline: boolean;
  crlNumber: number;
  crlPath: string;
}

const list = (v: string | boolean | undefined) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);
const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

function num(ctx: CertsCliContext, name: string, v: string | boolean | undefined): number | undefined {
  if (typeof v !== 'string') return undefined;
  if (!/^\d+(\.\d+)?$/.test(v)) throw ctx.usage(`--${name} must be a number`);
  return Number(v);
}

function file(ctx: CertsCliContext, name: string, v: string | boolean | undefined): string {
  if (typeof v !== 'string') throw ctx.usage(`--${name} FILE is required`);
  return readFileSync(v === '-' ? 0 : v, 'utf8');
}

function days(seconds: number): string {
  return seconds < 0 ? 'expired' : seconds < 86400 ? `${Math.floor(seconds / 3600)}h` : `${Math.floor(seconds / 86400)}d`;
}

const certRows = (pad: CertsCliContext['pad'], certs: CertJson[]) =>
  pad([
    ['ID', 'NAME', 'STATUS', 'USAGE', 'SERIAL', 'NOT AFTER', 'EXPIRES IN', 'USED BY'],
    ...certs.map((c) => [c.id, c.name, c.status, c.usage, c.serial, c.notAfter, days(c.secondsUntilExpiry), [...c.usedBy.listeners.map((l) => `listener/${l}`), ...c.usedBy.clusters.map((x) => `cluster/${x}`)].join(',') || '-']),
  ]);

const caRows = (pad: CertsCliContext['pad'], cas: CaJson[]) =>
  pad([['ID', 'KIND', 'SOURCE', 'STATUS', 'KEY', 'NOT AFTER', 'CRL#', 'SUBJECT'], ...cas.map((c) => [c.id, c.kind, c.source, c.status, c.keyOnline ? 'online' : 'offline', c.notAfter, String(c.crlNumber), c.subject])]);

/** Runs a `certs …` / `cas …` command; undefined when the sub-command is unknown. */
export async function runCertsCommand(ctx: CertsCliContext): Promise<number | undefined> {
  const { o, rest, print, api } = ctx;
  const id = () => {
    if (!rest[0] || rest.length > 1) throw ctx.usage(`${ctx.cmd} ${ctx.sub} needs exactly one <id>`);
    return encodeURIComponent(rest[0]);
  };
  if (ctx.cmd === 'certs') {
    switch (ctx.sub) {
      case 'list': {
        const q = new URLSearchParams();
        if (typeof o['expiring-within'] === 'string') q.set('expiringWithinHours', o['expiring-within']);
        if (typeof o.status === 'string') q.set('status', o.status);
        if (typeof o.name === 'string') q.set('name', o.name);
        const r = (await api('GET', `api/v1/certificates${q.size ? `?${q}` : ''}`)) as { certificates: CertJson[] };
        print(r, () => certRows(ctx.pad, r.certificates));
        return 0;
      }
      case 'show': {
        const r = (await api('GET', `api/v1/certificates/${id()}`)) as { certificate: CertJson };
        const c = r.certificate;
        print(r, () => [
          ...certRows(ctx.pad, [c]),
          `subject CN: ${c.commonName}`,
          `SANs: ${[...c.dnsNames.map((d) => `DNS:${d}`), ...c.ipAddresses.map((i) => `IP:${i}`), ...c.uris.map((u) => `URI:${u}`)].join(', ') || '-'}`,
          (c.certPem ?? '') + (c.chainPem ?? ''),
        ]);
        return 0;
      }
      case 'issue': {
        const name = rest[0];
        if (!name || rest.length > 1 || typeof o.cn !== 'string') throw ctx.usage('certs issue needs <name> and --cn');
        const body = {
          name,
          commonName: o.cn,
          dnsNames: list(o.dns),
          ipAddresses: list(o.ip),
          uris: list(o.uri),
          usage: str(o.usage) ?? 'server',
          ...(o['validity-hours'] !== undefined ? { validityHours: num(ctx, 'validity-hours', o['validity-hours']) } : {}),
          ...(o['renew-before-hours'] !== undefined ? { renewBeforeHours: num(ctx, 'renew-before-hours', o['renew-before-hours']) } : {}),
          ...(typeof o.ca === 'string' ? { caId: o.ca } : {}),
        };
        const r = (await api('POST', 'api/v1/certificates', body)) as { certificate: CertJson };
        print(r, () => [`issued ${r.certificate.name} serial ${r.certificate.serial} (id ${r.certificate.id}), expires ${r.certificate.notAfter}`]);
        return 0;
      }
      case 'import': {
        const name = rest[0];
        if (!name || rest.length > 1) throw ctx.usage('certs import needs <name>');
        const body = { name, usage: str(o.usage) ?? 'server', certPem: file(ctx, 'cert', o.cert), keyPem: file(ctx, 'key', o.key), chainPem: file(ctx, 'chain', o.chain) };
        const r = (await api('POST', 'api/v1/certificates/import', body)) as { certificate: CertJson };
        print(r, () => [`imported ${r.certificate.name} serial ${r.certificate.serial} (id ${r.certificate.id})`]);
        return 0;
      }
      case 'revoke': {
        const r = (await api('POST', `api/v1/certificates/${id()}/revoke`, { reason: str(o.reason) ?? 'unspecified' })) as { certificate: CertJson };
        print(r, () => [`revoked ${r.certificate.name} serial ${r.certificate.serial}`]);
        return 0;
      }
      case 'rotate': {
        const grace = num(ctx, 'grace-seconds', o['grace-seconds']);
        const r = (await api('POST', `api/v1/certificates/${id()}/rotate`, grace !== undefined ? { graceSeconds: grace } : {})) as { rotation: { workflowId: string; alreadyRunning: boolean } };
        print(r, () => [`${r.rotation.alreadyRunning ? 'already rotating' : 'rotation started'}: ${r.rotation.workflowId}`]);
        return 0;
      }
      case 'schedule': {
        if (o.pause && o.resume) throw ctx.usage('--pause and --resume exclude each other');
        const grace = num(ctx, 'grace-seconds', o['grace-seconds']);
        const body = { ...(typeof o.every === 'string' ? { every: o.every } : {}), ...(grace !== undefined ? { graceSeconds: grace } : {}), ...(o.pause ? { paused: true } : o.resume ? { paused: false } : {}) };
        const r = (await api('POST', `api/v1/certificates/${id()}/schedule`, body)) as { schedule: { scheduleId: string; every: string } };
        print(r, () => [`schedule ${r.schedule.scheduleId}: every ${r.schedule.every}`]);
        return 0;
      }
      default:
        return undefined;
    }
  }
  switch (ctx.sub) {
    case 'list': {
      const r = (await api('GET', 'api/v1/cas')) as { cas: CaJson[] };
      print(r, () => caRows(ctx.pad, r.cas));
      return 0;
    }
    case 'show': {
      const r = (await api('GET', `api/v1/cas/${id()}`)) as { ca: CaJson & { certPem: string } };
      print(r, () => [...caRows(ctx.pad, [r.ca]), `CRL: ${r.ca.crlPath}`, r.ca.certPem]);
      return 0;
    }
    case 'crl': {
      ctx.out((await ctx.apiText(`api/v1/cas/${id()}/crl`)).trimEnd());
      return 0;
    }
    case 'import': {
      const r = (await api('POST', 'api/v1/cas/import', { certPem: file(ctx, 'cert', o.cert), keyPem: file(ctx, 'key', o.key) })) as { ca: CaJson };
      print(r, () => [`imported CA ${r.ca.subject} (id ${r.ca.id})`]);
      return 0;
    }
    case 'intermediate': {
      const body = { ...(typeof o['root-key'] === 'string' ? { rootKeyPem: file(ctx, 'root-key', o['root-key']) } : {}), ...(o['new-root'] ? { newRoot: true } : {}) };
      const r = (await api('POST', 'api/v1/cas/intermediate', body)) as { intermediate: CaJson; retiring: CaJson[] };
      print(r, () => [`new intermediate ${r.intermediate.id}; retiring: ${r.retiring.map((c) => c.id).join(', ') || '-'}`]);
      return 0;
    }
    case 'export-key': {
      const r = (await api('POST', `api/v1/cas/${id()}/export-key`, { remove: o.remove === true })) as { keyPem: string; removed: boolean };
      print(r, () => [r.keyPem.trimEnd(), ...(r.removed ? ['(the root key was removed from the server: keep this copy safe)'] : [])]);
      return 0;
    }
    case 'retire': {
      const r = (await api('POST', `api/v1/cas/${id()}/retire`)) as { ca: CaJson };
      print(r, () => [`retired ${r.ca.id}`]);
      return 0;
    }
    case 'rotate': {
      const grace = num(ctx, 'grace-seconds', o['grace-seconds']);
      const body = { ...(o['new-root'] ? { newRoot: true } : {}), ...(grace !== undefined ? { graceSeconds: grace } : {}) };
      const r = (await api('POST', `api/v1/cas/${id()}/rotate`, body)) as { rotation: { workflowId: string; alreadyRunning: boolean } };
      print(r, () => [`${r.rotation.alreadyRunning ? 'already rotating' : 'CA rotation started'}: ${r.rotation.workflowId}`]);
      return 0;
    }
    case 'rewrap-keys': {
      const r = (await api('POST', 'api/v1/cas/rewrap-keys')) as { rewrapped: number; currentKid: string; keysByKid: Record<string, number> };
      print(r, () => [`rewrapped ${r.rewrapped} keys under ${r.currentKid}; keys by key id: ${JSON.stringify(r.keysByKid)}`]);
      return 0;
    }
    default:
      return undefined;
  }
}
