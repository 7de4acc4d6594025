import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteGraphInput } from '../../contracts/route-graph.schema';
import { demoRouteGraph } from '../demo-graph';
import { validateRouteGraph } from '../../contracts/route-graph.validate';
import type { ValidationIssue } from './validate';

/** A small valid graph to break in one place per test. */
function baseGraph(): RouteGraphInput {
  return {
    listeners: [{ name: 'web', port: 8080, virtualHosts: ['site'] }],
    virtualHosts: [{ name: 'site', domains: ['example.com'], routes: ['root'] }],
    routes: [{ name: 'root', match: { prefix: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'app', weight: 1 }] } }],
    clusters: [{ name: 'app', endpoints: [{ address: '127.0.0.1', port: 9000 }] }],
    nodeGroups: [{ name: 'default', listeners: ['web'] }],
  };
}

function issuesOf(input: unknown): ValidationIssue[] {
  const result = validateRouteGraph(input);
  assert.equal(result.ok, false, 'expected the graph to be rejected');
  return result.ok ? [] : result.issues;
}

function assertIssue(issues: ValidationIssue[], path: string, message: RegExp): void {
  const hit = issues.find((i) => i.path === path && message.test(i.message));
  assert.ok(hit, `no issue at ${path} matching ${message}; got ${JSON.stringify(issues, null, 1)}`);
}

describe('validateRouteGraph', () => {
  it('accepts the demo graph and the base graph, filling defaults', () => {
    const demo = validateRouteGraph(demoRouteGraph({ listenerPort: 10000, upstreamPorts: [18081, 18082] }));
    assert.equal(demo.ok, true);
    const base = validateRouteGraph(baseGraph());
    assert.ok(base.ok);
    assert.equal(base.graph.listeners[0]!.address, '0.0.0.0');
    assert.equal(base.graph.clusters[0]!.connectTimeoutMs, 1000);
  });

  it('reports schema problems with bracketed field paths', () => {
    const g = baseGraph();
    g.routes![0]!.action = { kind: 'forward', clusters: [{ cluster: 'app', weight: 1 }, { cluster: 'app', weight: -1 }] };
    g.clusters![0]!.endpoints[0]!.port = 70000;
    const issues = issuesOf(g);
    assertIssue(issues, 'routes[0].action.clusters[1].weight', /.+/);
    assertIssue(issues, 'clusters[0].endpoints[0].port', /.+/);
  });

  it('reports every dangling reference at once', () => {
    const g = baseGraph();
    g.listeners![0]!.virtualHosts = ['site', 'ghost-vh'];
    g.virtualHosts![0]!.routes = ['root', 'ghost-route'];
    g.routes![0]!.action = { kind: 'forward', clusters: [{ cluster: 'app', weight: 1 }, { cluster: 'ghost-cluster', weight: 1 }] };
    g.routes![0]!.mirror = { cluster: 'ghost-mirror', percent: 10 };
    g.nodeGroups![0]!.listeners = ['web', 'ghost-listener'];
    const issues = issuesOf(g);
    assertIssue(issues, 'listeners[0].virtualHosts[1]', /unknown virtual host "ghost-vh"/);
    assertIssue(issues, 'virtualHosts[0].routes[1]', /unknown route "ghost-route"/);
    assertIssue(issues, 'routes[0].action.clusters[1].cluster', /unknown cluster "ghost-cluster"/);
    assertIssue(issues, 'routes[0].mirror.cluster', /unknown cluster "ghost-mirror"/);
    assertIssue(issues, 'nodeGroups[0].listeners[1]', /unknown listener "ghost-listener"/);
    assert.equal(issues.length, 5, JSON.stringify(issues));
  });

  it('reports duplicate names of every kind', () => {
    const g = baseGraph();
    g.listeners!.push({ name: 'web', port: 8081, virtualHosts: ['site'] });
    g.virtualHosts!.push({ name: 'site', domains: ['other.example'], routes: [] });
    g.routes!.push({ name: 'root', match: {}, action: { kind: 'directResponse', status: 204 } });
    g.clusters!.push({ name: 'app', endpoints: [] });
    g.nodeGroups!.push({ name: 'default', listeners: [] });
    const issues = issuesOf(g);
    assertIssue(issues, 'listeners[1].name', /duplicate listener name "web" \(first used by listeners\[0\]\)/);
    assertIssue(issues, 'virtualHosts[1].name', /duplicate virtual host name/);
    assertIssue(issues, 'routes[1].name', /duplicate route name/);
    assertIssue(issues, 'clusters[1].name', /duplicate cluster name/);
    assertIssue(issues, 'nodeGroups[1].name', /duplicate node group name/);
  });

  it('reports port clashes between listeners that can share a proxy', () => {
    const g = baseGraph();
    g.listeners!.push(
      { name: 'same', address: '0.0.0.0', port: 8080, virtualHosts: ['site'] },
      { name: 'loopback', address: '127.0.0.1', port: 8080, virtualHosts: ['site'] },
      { name: 'ipv6', address: '::', port: 8080, virtualHosts: ['site'] },
      { name: 'elsewhere', port: 9090, virtualHosts: ['site'] },
      { name: 'other-group', port: 9090, virtualHosts: ['site'] },
    );
    g.nodeGroups = [
      { name: 'default', listeners: ['web', 'same', 'loopback', 'ipv6', 'elsewhere'] },
      { name: 'edge', listeners: ['other-group'] },
    ];
    const issues = issuesOf(g);
    assertIssue(issues, 'listeners[1].port', /port clash: listeners "web" and "same" both bind 0.0.0.0:8080/);
    assertIssue(issues, 'listeners[2].port', /port clash: .* 127.0.0.1:8080 \(overlaps 0.0.0.0\)/);
    assert.equal(issues.length, 2, `IPv6 wildcard and separate node groups do not clash: ${JSON.stringify(issues)}`);
  });

  it('rejects regexes RE2 cannot compile, wherever they are', () => {
    const g = baseGraph();
    g.routes![0]!.match = {
      regex: '^/(?=admin)',
      headers: [{ name: 'x-id', regex: '(\\d+)\\1' }],
      queryParameters: [{ name: 'q', regex: 'a**' }],
    };
    const issues = issuesOf(g);
    assertIssue(issues, 'routes[0].match.regex', /invalid regex \(RE2 syntax\): invalid or unsupported Perl syntax/);
    assertIssue(issues, 'routes[0].match.headers[0].regex', /invalid escape sequence: \\1/);
    assertIssue(issues, 'routes[0].match.queryParameters[0].regex', /bad repetition operator: \*\*/);
  });

  it('accepts RE2-only syntax that JavaScript would reject', () => {
    const g = baseGraph();
    g.routes![0]!.match = { regex: '(?i)^/API/\\pL+\\z' };
    assert.equal(validateRouteGraph(g).ok, true);
  });

  it('rejects forward actions whose weights sum to 0', () => {
    const g = baseGraph();
    g.clusters!.push({ name: 'canary', endpoints: [] });
    g.routes![0]!.action = { kind: 'forward', clusters: [{ cluster: 'app', weight: 0 }, { cluster: 'canary', weight: 0 }] };
    assertIssue(issuesOf(g), 'routes[0].action.clusters', /weights sum to 0/);
    g.routes![0]!.action = { kind: 'forward', clusters: [{ cluster: 'app', weight: 1 }, { cluster: 'canary', weight: 0 }] };
    assert.equal(validateRouteGraph(g).ok, true, 'a 0-weight canary next to a weighted cluster is fine');
  });

  it('accepts TLS references (whether the certificates exist is checked against the tenant when compiling)', () => {
    const g = baseGraph();
    g.listeners![0]!.tls = { certificate: 'web-cert', requireClientCertificate: true };
    g.clusters![0]!.upstreamTls = { sni: 'app.internal', certificate: 'client-cert' };
    assert.equal(validateRouteGraph(g).ok, true);
    g.clusters![0]!.upstreamTls = { trust: 'system' as 'none' };
    assertIssue(issuesOf(g), 'clusters[0].upstreamTls.trust', /./);
  });

  it('rejects what Envoy would NACK: host names as endpoints, duplicate domains, bad header names, 1xx direct responses', () => {
    const g = baseGraph();
    g.clusters![0]!.endpoints.push({ address: 'app.internal', port: 9000 });
    g.listeners![0]!.address = 'localhost';
    g.virtualHosts!.push({ name: 'dup', domains: ['EXAMPLE.com'], routes: [] });
    g.listeners![0]!.virtualHosts = ['site', 'dup'];
    g.virtualHosts![0]!.domains = ['example.com', 'a*b.example'];
    g.routes![0]!.requestHeaders = { add: [{ name: ':path', value: '/x' }], remove: ['host'] };
    g.routes!.push({ name: 'early', match: { path: '/early' }, action: { kind: 'directResponse', status: 103 } });
    const issues = issuesOf(g);
    assertIssue(issues, 'clusters[0].endpoints[1].address', /not an IP address/);
    assertIssue(issues, 'listeners[0].address', /not an IP address/);
    assertIssue(issues, 'listeners[0].virtualHosts[1]', /domain "EXAMPLE.com" is served by both virtual hosts "site" and "dup"/);
    assertIssue(issues, 'virtualHosts[0].domains[1]', /wildcard is only allowed at the start or the end/);
    assertIssue(issues, 'routes[0].requestHeaders.add[0].name', /cannot be set/);
    assertIssue(issues, 'routes[0].requestHeaders.remove[0]', /cannot be removed/);
    assertIssue(issues, 'routes[1].action.status', /200 to 599/);
  });

  it('checks match and retry consistency', () => {
    const g = baseGraph();
    g.routes![0]!.match = { prefix: '/', path: '/x', headers: [{ name: 'x', exact: 'a', prefix: 'b' }] };
    g.routes![0]!.retry = { retryOn: ['retriable-status-codes'], backoffBaseMs: 100, backoffMaxMs: 50 };
    g.routes!.push({ name: 'r2', match: {}, action: { kind: 'redirect', path: '/y' }, timeoutMs: 100 });
    const issues = issuesOf(g);
    assertIssue(issues, 'routes[0].match', /at most one of prefix, path and regex/);
    assertIssue(issues, 'routes[0].match.headers[0]', /at most one of exact, prefix, regex and present/);
    assertIssue(issues, 'routes[0].retry.backoffMaxMs', /at least backoffBaseMs/);
    assertIssue(issues, 'routes[0].retry.retriableStatusCodes', /needs at least one status code/);
    assertIssue(issues, 'routes[1].timeoutMs', /forwarding routes only/);
  });

  it('does not throw on garbage', () => {
    for (const input of [null, 42, 'graph', [], { listeners: 'x' }]) {
      const result = validateRouteGraph(input);
      assert.equal(result.ok, false);
      if (!result.ok) assert.ok(result.issues.length > 0);
    }
  });
});
