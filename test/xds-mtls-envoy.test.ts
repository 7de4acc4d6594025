/**
 * The xds channel over mTLS (issue 8): an xds replica serving ADS with a server certificate from the tenant's
 * CA and requiring client certificates from it; a real Envoy whose bootstrap gives the xds cluster a TLS
 * transport socket (CA, server name, its own client certificate) connects, receives and ACKs its
 * configuration and serves traffic; a client without a certificate is refused at the handshake.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { after, before, test } from 'node:test';
import { RouteGraphSchema } from '../contracts/route-graph.schema';
import { freePort } from '../scripts/lib/ports';
import { getCertificateMaterial, trustBundle } from '../server/services/certificate.service';
import { envoyBootstrap } from '../workers/envoy/bootstrap';
import { startEnvoy, type RunningEnvoy } from '../workers/envoy/envoy.process';
import type { RunningXdsServer } from '../workers/xds/xds.server';
import { startVersionedUpstream, type VersionedUpstream } from './support/rollout-harness';
import { startTlsHarness, type TlsHarness } from './support/tls-harness';
import { keepAliveClient } from './support/xds-harness';

let h: TlsHarness;
let secureXds: RunningXdsServer;
let upstream: VersionedUpstream;
let envoy: RunningEnvoy | undefined;
let ca: string;

before(async () => {
  h = await startTlsHarness();
  await h.issue('xds-server', 'server', { dnsNames: ['xds.test'] });
  await h.issue('envoy-node', 'client', {});
  ca = await trustBundle(h.db, h.tenantId);
  const server = (await getCertificateMaterial(h.db, h.keyBox, h.tenantId, 'xds-server'))!;
  secureXds = await h.xds.replica({ tls: { certChainPem: server.certChainPem, privateKeyPem: server.privateKeyPem, clientCaPem: ca } });
  upstream = await startVersionedUpstream('app');
});

after(async () => {
  await envoy?.stop();
  await upstream?.close();
  await h?.stop();
});

test('a real Envoy gets its configuration over mTLS with certificates from the tenant CA', { timeout: 90_000 }, async () => {
  const listenerPort = await freePort();
  const versions = await h.publish(
    RouteGraphSchema.parse({
      listeners: [{ name: 'main', address: '127.0.0.1', port: listenerPort, virtualHosts: ['all'] }],
      virtualHosts: [{ name: 'all', domains: ['*'], routes: ['r'] }],
      routes: [{ name: 'r', match: { prefix: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'app', weight: 1 }] } }],
      clusters: [{ name: 'app', endpoints: [{ address: '127.0.0.1', port: upstream.port }] }],
      nodeGroups: [{ name: 'default', listeners: ['main'] }],
    }),
  );
  const client = (await getCertificateMaterial(h.db, h.keyBox, h.tenantId, 'envoy-node'))!;
  const adminPort = await freePort();
  envoy = await startEnvoy({
    bootstrap: envoyBootstrap({
      nodeId: 'envoy-over-mtls',
      tenant: 'demo',
      nodeGroup: 'default',
      xdsHost: '127.0.0.1',
      xdsPort: secureXds.grpcPort,
      adminPort,
      xdsTls: { caPem: ca, serverName: 'xds.test', certChainPem: client.certChainPem, privateKeyPem: client.privateKeyPem },
    }),
    adminPort,
  });
  await h.acked('envoy-over-mtls', versions.default!, false);
  const p = await h.xds.proxy('envoy-over-mtls');
  assert.equal(p.replica, 'replica-2', 'served by the mTLS replica');
  const http = keepAliveClient(listenerPort);
  try {
    const r = await http.get('/');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'app\n');
  } finally {
    http.close();
  }
  const xdsCx = (await envoy.admin('/stats?filter=^cluster\\.xds\\.ssl\\.handshake$')).body;
  assert.match(xdsCx, /cluster\.xds\.ssl\.handshake: [1-9]/, 'the xds connection is TLS');
});

test('a client without a certificate from the CA is refused by the xds port', async () => {
  const outcome = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: secureXds.grpcPort, servername: 'xds.test', ca, ALPNProtocols: ['h2'] });
    socket.setTimeout(5_000, () => socket.destroy(new Error('timeout')));
    // TLS 1.3: the server's refusal arrives after the client's handshake completes, as an alert on the first read.
    socket.on('secureConnect', () => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    socket.on('data', () => resolve('accepted'));
    socket.on('error', (err) => resolve(`refused: ${err.message}`));
    socket.on('close', () => resolve('refused: closed'));
  });
  assert.match(outcome, /^refused/);
});
