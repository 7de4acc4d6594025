/**
 * Route-graph validation: the zod schema (shape, ranges, names; passed in, since core/ does not import zod)
 * plus the semantic rules the schema cannot express. Returns every issue at once, each with a field path
 * like `routes[3].action.clusters[1].weight`. Pure: no I/O. Callers use `validateRouteGraph(input)` from
 * contracts/route-graph.validate.ts.
 *
 * The semantic rules are the ones that would otherwise surface as an Envoy NACK or as silently broken
 * traffic: dangling references, duplicate names, listener port clashes, invalid RE2 regexes, forward
 * actions whose weights sum to 0, non-IP endpoint addresses (EDS does not resolve names), duplicate
 * domains on one listener, malformed header names, inconsistent retry back-off. TLS is refused until
 * certificates exist.
 */
import type { RouteGraph } from '../../contracts/route-graph.schema';
import { isIpAddress, isIpv4, isWildcardAddress } from './ip-address';
import { checkRe2Syntax } from './re2-syntax';

export interface ValidationIssue {
  path: string;
  message: string;
}

export type ValidationResult = { ok: true; graph: RouteGraph } | { ok: false; issues: ValidationIssue[] };

/** `foo[3].bar` from ['foo', 3, 'bar']. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/**
 * The zod schema of a route graph, structurally (core does not import zod or contracts at run time):
 * `RouteGraphSchema` from contracts/route-graph.schema.ts fits.
 */
export interface RouteGraphSchemaLike {
  safeParse(
    input: unknown,
  ):
    | { success: true; data: RouteGraph }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string; code?: string; keys?: readonly string[] }[] } };
}

/**
 * Schema parse, then the semantic rules; every issue at once. The one-argument `validateRouteGraph(input)`
 * in contracts/route-graph.validate.ts binds `schema` to RouteGraphSchema.
 */
export function validateRouteGraphWith(schema: RouteGraphSchemaLike, input: unknown): ValidationResult {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      // An unknown key is reported at its own path (`routes[2].matchh`), not at the object holding it.
      issues: parsed.error.issues.flatMap((i) =>
        i.code === 'unrecognized_keys' && i.keys !== undefined && i.keys.length > 0
          ? i.keys.map((k) => ({ path: formatIssuePath([...i.path, k]), message: `unknown field "${k}"` }))
          : [{ path: formatIssuePath(i.path), message: i.message }],
      ),
    };
  }
  const issues = checkRouteGraphSemantics(parsed.data);
  return issues.length === 0 ? { ok: true, graph: parsed.data } : { ok: false, issues };
}

/** The semantic rules alone, for a graph that already has the schema's shape. */
export function checkRouteGraphSemantics(graph: RouteGraph): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });

  const listeners = indexByName(graph.listeners, 'listeners', 'listener', add);
  const virtualHosts = indexByName(graph.virtualHosts, 'virtualHosts', 'virtual host', add);
  const routes = indexByName(graph.routes, 'routes', 'route', add);
  const clusters = indexByName(graph.clusters, 'clusters', 'cluster', add);
  indexByName(graph.nodeGroups, 'nodeGroups', 'node group', add);

  // Node groups → listeners.
  const groupsOfListener = new Map<string, Set<string>>();
  const apiOnly = new Set<string>();
  graph.nodeGroups.forEach((group, gi) => {
    const seen = new Set<string>();
    group.listeners.forEach((name, li) => {
      const path = `nodeGroups[${gi}].listeners[${li}]`;
      if (seen.has(name)) add(path, `listener "${name}" is listed twice`);
      seen.add(name);
      if (!listeners.has(name)) add(path, `unknown listener "${name}"`);
      else if (group.kind === 'grpc') {
        // API listeners of proxyless gRPC clients bind nothing: no port clash.
        apiOnly.add(name);
      } else {
        const set = groupsOfListener.get(name) ?? new Set<string>();
        set.add(group.name);
        groupsOfListener.set(name, set);
      }
    });
  });

  // Listeners → virtual hosts, addresses, port clashes, domains.
  graph.listeners.forEach((listener, li) => {
    const base = `listeners[${li}]`;
    if (!isIpAddress(listener.address)) add(`${base}.address`, `"${listener.address}" is not an IP address`);
    const seen = new Set<string>();
    /** domain (lowercased) → virtual host that serves it on this listener */
    const domainOwner = new Map<string, string>();
    listener.virtualHosts.forEach((name, vi) => {
      const path = `${base}.virtualHosts[${vi}]`;
      if (seen.has(name)) {
        add(path, `virtual host "${name}" is listed twice`);
        return;
      }
      seen.add(name);
      const vh = virtualHosts.get(name);
      if (vh === undefined) {
        add(path, `unknown virtual host "${name}"`);
        return;
      }
      for (const domain of vh.item.domains) {
        const key = domain.toLowerCase();
        const owner = domainOwner.get(key);
        if (owner !== undefined && owner !== name) {
          add(path, `domain "${domain}" is served by both virtual hosts "${owner}" and "${name}" on this listener`);
        } else {
          domainOwner.set(key, name);
        }
      }
    });
  });
  for (const name of groupsOfListener.keys()) apiOnly.delete(name);
  checkPortClashes(graph, groupsOfListener, apiOnly, add);

  // Virtual hosts → routes, domain syntax.
  graph.virtualHosts.forEach((vh, vi) => {
    const seenDomains = new Set<string>();
    vh.domains.forEach((domain, di) => {
      const path = `virtualHosts[${vi}].domains[${di}]`;
      const problem = checkDomain(domain);
      if (problem !== undefined) add(path, problem);
      if (seenDomains.has(domain.toLowerCase())) add(path, `domain "${domain}" is listed twice`);
      seenDomains.add(domain.toLowerCase());
    });
    vh.routes.forEach((name, ri) => {
      if (!routes.has(name)) add(`virtualHosts[${vi}].routes[${ri}]`, `unknown route "${name}"`);
    });
  });

  // Routes.
  graph.routes.forEach((route, ri) => {
    const base = `routes[${ri}]`;
    const m = route.match;
    const pathKinds = [m.prefix, m.path, m.regex].filter((v) => v !== undefined).length;
    if (pathKinds > 1) add(`${base}.match`, 'set at most one of prefix, path and regex');
    if (m.regex !== undefined) checkRegex(`${base}.match.regex`, m.regex, add);
    m.headers.forEach((h, hi) => {
      const p = `${base}.match.headers[${hi}]`;
      const kinds = [h.exact, h.prefix, h.regex, h.present].filter((v) => v !== undefined).length;
      if (kinds > 1) add(p, 'set at most one of exact, prefix, regex and present');
      if (!isHeaderName(h.name)) add(`${p}.name`, `"${h.name}" is not a valid header name`);
      if (h.regex !== undefined) checkRegex(`${p}.regex`, h.regex, add);
    });
    m.queryParameters.forEach((q, qi) => {
      const p = `${base}.match.queryParameters[${qi}]`;
      const kinds = [q.exact, q.regex, q.present].filter((v) => v !== undefined).length;
      if (kinds > 1) add(p, 'set at most one of exact, regex and present');
      if (q.present === false) add(`${p}.present`, 'present: false is not supported for query parameters');
      if (q.regex !== undefined) checkRegex(`${p}.regex`, q.regex, add);
    });

    const action = route.action;
    if (action.kind === 'forward') {
      action.clusters.forEach((wc, ci) => {
        if (!clusters.has(wc.cluster)) add(`${base}.action.clusters[${ci}].cluster`, `unknown cluster "${wc.cluster}"`);
      });
      if (action.clusters.reduce((sum, wc) => sum + wc.weight, 0) === 0) {
        add(`${base}.action.clusters`, 'weights sum to 0: at least one cluster needs a positive weight');
      }
    } else if (action.kind === 'redirect') {
      if (action.host !== undefined && !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(action.host)) {
        add(`${base}.action.host`, `"${action.host}" is not a host name`);
      }
    } else if (action.kind === 'directResponse') {
      if (action.status < 200) add(`${base}.action.status`, 'a direct response needs a status from 200 to 599');
    }
    if (route.mirror !== undefined && !clusters.has(route.mirror.cluster)) {
      add(`${base}.mirror.cluster`, `unknown cluster "${route.mirror.cluster}"`);
    }
    if (route.mirror !== undefined && action.kind !== 'forward') {
      add(`${base}.mirror`, 'only forwarding routes can mirror traffic');
    }
    if ((route.retry !== undefined || route.timeoutMs !== undefined) && action.kind !== 'forward') {
      add(route.retry !== undefined ? `${base}.retry` : `${base}.timeoutMs`, 'timeouts and retries apply to forwarding routes only');
    }
    if (route.retry !== undefined) {
      const r = route.retry;
      if (r.backoffMaxMs !== undefined && r.backoffBaseMs === undefined) {
        add(`${base}.retry.backoffMaxMs`, 'backoffMaxMs needs backoffBaseMs');
      }
      if (r.backoffMaxMs !== undefined && r.backoffBaseMs !== undefined && r.backoffMaxMs < r.backoffBaseMs) {
        add(`${base}.retry.backoffMaxMs`, 'backoffMaxMs must be at least backoffBaseMs');
      }
      if (r.retryOn.includes('retriable-status-codes') && r.retriableStatusCodes.length === 0) {
        add(`${base}.retry.retriableStatusCodes`, 'retryOn "retriable-status-codes" needs at least one status code');
      }
    }
    for (const side of ['requestHeaders', 'responseHeaders'] as const) {
      const change = route[side];
      if (change === undefined) continue;
      change.add.forEach((h, hi) => {
        if (!isHeaderName(h.name) || h.name.toLowerCase() === 'host') {
          add(`${base}.${side}.add[${hi}].name`, `header "${h.name}" cannot be set here`);
        }
        if (/[\r\n\0]/.test(h.value)) add(`${base}.${side}.add[${hi}].value`, 'header values cannot contain CR, LF or NUL');
      });
      change.remove.forEach((name, hi) => {
        if (!isHeaderName(name) || name.toLowerCase() === 'host') {
          add(`${base}.${side}.remove[${hi}]`, `header "${name}" cannot be removed`);
        }
      });
    }
  });

  // Clusters.
  graph.clusters.forEach((cluster, ci) => {
    const base = `clusters[${ci}]`;
    cluster.endpoints.forEach((ep, ei) => {
      if (!isIpAddress(ep.address)) {
        add(`${base}.endpoints[${ei}].address`, `"${ep.address}" is not an IP address (endpoints are not resolved by DNS)`);
      }
    });
  });

  return issues;
}

type AddIssue = (path: string, message: string) => void;

function indexByName<T extends { name: string }>(
  items: readonly T[],
  field: string,
  kind: string,
  add: AddIssue,
): Map<string, { item: T; index: number }> {
  const byName = new Map<string, { item: T; index: number }>();
  items.forEach((item, index) => {
    const first = byName.get(item.name);
    if (first !== undefined) {
      add(`${field}[${index}].name`, `duplicate ${kind} name "${item.name}" (first used by ${field}[${first.index}])`);
    } else {
      byName.set(item.name, { item, index });
    }
  });
  return byName;
}

/**
 * Two listeners clash when they can land on the same proxy (they share a node group; a listener in no group
 * is compared with all) and bind the same port on overlapping addresses (equal, or one is the wildcard of
 * the same family).
 */
function checkPortClashes(graph: RouteGraph, groupsOfListener: Map<string, Set<string>>, apiOnly: Set<string>, add: AddIssue): void {
  const byPort = new Map<number, number[]>();
  graph.listeners.forEach((l, i) => byPort.set(l.port, [...(byPort.get(l.port) ?? []), i]));
  for (const indexes of byPort.values()) {
    for (let j = 1; j < indexes.length; j++) {
      const b = graph.listeners[indexes[j]!]!;
      for (let k = 0; k < j; k++) {
        const a = graph.listeners[indexes[k]!]!;
        if (a.name === b.name) continue; // reported as a duplicate name
        if (apiOnly.has(a.name) || apiOnly.has(b.name)) continue;
        if (!addressesOverlap(a.address, b.address)) continue;
        const ga = groupsOfListener.get(a.name);
        const gb = groupsOfListener.get(b.name);
        const shareProxy = ga === undefined || gb === undefined || [...ga].some((g) => gb.has(g));
        if (!shareProxy) continue;
        add(
          `listeners[${indexes[j]!}].port`,
          `port clash: listeners "${a.name}" and "${b.name}" both bind ${b.address}:${b.port}` +
            (a.address === b.address ? '' : ` (overlaps ${a.address})`),
        );
        break;
      }
    }
  }
}

function addressesOverlap(a: string, b: string): boolean {
  if (a.toLowerCase() === b.toLowerCase()) return true;
  if (isIpv4(a) !== isIpv4(b)) return false;
  return isWildcardAddress(a) || isWildcardAddress(b);
}

function checkRegex(path: string, pattern: string, add: AddIssue): void {
  const problem = checkRe2Syntax(pattern);
  if (problem !== undefined) add(path, `invalid regex (RE2 syntax): ${problem}`);
}

/** RFC 9110 token, lowercase or not; excludes pseudo-headers (":path"). */
function isHeaderName(name: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name);
}

/** Envoy accepts "*", "*.suffix" / "*suffix", "prefix*" / "prefix.*", or a plain host[:port]. */
function checkDomain(domain: string): string | undefined {
  if (domain === '*') return undefined;
  const stars = domain.split('*').length - 1;
  if (stars > 1 || (stars === 1 && !domain.startsWith('*') && !domain.endsWith('*'))) {
    return `"${domain}": a wildcard is only allowed at the start or the end`;
  }
  if (!/^[A-Za-z0-9.*\-_[\]:]+$/.test(domain)) return `"${domain}" is not a domain`;
  return undefined;
}
