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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../agents/src/agent';
import { createAgentChannel } from '../workers/agents/agent-channel.server';

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

test('a node agent keeps its channel to the control plane over mTLS with a client certificate from the tenant CA', { timeout: 60_000 }, async () => {
  await h.issue('agent-node-1', 'client', {});
  const server = (await getCertificateMaterial(h.db, h.keyBox, h.tenantId, 'xds-server'))!;
  const client = (await getCertificateMaterial(h.db, h.keyBox, h.tenantId, 'agent-node-1'))!;
  const log = pino({ level: 'silent' });
  const channel = createAgentChannel({ db: h.db, log });
  const replica = await h.xds.replica({
    tls: { certChainPem: server.certChainPem, privateKeyPem: server.privateKeyPem, clientCaPem: ca },
    services: [{ definition: channel.service, implementation: channel.implementation }],
  });
  await channel.start();
  const stateDir = mkdtempSync(join(tmpdir(), 'ps-agent-mtls-'));
  const pinRoot = `/sys/fs/bpf/ps-agent-mtls-${process.pid}`;
  const agent = (tls: ConstructorParameters<typeof Agent>[0]['tls'], nodeName: string) =>
    new Agent(
      { controlPlane: `127.0.0.1:${replica.grpcPort}`, tenant: 'demo', nodeName, nodeGroup: 'mtls-edge', pinRoot: join(pinRoot, nodeName), stateDir: join(stateDir, nodeName), protectedCidrs: [], localPrograms: [], reportIntervalMs: 60_000, ...(tls ? { tls } : {}) },
      log,
    );
  const trusted = agent({ caPem: ca, certChainPem: client.certChainPem, privateKeyPem: client.privateKeyPem, serverName: 'xds.test' }, 'mtls-node-1');
  const anonymous = agent({ caPem: ca, serverName: 'xds.test' }, 'mtls-node-2');
  try {
    await trusted.start();
    await anonymous.start();
    const deadline = Date.now() + 30_000;
    let row = null;
    while (Date.now() < deadline) {
      row = await h.db.agent.findFirst({ where: { tenantId: h.tenantId, nodeName: 'mtls-node-1', connected: true } });
      if (row && trusted.connected) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(row, 'the agent with a CA client certificate registered over mTLS');
    assert.equal(row.nodeGroup, 'mtls-edge');
    assert.equal(trusted.connected, true);
    // The agent without a client certificate has been retrying for as long: the handshake refuses it every time.
    assert.equal(anonymous.connected, false);
    assert.equal(await h.db.agent.count({ where: { tenantId: h.tenantId, nodeName: 'mtls-node-2' } }), 0, 'never registered');
  } finally {
    trusted.stop();
    anonymous.stop();
    await channel.stop();
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(pinRoot, { recursive: true, force: true });
  }
});
