import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cidrsOverlap, formatCidr, parseCidr, type Cidr } from './cidr';
import type { XdpPolicySpecInput } from '../../contracts/xdp.schema';
import { compileXdpPolicy, FIRST_RULE_COUNTER } from './compile';

const SHA = 'a'.repeat(64);
const cidr = (t: string) => parseCidr(t) as Cidr;

describe('parseCidr', () => {
  it('parses and normalises IPv4 and IPv6, bare addresses are host routes', () => {
    assert.equal(formatCidr(cidr('198.18.0.0/15')), '198.18.0.0/15');
    assert.equal(formatCidr(cidr('2001:DB8:0:0::/32')), '2001:db8::/32');
    assert.equal(formatCidr(cidr('198.18.1.1')), '198.18.1.1/32');
    assert.equal(formatCidr(cidr('::ffff:198.18.0.1')), '::ffff:c612:1/128');
  });
  it('refuses host bits, bad lengths and non-addresses with a message', () => {
    assert.match(parseCidr('198.18.0.1/16') as string, /host bits.*198\.18\.0\.0\/16/);
    assert.match(parseCidr('198.18.0.0/33') as string, /prefix length/);
    assert.match(parseCidr('nope/8') as string, /not an IPv4 or IPv6/);
  });
  it('overlap is containment in either direction, never across families', () => {
    assert.ok(cidrsOverlap(cidr('10.0.0.0/8'), cidr('10.1.0.0/16')));
    assert.ok(cidrsOverlap(cidr('10.1.0.0/16'), cidr('10.0.0.0/8')));
    assert.ok(!cidrsOverlap(cidr('10.0.0.0/8'), cidr('11.0.0.0/8')));
    assert.ok(!cidrsOverlap(cidr('0.0.0.0/0'), cidr('::/0')));
  });
});

describe('compileXdpPolicy', () => {
  const spec: XdpPolicySpecInput = {
    interfaces: ['eth1', 'eth0', 'eth0'],
    protectedCidrs: ['10.0.0.0/8'],
    rules: [
      { kind: 'deny', name: 'bad-v4', cidrs: ['198.19.0.0/24', '198.19.1.0/24'] },
      { kind: 'deny', name: 'bad-v6', cidrs: ['2001:db8:ff::/48'], countOnly: true },
      { kind: 'rateLimit', name: 'dns', protocol: 'udp', port: 53, ratePps: 100, burst: 10 },
      { kind: 'rateLimit', name: 'icmp', protocol: 'icmp', ratePps: 5, burst: 5 },
    ],
  };

  it('compiles rules to map entries with one counter slot per rule and a content-hash version', () => {
    const r = compileXdpPolicy(spec, { programSha256: SHA });
    assert.ok(r.ok);
    const b = r.bundle;
    assert.deepEqual(b.interfaces, ['eth0', 'eth1']);
    assert.deepEqual(b.deny, [
      { cidr: '198.19.0.0/24', counter: FIRST_RULE_COUNTER, countOnly: false },
      { cidr: '198.19.1.0/24', counter: FIRST_RULE_COUNTER, countOnly: false },
      { cidr: '2001:db8:ff::/48', counter: FIRST_RULE_COUNTER + 1, countOnly: true },
    ]);
    assert.deepEqual(b.rateLimits, [
      { protocol: 1, port: 0, ratePps: 5, burst: 5, counter: FIRST_RULE_COUNTER + 3, countOnly: false },
      { protocol: 17, port: 53, ratePps: 100, burst: 10, counter: FIRST_RULE_COUNTER + 2, countOnly: false },
    ]);
    assert.equal(b.program.sha256, SHA);
    assert.match(b.version, /^[0-9a-f]{64}$/);
  });

  it('the version depends on content only (same content → same version; any change → new version)', () => {
    const a = compileXdpPolicy(spec, { programSha256: SHA });
    const b = compileXdpPolicy(JSON.parse(JSON.stringify(spec)), { programSha256: SHA });
    const c = compileXdpPolicy({ ...spec, countOnly: true }, { programSha256: SHA });
    const d = compileXdpPolicy(spec, { programSha256: 'b'.repeat(64) });
    assert.ok(a.ok && b.ok && c.ok && d.ok);
    assert.equal(a.bundle.version, b.bundle.version);
    assert.notEqual(a.bundle.version, c.bundle.version);
    assert.notEqual(a.bundle.version, d.bundle.version);
  });

  it('refuses a deny CIDR overlapping a protected management CIDR (policy or agent list), with field paths', () => {
    const own = compileXdpPolicy({ interfaces: ['eth0'], protectedCidrs: ['10.0.0.0/8'], rules: [{ kind: 'deny', name: 'x', cidrs: ['0.0.0.0/0'] }] }, { programSha256: SHA });
    assert.ok(!own.ok);
    assert.equal(own.issues[0]?.path, 'rules[0].cidrs[0]');
    assert.match(own.issues[0]!.message, /protected management CIDR 10\.0\.0\.0\/8/);
    const agents = compileXdpPolicy({ interfaces: ['eth0'], rules: [{ kind: 'deny', name: 'x', cidrs: ['192.0.2.0/25'] }] }, { programSha256: SHA, extraProtectedCidrs: ['192.0.2.0/24'] });
    assert.ok(!agents.ok);
    assert.equal(agents.issues[0]?.path, 'rules[0].cidrs[0]');
  });

  it('reports every problem with its path', () => {
    const r2 = compileXdpPolicy(
      {
        interfaces: ['eth0'],
        rules: [
          { kind: 'deny', name: 'a', cidrs: ['198.19.0.1/24', 'xyz'] },
          { kind: 'deny', name: 'a', cidrs: ['198.19.2.0/24', '198.19.2.0/24'] },
          { kind: 'rateLimit', name: 'p', protocol: 'icmp', port: 80, ratePps: 1, burst: 1 },
          { kind: 'rateLimit', name: 'q', protocol: 'tcp', port: 80, ratePps: 1, burst: 1 },
          { kind: 'rateLimit', name: 'r', protocol: 'tcp', port: 80, ratePps: 1, burst: 1 },
        ],
      },
      { programSha256: SHA },
    );
    assert.ok(!r2.ok);
    const paths = r2.issues.map((i) => i.path);
    assert.deepEqual(paths, ['rules[0].cidrs[0]', 'rules[0].cidrs[1]', 'rules[1].name', 'rules[1].cidrs[1]', 'rules[2].port', 'rules[4]']);
  });
});
