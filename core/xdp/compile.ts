/**
 * XDP rule compiler: an operator's policy (contracts/xdp.schema.ts XdpPolicySpec) → the bundle an agent
 * applies (full desired map entries, counter slots, content-hash version). Pure: no I/O.
 * The input must have the schema's shape (callers parse with XdpPolicySpecSchema first, which reports
 * shape errors with paths); defaults are applied here too, so literal specs in tests work.
 *
 * Guards (each problem is reported with a field path, nothing is thrown):
 *   - every CIDR parses, host bits zero;
 *   - no deny CIDR overlaps a protected (management) CIDR — neither the policy's own nor the ones the
 *     caller adds (e.g. the agents' configured lists); the agent checks the same again, and the XDP program
 *     passes protected sources before any rule (see agents/bpf/proxyshard.h);
 *   - rate-limit selectors (protocol, port) are unique, a port only with tcp/udp;
 *   - rule names are unique; at most MAX_RULES rules (counter slots).
 */
import { canonicalJson } from '../canonical-json';
import { sha256Hex } from '../hash/sha256';
import type { XdpBundle, XdpPolicySpec, XdpPolicySpecInput } from '../../contracts/xdp.schema';
import { cidrsOverlap, formatCidr, parseCidr, type Cidr } from './cidr';

/** Counter slots below this are reserved (proxyshard.h PS_CTR_*). */
export const FIRST_RULE_COUNTER = 16;
export const MAX_COUNTERS = 1024;
export const MAX_RULES = MAX_COUNTERS - FIRST_RULE_COUNTER;
export const RESERVED_COUNTERS: Record<number, string> = { 0: 'seen', 1: 'passed', 2: 'malformed', 3: 'protected', 4: 'non_ip' };

export const IP_PROTOCOLS = { any: 0, icmp: 1, tcp: 6, udp: 17, icmpv6: 58 } as const;

export interface XdpIssue {
  path: string;
  message: string;
}

export type CompileXdpResult = { ok: true; bundle: XdpBundle } | { ok: false; issues: XdpIssue[] };

export interface CompileXdpOptions {
  /** The program object the agents will load (agents/build.ts BuiltProgram.sha256). */
  programSha256: string;
  /** Protected CIDRs from outside the policy (e.g. every connected agent's configured list). */
  extraProtectedCidrs?: string[];
}

/** The version of a bundle: sha256 of the canonical JSON of everything but `version`. */
export function xdpBundleVersion(bundle: Omit<XdpBundle, 'version'>): string {
  const { version: _ignored, ...rest } = bundle as XdpBundle;
  return sha256Hex(canonicalJson(rest));
}

/** Problems with the protected list against deny CIDRs; shared with the agent's own check. */
export function checkProtectedOverlap(
  deny: { cidr: Cidr; path: string }[],
  protectedCidrs: { cidr: Cidr; label: string }[],
): XdpIssue[] {
  const issues: XdpIssue[] = [];
  for (const d of deny) {
    for (const p of protectedCidrs) {
      if (cidrsOverlap(d.cidr, p.cidr)) {
        issues.push({
          path: d.path,
          message: `${formatCidr(d.cidr)} overlaps the protected management CIDR ${formatCidr(p.cidr)} (${p.label}); management addresses can never be denied`,
        });
      }
    }
  }
  return issues;
}

export function compileXdpPolicy(input: XdpPolicySpecInput, opts: CompileXdpOptions): CompileXdpResult {
  const spec: XdpPolicySpec = {
    program: input.program ?? 'guard',
    attachMode: input.attachMode ?? 'generic',
    interfaces: input.interfaces,
    countOnly: input.countOnly ?? false,
    protectedCidrs: input.protectedCidrs ?? [],
    rules: (input.rules ?? []).map((r) => ({ ...r, countOnly: r.countOnly ?? false })),
  };
  const issues: XdpIssue[] = [];
  if (!/^[0-9a-f]{64}$/.test(opts.programSha256)) issues.push({ path: 'program', message: 'program sha256 is not a sha256' });
  if (spec.rules.length > MAX_RULES) issues.push({ path: 'rules', message: `at most ${MAX_RULES} rules` });

  const protectedList: { cidr: Cidr; label: string }[] = [];
  const protectedText = new Set<string>();
  spec.protectedCidrs.forEach((text, i) => {
    const c = parseCidr(text);
    if (typeof c === 'string') issues.push({ path: `protectedCidrs[${i}]`, message: c });
    else {
      protectedList.push({ cidr: c, label: `protectedCidrs[${i}]` });
      protectedText.add(formatCidr(c));
    }
  });
  (opts.extraProtectedCidrs ?? []).forEach((text) => {
    const c = parseCidr(text);
    if (typeof c === 'string') return; // agents validate their own configuration
    protectedList.push({ cidr: c, label: 'an agent-configured management CIDR' });
    protectedText.add(formatCidr(c));
  });

  const names = new Map<string, number>();
  const deny: XdpBundle['deny'] = [];
  const denySeen = new Map<string, string>();
  const denyForGuard: { cidr: Cidr; path: string }[] = [];
  const rateLimits: XdpBundle['rateLimits'] = [];
  const selectors = new Map<string, string>();
  const counters: XdpBundle['counters'] = [];

  spec.rules.forEach((rule, i) => {
    const path = `rules[${i}]`;
    const prev = names.get(rule.name);
    if (prev !== undefined) issues.push({ path: `${path}.name`, message: `duplicate rule name (also rules[${prev}])` });
    names.set(rule.name, i);
    const counter = FIRST_RULE_COUNTER + i;
    counters.push({ slot: counter, rule: rule.name });
    const countOnly = spec.countOnly || rule.countOnly;
    if (rule.kind === 'deny') {
      rule.cidrs.forEach((text, j) => {
        const c = parseCidr(text);
        const cpath = `${path}.cidrs[${j}]`;
        if (typeof c === 'string') {
          issues.push({ path: cpath, message: c });
          return;
        }
        const norm = formatCidr(c);
        const dup = denySeen.get(norm);
        if (dup !== undefined) {
          issues.push({ path: cpath, message: `${norm} is already denied by ${dup}` });
          return;
        }
        denySeen.set(norm, cpath);
        denyForGuard.push({ cidr: c, path: cpath });
        deny.push({ cidr: norm, counter, countOnly });
      });
    } else {
      const protocol = typeof rule.protocol === 'number' ? rule.protocol : IP_PROTOCOLS[rule.protocol];
      if (rule.port !== undefined && protocol !== 6 && protocol !== 17) {
        issues.push({ path: `${path}.port`, message: 'a port needs protocol tcp or udp' });
      }
      const port = rule.port ?? 0;
      const key = `${protocol}/${port}`;
      const dup = selectors.get(key);
      if (dup !== undefined) issues.push({ path, message: `same protocol and port as ${dup}` });
      selectors.set(key, path);
      rateLimits.push({ protocol, port, ratePps: rule.ratePps, burst: rule.burst, counter, countOnly });
    }
  });

  issues.push(...checkProtectedOverlap(denyForGuard, protectedList));
  if (issues.length) return { ok: false, issues };

  const byText = (a: { cidr: string }, b: { cidr: string }) => (a.cidr < b.cidr ? -1 : a.cidr > b.cidr ? 1 : 0);
  const body: Omit<XdpBundle, 'version'> = {
    program: { name: spec.program, sha256: opts.programSha256 },
    attachMode: spec.attachMode,
    interfaces: [...new Set(spec.interfaces)].sort(),
    countOnly: spec.countOnly,
    protectedCidrs: [...protectedText].sort(),
    deny: deny.sort(byText),
    rateLimits: rateLimits.sort((a, b) => a.protocol - b.protocol || a.port - b.port),
    counters,
  };
  return { ok: true, bundle: { version: xdpBundleVersion(body), ...body } };
}
