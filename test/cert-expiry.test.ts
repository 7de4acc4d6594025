/**
 * Expiry alerts (issue 8, Deliver 5) with real Temporal + PostgreSQL + a webhook receiver on 127.0.0.1: the
 * expiry check's Temporal Schedule (interval shortened to seconds) runs certExpiryCheckWorkflow several times;
 * a certificate close to expiry produces exactly one signed `certificate.expiring` delivery for the day, a
 * healthy one produces none. A CRL past half its lifetime is re-signed and the live snapshot (where CRLs are
 * inline, in the validation context of an mTLS listener) is re-published with it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CertExpiryCheckResult } from '../contracts/cert-expiry.schema';
import { RouteGraphSchema } from '../contracts/route-graph.schema';
import { normaliseSerial } from '../server/pki/x509';
import { issueCertificate } from '../server/services/certificate.service';
import { ensureCertExpirySchedule } from '../server/services/cert-expiry.service';
import { signatureOf } from '../server/services/notification.service';
import { startTlsHarness, SYSTEM, type TlsHarness } from './support/tls-harness';
import { eventually } from './support/xds-harness';

let h: TlsHarness;

before(async () => {
  h = await startTlsHarness();
});

after(async () => {
  await h?.stop();
});

test('the scheduled expiry check sends one signed certificate.expiring webhook per certificate per day, none for a healthy one', { timeout: 120_000 }, async () => {
  const soon = await issueCertificate(h.db, h.keyBox, h.tenantId, { name: 'soon', commonName: 'soon.test', usage: 'server', validityHours: 2, dnsNames: ['soon.test'] }, SYSTEM);
  const healthy = await issueCertificate(
    h.db,
    h.keyBox,
    h.tenantId,
    { name: 'healthy', commonName: 'healthy.test', usage: 'server', validityHours: 720, renewBeforeHours: 24, dnsNames: ['healthy.test'] },
    SYSTEM,
  );
  // A live revision whose mTLS listener carries the tenant's trust (CA bundle + CRL) inline.
  await h.publish(
    RouteGraphSchema.parse({
      listeners: [{ name: 'web', address: '127.0.0.1', port: 1, tls: { certificate: 'soon', requireClientCertificate: true }, virtualHosts: ['site'] }],
      virtualHosts: [{ name: 'site', domains: ['*'], routes: ['all'] }],
      routes: [{ name: 'all', match: { prefix: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'app', weight: 1 }] } }],
      clusters: [{ name: 'app', endpoints: [{ address: '127.0.0.1', port: 1 }] }],
      nodeGroups: [{ name: 'default', listeners: ['web'] }],
    }),
  );
  // The CRLs are now past half their lifetime (as they are after hours without a change).
  const staleAt = new Date();
  await h.db.certificateAuthority.updateMany({ where: { tenantId: h.tenantId }, data: { crlNextUpdate: staleAt } });
  const worker = await h.startWorker();
  // Created twice: the second call updates the one schedule (what every worker start does).
  await ensureCertExpirySchedule(h.temporal, { every: '60s', thresholdSeconds: 3 * 3600 });
  const { scheduleId } = await ensureCertExpirySchedule(h.temporal, { every: '2s', thresholdSeconds: 3 * 3600 });
  const schedule = h.temporal.client.schedule.getHandle(scheduleId);
  try {
    const runs = await eventually(
      'three scheduled runs',
      async () => {
        const d = await schedule.describe();
        return d.info.recentActions.length >= 3 ? d.info.recentActions.map((a) => a.action.workflow) : undefined;
      },
      60_000,
      250,
    );
    await schedule.pause('enough runs for this test');
    const results: CertExpiryCheckResult[] = [];
    for (const run of runs) results.push((await h.temporal.client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result()) as CertExpiryCheckResult);
    // Every run found the expiring certificate (and only it), yet the webhook got it once.
    for (const r of results) assert.equal(r.expiring, 1);
    const expiring = h.alerts.filter((a) => a.kind === 'certificate.expiring');
    assert.equal(expiring.length, 1, `deliveries: ${expiring.map((a) => a.subject).join('; ')}`);
    const alert = expiring[0]!;
    assert.equal(alert.details.certificateName, 'soon');
    assert.equal(alert.details.serial, normaliseSerial(soon.serial));
    assert.match(alert.subject, /certificate "soon" expires in/);
    assert.equal(alert.severity, 'critical');
    assert.equal(alert.signature, signatureOf('test-secret', alert.raw), 'signed with the endpoint secret');
    assert.ok(!h.alerts.some((a) => a.details.certificateName === 'healthy'), 'no alert for the healthy certificate');
    assert.ok(healthy.id !== soon.id);
    const stored = await h.db.notificationDelivery.findMany({ where: { tenantId: h.tenantId, kind: 'certificate.expiring' } });
    assert.deepEqual(stored.map((d) => [d.dedupeKey, d.status]), [[`certificate.expiring:${soon.id}:${new Date().toISOString().slice(0, 10)}`, 'delivered']]);

    // Stale CRLs were re-signed once (not on every run) and the snapshot Envoy receives carries the new one.
    assert.ok(results.reduce((n, r) => n + r.crlsRefreshed, 0) >= 1);
    assert.ok(results.some((r) => r.republishedTenants === 1));
    const cas = await h.db.certificateAuthority.findMany({ where: { tenantId: h.tenantId, status: 'active', keyKid: { not: null } } });
    const latest = await h.db.snapshot.findFirstOrThrow({ where: { tenantId: h.tenantId, nodeGroup: 'default' }, orderBy: { createdAt: 'desc' } });
    const flat = JSON.stringify(latest.resources).replaceAll('\\n', '');
    for (const ca of cas) {
      assert.ok(ca.crlNextUpdate! > staleAt, `CRL of ${ca.subject} re-signed`);
      const body = ca.crlPem!.replace(/-----[^-]+-----/g, '').replace(/\s/g, '');
      assert.ok(flat.includes(body), `the live snapshot carries the re-signed CRL of ${ca.subject}`);
    }
  } finally {
    await schedule.delete().catch(() => undefined);
    await worker.stop();
  }
});
