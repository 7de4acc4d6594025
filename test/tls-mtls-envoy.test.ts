/**
 * mTLS with certificates from the tenant's CA (issue 8), through a real Envoy fed over SDS:
 *   - Envoy → upstream: a node HTTPS server that requires client certificates from the CA accepts Envoy's
 *     (cluster upstreamTls.certificate), and refuses a cluster that presents none;
 *   - client → Envoy: a listener with requireClientCertificate accepts clients with a CA certificate and,
 *     once one is revoked and the new CRL is published (validation-context Secret), refuses it on new
 *     connections while the others keep working.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import { RouteGraphSchema, type RouteGraph } from '../contracts/route-graph.schema';
import { freePort } from '../scripts/lib/ports';
import { getCertificateMaterial, revokeCertificate, trustBundle } from '../server/services/certificate.service';
import { refreshLiveSnapshots } from '../server/services/publish.service';
import { httpsGet, startTlsHarness, SYSTEM, type TlsHarness } from './support/tls-harness';

let h: TlsHarness;
let upstream: Server;
let port: number;
let ca: string;
const clients: Record<string, { cert: string; key: string; id: string }> = {};

function graph(listenerPort: number, upstreamPort: number): RouteGraph {
  return RouteGraphSchema.parse({
    listeners: [{ name: 'front', address: '127.0.0.1', port: listenerPort, tls: { certificate: 'front', requireClientCertificate: true }, virtualHosts: ['site'] }],
    virtualHosts: [{ name: 'site', domains: ['*'], routes: ['no-client-cert', 'all'] }],
    routes: [
      { name: 'no-client-cert', match: { prefix: '/no-client-cert' }, action: { kind: 'forward', clusters: [{ cluster: 'anonymous', weight: 1 }] } },
      { name: 'all', match: { prefix: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'secure', weight: 1 }] } },
    ],
    clusters: [
      { name: 'secure', endpoints: [{ address: '127.0.0.1', port: upstreamPort }], upstreamTls: { sni: 'upstream.test', certificate: 'envoy-client' } },
      { name: 'anonymous', endpoints: [{ address: '127.0.0.1', port: upstreamPort }], upstreamTls: { sni: 'upstream.test' } },
    ],
    nodeGroups: [{ name: 'default', listeners: ['front'] }],
  });
}

before(async () => {
  h = await startTlsHarness();
  await h.issue('front', 'server', { dnsNames: ['front.test'] });
  await h.issue('upstream', 'server', { dnsNames: ['upstream.test'] });
  await h.issue('envoy-client', 'client', {});
  for (const name of ['alice', 'bob']) {
    const issued = await h.issue(name, 'client', {});
    const m = (await getCertificateMaterial(h.db, h.keyBox, h.tenantId, name))!;
    clients[name] = { cert: m.certChainPem, key: m.privateKeyPem, id: issued.id };
  }
  ca = await trustBundle(h.db, h.tenantId);
  const up = (await getCertificateMaterial(h.db, h.keyBox, h.tenantId, 'upstream'))!;
  // The upstream requires a client certificate from the tenant's CA.
  upstream = createServer({ cert: up.certChainPem, key: up.privateKeyPem, ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`upstream saw client ${peer.subject?.CN ?? '?'}\n`);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  port = await freePort();
  const versions = await h.publish(graph(port, (upstream.address() as AddressInfo).port));
  await h.envoy('envoy-mtls');
  await h.acked('envoy-mtls', versions.default!);
});

after(async () => {
  await new Promise<void>((resolve) => {
    if (!upstream) return resolve();
    upstream.close(() => resolve());
    upstream.closeAllConnections();
  });
  await h?.stop();
});

test('Envoy presents its CA client certificate to an upstream that requires one; without it the upstream refuses', async () => {
  const r = await httpsGet(port, { ca, servername: 'front.test', ...clients.alice! });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'upstream saw client envoy-client\n');
  const anonymous = await httpsGet(port, { ca, servername: 'front.test', path: '/no-client-cert', ...clients.alice! });
  assert.equal(anonymous.status, 503, 'the upstream TLS handshake fails without a client certificate');
});

test('the listener requires a client certificate from the CA, and refuses a revoked one once the CRL is published', { timeout: 60_000 }, async () => {
  await assert.rejects(httpsGet(port, { ca, servername: 'front.test' }), 'no client certificate: refused');
  assert.equal((await httpsGet(port, { ca, servername: 'front.test', ...clients.bob! })).status, 200);

  await revokeCertificate(h.db, h.keyBox, h.tenantId, clients.alice!.id, 'keyCompromise', SYSTEM);
  const refreshed = await refreshLiveSnapshots(h.db, { tenantId: h.tenantId, actor: SYSTEM });
  const version = refreshed!.snapshots.find((s) => s.nodeGroup === 'default')!.version;
  await h.acked('envoy-mtls', version);

  await assert.rejects(httpsGet(port, { ca, servername: 'front.test', ...clients.alice! }), 'the revoked certificate is refused');
  const bob = await httpsGet(port, { ca, servername: 'front.test', ...clients.bob! });
  assert.equal(bob.status, 200, 'a certificate that is not revoked still works');
  assert.equal(bob.body, 'upstream saw client envoy-client\n');
});
