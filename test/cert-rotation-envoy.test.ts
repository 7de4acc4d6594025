/**
 * Certificate rotation end to end (issue 8): a TLS listener on a real Envoy serves a leaf of the tenant's CA
 * over SDS; certRotationWorkflow (started by its Temporal Schedule, and on demand) issues the successor,
 * publishes it on the same ADS stream, awaits the ACK, checks the served serial with a real handshake,
 * keeps the old leaf valid for the grace period and revokes it. What a user observes: no failed request
 * over keep-alive and new connections, the served serial, the certificate states, the CRL, the alerts and
 * the audit log. Failure injection: material Envoy rejects (NACK) leaves the old certificate serving.
 * caRotationWorkflow replaces the signing intermediate under the same steady load.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ScheduleDescription } from '@temporalio/client';
import { CA_ROTATION_WORKFLOW, CaRotationInputSchema, caRotationWorkflowId, type CaRotationResult } from '../contracts/ca-rotation.schema';
import { CERT_ROTATION_ATTEMPT_AUDIT } from '../contracts/cert-rotation.schema';
import { certRotationScheduleId } from '../contracts/certificate.schema';
import { RouteGraphSchema, type RouteGraph } from '../contracts/route-graph.schema';
import { freePort } from '../scripts/lib/ports';
import { crlSerials, normaliseSerial } from '../server/pki/x509';
import { crlPem, reissueCertificate, trustBundle } from '../server/services/certificate.service';
import { deleteCertRotationSchedule, startCertRotation, upsertCertRotationSchedule } from '../server/services/cert-rotation.service';
import type { ReissueFn } from '../workers/certificate.activities';
import type { RunningEnvoy } from '../workers/envoy/envoy.process';
import { startVersionedUpstream, type VersionedUpstream } from './support/rollout-harness';
import { httpsGet, startTlsHarness, steadyLoad, SYSTEM, type TlsHarness } from './support/tls-harness';
import { eventually } from './support/xds-harness';

let h: TlsHarness;
let upstream: VersionedUpstream;
let envoy: RunningEnvoy;
let port: number;
let ca: string;

function tlsGraph(listenerPort: number, upstreamPort: number): RouteGraph {
  return RouteGraphSchema.parse({
    listeners: [{ name: 'web', address: '127.0.0.1', port: listenerPort, tls: { certificate: 'web' }, virtualHosts: ['site'] }],
    virtualHosts: [{ name: 'site', domains: ['*'], routes: ['all'] }],
    routes: [{ name: 'all', match: { prefix: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'app', weight: 1 }] } }],
    clusters: [{ name: 'app', endpoints: [{ address: '127.0.0.1', port: upstreamPort }] }],
    nodeGroups: [{ name: 'default', listeners: ['web'] }],
  });
}

async function certificateRow(serial: string) {
  return h.db.certificate.findFirstOrThrow({ where: { tenantId: h.tenantId, serial: { in: [serial, serial.toUpperCase()] } } });
}

async function activeSerial(): Promise<string> {
  const c = await h.db.certificate.findFirstOrThrow({ where: { tenantId: h.tenantId, name: 'web', status: 'active' } });
  return normaliseSerial(c.serial);
}

async function attempts(workflowId: string) {
  const rows = await h.db.auditEntry.findMany({ where: { tenantId: h.tenantId, action: CERT_ROTATION_ATTEMPT_AUDIT }, orderBy: { seq: 'asc' } });
  return rows.map((r) => r.details as { workflowId: string; attempt: number; outcome: string; error: string | null; newSerial: string }).filter((d) => d.workflowId === workflowId);
}

/**
 * Failure injection through the issuing port: the real successor is issued, then its stored certificate is
 * swapped for the current one, so chain and key do not match and Envoy rejects the Secret (NACK).
 */
const reissueWithMismatchedCertificate: ReissueFn = async (db, keyBox, tenantId, name, actor, opts) => {
  const current = await db.certificate.findFirstOrThrow({ where: { tenantId, name, status: 'active' } });
  const issued = await reissueCertificate(db, keyBox, tenantId, name, actor, opts);
  await db.certificate.update({ where: { id: issued.id }, data: { certPem: current.certPem } });
  return issued;
};

before(async () => {
  h = await startTlsHarness();
  upstream = await startVersionedUpstream('app');
  port = await freePort();
  await h.issue('web', 'server', { dnsNames: ['web.test'], ipAddresses: ['127.0.0.1'] });
  const versions = await h.publish(tlsGraph(port, upstream.port));
  envoy = await h.envoy('envoy-tls');
  await h.acked('envoy-tls', versions.default!);
  ca = await trustBundle(h.db, h.tenantId);
});

after(async () => {
  await h?.stop();
  await upstream?.close();
});

test('the TLS listener serves the CA leaf over SDS; the snapshot row holds no private key', async () => {
  const r = await httpsGet(port, { ca, servername: 'web.test' });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'app\n');
  assert.equal(r.serial, await activeSerial());
  const rows = await h.db.snapshot.findMany({ where: { tenantId: h.tenantId } });
  assert.ok(rows.length > 0);
  for (const row of rows) assert.doesNotMatch(JSON.stringify(row.resources), /PRIVATE KEY/);
  // Envoy itself holds the material it was sent (the key arrived over SDS, decrypted by xds).
  const dump = JSON.parse((await envoy.admin('/config_dump?resource=dynamic_active_secrets')).body) as { configs: { name: string }[] };
  assert.deepEqual(dump.configs.map((c) => c.name).sort(), ['certificate/web']);
});

test('a scheduled rotation replaces the leaf under keep-alive and new-connection load with no failed request, then revokes the old one', { timeout: 180_000 }, async () => {
  const worker = await h.startWorker();
  const oldSerial = await activeSerial();
  const load = steadyLoad(port, { ca, servername: 'web.test', maxMs: 150_000 });
  try {
    await eventually('load running', async () => (load.ok > 5 ? true : undefined), 10_000);
    await upsertCertRotationSchedule(h.temporal, {
      tenantId: h.tenantId,
      certificateName: 'web',
      actor: SYSTEM,
      every: '10s',
      rotation: { graceSeconds: 3, ackTimeoutMs: 20_000, retryBackoffSeconds: 1 },
    });
    // The schedule's first run (the interval is data: 10 s here).
    const schedule = h.temporal.client.schedule.getHandle(certRotationScheduleId(h.tenantId, 'web'));
    const firstRun = await eventually(
      'the schedule started a rotation',
      async () => {
        const d: ScheduleDescription = await schedule.describe();
        return d.info.recentActions[0]?.action.workflow;
      },
      30_000,
      250,
    );
    await schedule.pause('one rotation is enough for this test');
    const result = (await h.temporal.client.workflow.getHandle(firstRun.workflowId, firstRun.firstExecutionRunId).result()) as {
      oldSerial: string;
      newSerial: string;
      revokedOld: boolean;
      checks: { serial: string; chainVerified: boolean }[];
    };
    const newSerial = await activeSerial();
    assert.equal(normaliseSerial(result.oldSerial), oldSerial);
    assert.equal(normaliseSerial(result.newSerial), newSerial);
    assert.notEqual(newSerial, oldSerial);
    assert.deepEqual(result.checks.map((c) => [c.serial, c.chainVerified]), [[newSerial, true]]);
    // New connections see the new leaf now.
    await eventually('new connections get the new leaf', async () => (load.serials.fresh.at(-1) === newSerial ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    await load.stop();

    assert.deepEqual(load.failed, [], `failed requests: ${load.failed.slice(0, 5).join('; ')}`);
    assert.deepEqual(load.serials.fresh, [oldSerial, newSerial]);
    // The keep-alive connection opened before the rotation carried on (same connection, old leaf).
    assert.deepEqual(load.serials.keepAlive, [oldSerial]);
    assert.ok(load.reusedKeepAlive > 10, `keep-alive reuses: ${load.reusedKeepAlive}`);

    // After the grace period the old leaf is revoked and in the CRL Envoy validates peers with.
    const old = await certificateRow(oldSerial);
    assert.equal(old.status, 'revoked');
    assert.equal(old.revocationReason, 'superseded');
    const crl = await crlPem(h.db, h.keyBox, h.tenantId, old.caId ?? '');
    assert.ok(crlSerials(crl).map(normaliseSerial).includes(oldSerial), 'the old serial is in its CA\'s CRL');
    const outcomes = (await attempts(firstRun.workflowId)).map((a) => a.outcome);
    assert.deepEqual(outcomes, ['rotated', 'revoked']);
  } finally {
    await load.stop();
    await deleteCertRotationSchedule(h.temporal, h.tenantId, 'web');
    await worker.stop();
  }
});

test('material Envoy rejects (NACK): the old leaf keeps serving, each attempt is rolled back, audited and alerted, then the workflow gives up', { timeout: 180_000 }, async () => {
  const servedBefore = await activeSerial();
  const worker = await h.startWorker({ reissue: reissueWithMismatchedCertificate });
  const load = steadyLoad(port, { ca, servername: 'web.test', maxMs: 150_000 });
  try {
    const { workflowId, runId } = await startCertRotation(h.temporal, {
      tenantId: h.tenantId,
      certificateName: 'web',
      actor: SYSTEM,
      maxAttempts: 2,
      retryBackoffSeconds: 1,
      ackTimeoutMs: 20_000,
      graceSeconds: 1,
    });
    await assert.rejects(h.temporal.client.workflow.getHandle(workflowId, runId).result(), (err: Error & { cause?: { type?: string; message?: string } }) => {
      assert.equal(err.cause?.type, 'CertificateRotationFailed');
      assert.match(err.cause?.message ?? '', /failed 2 times/);
      return true;
    });
    await load.stop();
    assert.deepEqual(load.failed, [], `failed requests: ${load.failed.slice(0, 5).join('; ')}`);
    assert.deepEqual(load.serials.fresh, [servedBefore], 'only the old leaf was ever served');
    assert.equal(await activeSerial(), servedBefore);
    assert.equal((await httpsGet(port, { ca, servername: 'web.test' })).serial, servedBefore);

    const failed = await attempts(workflowId);
    assert.deepEqual(failed.map((a) => [a.attempt, a.outcome]), [[1, 'failed'], [2, 'failed']]);
    for (const a of failed) {
      assert.match(a.error ?? '', /rejected version/);
      assert.equal((await certificateRow(normaliseSerial(a.newSerial))).status, 'revoked', 'the rejected leaf is revoked');
    }
    const alerts = h.alerts.filter((a) => a.kind === 'certificate.rotation_failed');
    assert.deepEqual(alerts.map((a) => [a.details.attempt, a.severity]), [[1, 'warning'], [2, 'critical']]);
    const nacks = await h.db.auditEntry.count({ where: { tenantId: h.tenantId, action: 'revision.publish.nacked' } });
    assert.ok(nacks >= 2, `NACK audit entries: ${nacks}`);
  } finally {
    await load.stop();
    await worker.stop();
  }
});

test('CA rotation with trust overlap under steady load: caRotationWorkflow issues a new intermediate, reissues the leaf from it, retires the old one — no failed request', { timeout: 180_000 }, async () => {
  const worker = await h.startWorker();
  const load = steadyLoad(port, { ca, servername: 'web.test', maxMs: 150_000 });
  try {
    await eventually('load running', async () => (load.ok > 5 ? true : undefined), 10_000);
    const before = await h.db.certificate.findFirstOrThrow({ where: { tenantId: h.tenantId, name: 'web', status: 'active' } });
    const oldCa = await h.db.certificateAuthority.findUniqueOrThrow({ where: { id: before.caId! } });
    const handle = await h.temporal.client.workflow.start(CA_ROTATION_WORKFLOW, {
      workflowId: caRotationWorkflowId(h.tenantId, oldCa.id),
      taskQueue: h.temporal.taskQueue,
      args: [CaRotationInputSchema.parse({ tenantId: h.tenantId, caId: oldCa.id, actor: SYSTEM, graceSeconds: 1, ackTimeoutMs: 20_000 })],
    });
    const result = (await handle.result()) as CaRotationResult;

    const after = await h.db.certificate.findFirstOrThrow({ where: { tenantId: h.tenantId, name: 'web', status: 'active' } });
    assert.equal(after.caId, result.newCaId, 'the new leaf comes from the new intermediate');
    assert.notEqual(result.newCaId, oldCa.id);
    assert.deepEqual(result.retiredCaIds, [oldCa.id]);
    assert.deepEqual(result.leaves.map((l) => [l.certificateName, normaliseSerial(l.oldSerial), normaliseSerial(l.newSerial)]), [['web', normaliseSerial(before.serial), normaliseSerial(after.serial)]]);
    assert.equal((await h.db.certificateAuthority.findUniqueOrThrow({ where: { id: oldCa.id } })).status, 'retired');
    assert.equal((await certificateRow(normaliseSerial(before.serial))).status, 'revoked', 'the old leaf is revoked after its grace period');
    // The old intermediate is out of the trust Envoy validates peers with.
    const bundle = await trustBundle(h.db, h.tenantId);
    assert.ok(!bundle.includes(oldCa.certPem.trim()), 'the old intermediate is no longer trusted');
    const ids = await h.db.auditEntry.findMany({ where: { tenantId: h.tenantId, action: { in: ['ca.rotate', 'ca.retire'] } }, orderBy: { seq: 'asc' } });
    assert.deepEqual(ids.map((a) => a.action).slice(-2), ['ca.rotate', 'ca.retire']);

    await eventually('new connections get the reissued leaf', async () => (load.serials.fresh.at(-1) === normaliseSerial(after.serial) ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    await load.stop();
    assert.deepEqual(load.failed, [], `failed requests: ${load.failed.slice(0, 5).join('; ')}`);
    assert.ok(load.ok > 20, `requests: ${load.ok}`);
  } finally {
    await load.stop();
    await worker.stop();
  }
});

test('a CA rotation whose leaf cannot be reissued stops before untrusting anything: alerted, both CAs still trusted, no failed request', { timeout: 180_000 }, async () => {
  const worker = await h.startWorker({ reissue: reissueWithMismatchedCertificate });
  const load = steadyLoad(port, { ca, servername: 'web.test', maxMs: 150_000 });
  try {
    await eventually('load running', async () => (load.ok > 5 ? true : undefined), 10_000);
    const servedBefore = await activeSerial();
    const current = await h.db.certificate.findFirstOrThrow({ where: { tenantId: h.tenantId, name: 'web', status: 'active' } });
    const handle = await h.temporal.client.workflow.start(CA_ROTATION_WORKFLOW, {
      workflowId: caRotationWorkflowId(h.tenantId, current.caId!),
      taskQueue: h.temporal.taskQueue,
      args: [CaRotationInputSchema.parse({ tenantId: h.tenantId, caId: current.caId, actor: SYSTEM, graceSeconds: 1, ackTimeoutMs: 20_000, maxAttempts: 1 })],
    });
    await assert.rejects(handle.result(), (err: Error & { cause?: { type?: string; message?: string } }) => {
      assert.equal(err.cause?.type, 'CaRotationFailed');
      assert.match(err.cause?.message ?? '', /certificate "web"/);
      return true;
    });
    await load.stop();
    assert.deepEqual(load.failed, [], `failed requests: ${load.failed.slice(0, 5).join('; ')}`);
    assert.equal(await activeSerial(), servedBefore, 'the old leaf keeps serving');
    assert.equal((await h.db.certificateAuthority.findUniqueOrThrow({ where: { id: current.caId! } })).status, 'retiring', 'the old CA is still trusted');
    const alerts = h.alerts.filter((a) => a.kind === 'certificate.ca_rotation_failed');
    assert.deepEqual(alerts.map((a) => [a.details.certificateName, a.severity]), [['web', 'critical']]);
  } finally {
    await load.stop();
    await worker.stop();
  }
});
