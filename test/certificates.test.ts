/**
 * The tenant CA over the REST API, against a real PostgreSQL: issuing creates the tenant's P-384 root and
 * intermediate and a leaf whose chain verifies; imports are validated field by field; revocation lands in
 * the CRL served publicly; private keys are never in the tables in clear; key-encryption-key rotation
 * rewraps every key; expiring certificates are listed and exported as Prometheus gauges; the root key can
 * be exported and removed, after which a new intermediate needs it.
 */
import 'reflect-metadata';
import { X509Crl } from '@peculiar/x509';
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import * as casRoute from '../app/api/v1/cas/route';
import * as caCrlRoute from '../app/api/v1/cas/[id]/crl/route';
import * as caExportKeyRoute from '../app/api/v1/cas/[id]/export-key/route';
import * as caRetireRoute from '../app/api/v1/cas/[id]/retire/route';
import * as caImportRoute from '../app/api/v1/cas/import/route';
import * as caIntermediateRoute from '../app/api/v1/cas/intermediate/route';
import * as rewrapRoute from '../app/api/v1/cas/rewrap-keys/route';
import * as certificatesRoute from '../app/api/v1/certificates/route';
import * as certificateRoute from '../app/api/v1/certificates/[id]/route';
import * as certificateRevokeRoute from '../app/api/v1/certificates/[id]/revoke/route';
import * as certificateImportRoute from '../app/api/v1/certificates/import/route';
import * as metricsRoute from '../app/metrics/route';
import { RouteGraphSchema } from '../contracts/route-graph.schema';
import { setAppDb } from '../server/app-db';
import { createKeyBox, setAppKeyBox, type KeyBox } from '../server/pki/key-box';
import { createIntermediateCa, createLeaf, createRootCa, privateKeyPem } from '../server/pki/x509';
import { getCertificateMaterial, SYSTEM_ACTOR, trustBundle, crlBundlePem, reissueCertificate } from '../server/services/certificate.service';
import { call, makeMember, makeRevision, makeTenant, makeToken, type TestMember } from './support/api';
import { createTestDatabase, withDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
let admin: TestMember;
let adminToken: string;
let operatorToken: string;
let viewerToken: string;
let otherToken: string;
const kek1 = { kid: 'k1', key: randomBytes(32) };
const kek2 = { kid: 'k2', key: randomBytes(32) };

before(async () => {
  tdb = await createTestDatabase();
  setAppDb(tdb.db);
  setAppKeyBox(createKeyBox([kek1]));
  const t = await makeTenant(tdb.db, 'pki');
  admin = await makeMember(tdb.db, t, 'admin');
  adminToken = (await makeToken(tdb.db, admin)).secret;
  operatorToken = (await makeToken(tdb.db, await makeMember(tdb.db, t, 'operator'))).secret;
  viewerToken = (await makeToken(tdb.db, await makeMember(tdb.db, t, 'viewer'))).secret;
  const other = await makeTenant(tdb.db, 'pki-other');
  otherToken = (await makeToken(tdb.db, await makeMember(tdb.db, other, 'admin'))).secret;
  // A live graph whose TLS listener and mTLS cluster reference certificates by name.
  const graph = RouteGraphSchema.parse({
    listeners: [{ name: 'https', port: 10443, virtualHosts: ['default'], tls: { certificate: 'web' } }],
    virtualHosts: [{ name: 'default', domains: ['*'], routes: ['all'] }],
    routes: [{ name: 'all', match: { prefix: '/' }, action: { kind: 'forward', clusters: [{ cluster: 'api', weight: 100 }] } }],
    clusters: [{ name: 'api', endpoints: [{ address: '127.0.0.1', port: 8443 }], upstreamTls: { certificate: 'api-client' } }],
  });
  await makeRevision(tdb.db, t, graph, { live: true });
});

after(async () => {
  setAppDb(undefined);
  setAppKeyBox(undefined);
  await tdb.drop();
});

const issue = (body: Record<string, unknown>, token = operatorToken) => call(certificatesRoute.POST, { token, json: body });

/** Every row of the PKI tables as JSON text, read with a plain SQL client (what a database dump shows). */
async function rawPkiTables(): Promise<string> {
  const client = new pg.Client({ connectionString: withDatabase(tdb.adminUrl, new URL(tdb.url).pathname.slice(1)) });
  await client.connect();
  try {
    const rows = [
      ...(await client.query('SELECT row_to_json(t)::text AS j FROM "Certificate" t')).rows,
      ...(await client.query('SELECT row_to_json(t)::text AS j FROM "CertificateAuthority" t')).rows,
    ] as { j: string }[];
    return rows.map((r) => r.j).join('\n');
  } finally {
    await client.end();
  }
}

function verifyChain(leafPem: string, chainPem: string, bundlePem: string): X509Certificate[] {
  const split = (t: string) => (t.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
  const path = [new X509Certificate(leafPem), ...split(chainPem)];
  const anchors = split(bundlePem);
  for (let i = 0; i + 1 < path.length; i++) {
    assert.ok(path[i]!.checkIssued(path[i + 1]!), `link ${i} names its issuer`);
    assert.ok(path[i]!.verify(path[i + 1]!.publicKey), `link ${i} is signed by its issuer`);
  }
  const top = path[path.length - 1]!;
  const root = anchors.find((a) => top.checkIssued(a) && top.verify(a.publicKey) && a.verify(a.publicKey));
  assert.ok(root, 'the chain ends at a self-signed root of the trust bundle');
  return [...path, root];
}

let webId = '';
let webSerial = '';

test('issuing creates the tenant CA (P-384 root + intermediate) and a leaf whose chain verifies, with its SANs and users', async () => {
  const res = await issue({
    name: 'web',
    commonName: 'web.example.test',
    dnsNames: ['web.example.test', '*.web.example.test'],
    ipAddresses: ['127.0.0.1', '::1'],
    uris: ['spiffe://pki.test/ns/default/sa/web'],
    usage: 'server',
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const c = res.body.certificate;
  webId = c.id;
  webSerial = c.serial;
  assert.equal(c.status, 'active');
  assert.deepEqual(c.usedBy, { listeners: ['https'], clusters: [] });
  assert.equal(c.validitySeconds, 90 * 86400);
  assert.equal(c.renewBeforeSeconds, 30 * 86400);

  const cas = await call(casRoute.GET, { token: viewerToken });
  assert.equal(cas.status, 200);
  assert.deepEqual(cas.body.cas.map((x: { kind: string; status: string; keyOnline: boolean }) => [x.kind, x.status, x.keyOnline]), [
    ['root', 'active', true],
    ['intermediate', 'active', true],
  ]);
  const tenantId = admin.tenant.id;
  const path = verifyChain(c.certPem, c.chainPem, await trustBundle(tdb.db, tenantId));
  assert.equal(path.length, 3, 'leaf → intermediate → root');
  for (const cert of path) assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  const leaf = path[0]!;
  assert.equal(leaf.subjectAltName, 'DNS:web.example.test, DNS:*.web.example.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, URI:spiffe://pki.test/ns/default/sa/web');
  assert.equal(leaf.ca, false);
  assert.equal(leaf.serialNumber.toLowerCase(), webSerial);

  // The key handed to SDS belongs to the certificate.
  const material = await getCertificateMaterial(tdb.db, createKeyBox([kek1]), tenantId, 'web');
  assert.ok(material);
  assert.ok(leaf.checkPrivateKey(createPrivateKey(material.privateKeyPem)));
  assert.equal(material.serial, webSerial);

  // A second certificate of another tenant does not see this one; a viewer cannot issue.
  const foreign = await call(certificatesRoute.GET, { token: otherToken });
  assert.deepEqual(foreign.body.certificates, []);
  assert.equal((await issue({ name: 'x', commonName: 'x', usage: 'client' }, viewerToken)).status, 403);
});

test('keys at rest: the raw tables hold no PEM private key and no DER key bytes', async () => {
  const client = await issue({ name: 'api-client', commonName: 'api-client', uris: ['spiffe://pki.test/ns/default/sa/api'], usage: 'client' });
  assert.equal(client.status, 201);
  assert.deepEqual(client.body.certificate.usedBy, { listeners: [], clusters: ['api'] });
  const raw = await rawPkiTables();
  assert.ok(raw.includes(webSerial), 'the dump does contain the certificates');
  assert.doesNotMatch(raw, /PRIVATE KEY/);
  const box = createKeyBox([kek1]);
  for (const name of ['web', 'api-client']) {
    const m = (await getCertificateMaterial(tdb.db, box, admin.tenant.id, name))!;
    const der = createPrivateKey(m.privateKeyPem).export({ format: 'der', type: 'pkcs8' });
    const scalar = Buffer.from(createPrivateKey(m.privateKeyPem).export({ format: 'jwk' }).d!, 'base64url');
    for (const needle of [der.toString('hex'), der.toString('base64'), scalar.toString('hex'), scalar.toString('base64'), scalar.toString('base64url')]) {
      assert.ok(!raw.includes(needle), `${name}: key bytes found in the table dump`);
    }
  }
  assert.match(raw, /"keyEnvelope":"v1\.k1\./, 'keys are stored as envelopes under key k1');
});

test('revocation: the serial appears in the CA CRL, served without credentials and signed by the CA', async () => {
  const cas = (await call(casRoute.GET, { token: viewerToken })).body.cas as { id: string; kind: string; certPem: string; crlNumber: number }[];
  const intermediate = cas.find((c) => c.kind === 'intermediate')!;
  const before = await call(caCrlRoute.GET, { params: { id: intermediate.id } });
  assert.equal(before.status, 200);
  assert.ok(!new X509Crl((before.body as string)).entries.some((e) => e.serialNumber.toLowerCase() === webSerial));

  const viewerTry = await call(certificateRevokeRoute.POST, { token: viewerToken, params: { id: webId }, json: { reason: 'keyCompromise' } });
  assert.equal(viewerTry.status, 403);
  const revoked = await call(certificateRevokeRoute.POST, { token: operatorToken, params: { id: webId }, json: { reason: 'keyCompromise' } });
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  assert.equal(revoked.body.certificate.status, 'revoked');
  assert.equal(revoked.body.certificate.revocationReason, 'keyCompromise');
  const again = await call(certificateRevokeRoute.POST, { token: operatorToken, params: { id: webId }, json: {} });
  assert.equal(again.status, 409);

  const res = await call(caCrlRoute.GET, { params: { id: intermediate.id } });
  assert.equal(res.status, 200);
  assert.match((res.body as string), /^-----BEGIN X509 CRL-----/);
  const crl = new X509Crl((res.body as string));
  const entry = crl.entries.find((e) => e.serialNumber.toLowerCase() === webSerial);
  assert.ok(entry, 'the revoked serial is listed');
  assert.equal(entry.reason, 1, 'reason keyCompromise');
  assert.ok(await crl.verify({ publicKey: await new (await import('@peculiar/x509')).X509Certificate(intermediate.certPem).publicKey.export() }));
  assert.ok(crl.nextUpdate && crl.nextUpdate.getTime() > Date.now());
  // The bundle handed to Envoy holds one CRL per trusted CA and includes the new entry.
  const bundle = await crlBundlePem(tdb.db, createKeyBox([kek1]), admin.tenant.id);
  assert.equal(bundle.match(/BEGIN X509 CRL/g)?.length, 2);
  assert.ok(bundle.includes((res.body as string)));
  const unknown = await call(caCrlRoute.GET, { params: { id: '00000000-0000-4000-8000-000000000000' } });
  assert.equal(unknown.status, 404);
});

test('imports are validated and every problem names its field', async () => {
  const now = Date.now();
  const past = { notBefore: new Date(now - 10 * 86400e3), notAfter: new Date(now - 86400e3) };
  const valid = { notBefore: new Date(now - 60e3), notAfter: new Date(now + 30 * 86400e3) };
  const root = await createRootCa({ commonName: 'external root', organization: 'Elsewhere', ...valid });
  const inter = await createIntermediateCa({ certPem: root.certPem, key: { pkcs8: root.pkcs8 } }, { commonName: 'external int', organization: 'Elsewhere', ...valid });
  const leafSpec = { commonName: 'ext.example.test', dnsNames: ['ext.example.test'], ipAddresses: [], uris: [], usage: 'server' as const };
  const leaf = await createLeaf({ certPem: inter.certPem, key: { pkcs8: inter.pkcs8 } }, { ...leafSpec, ...valid });
  const expired = await createLeaf({ certPem: inter.certPem, key: { pkcs8: inter.pkcs8 } }, { ...leafSpec, ...past });
  const post = (json: unknown) => call(certificateImportRoute.POST, { token: operatorToken, json });
  const issuesOf = (res: { body: { error: { issues: { path: string; message: string }[] } } }) => res.body.error.issues.map((i) => `${i.path}: ${i.message}`);

  const mismatch = await post({ name: 'ext', usage: 'server', certPem: leaf.certPem, keyPem: privateKeyPem(inter.pkcs8), chainPem: inter.certPem });
  assert.equal(mismatch.status, 400);
  assert.deepEqual(issuesOf(mismatch), ['keyPem: the private key does not match the certificate']);

  const old = await post({ name: 'ext', usage: 'server', certPem: expired.certPem, keyPem: privateKeyPem(expired.pkcs8), chainPem: inter.certPem });
  assert.equal(old.status, 400);
  assert.match(issuesOf(old).join('\n'), /^certPem: expired on /);

  const wrongChain = await post({ name: 'ext', usage: 'server', certPem: leaf.certPem, keyPem: privateKeyPem(leaf.pkcs8), chainPem: root.certPem + inter.certPem });
  assert.equal(wrongChain.status, 400);
  assert.deepEqual(issuesOf(wrongChain), ['chainPem[0]: does not sign the certificate (wrong order or wrong issuer)', 'chainPem[1]: does not sign chainPem[0] (wrong order or wrong issuer)']);

  const garbage = await post({ name: 'ext', usage: 'server', certPem: 'hello', keyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', chainPem: inter.certPem });
  assert.equal(garbage.status, 400);
  assert.deepEqual(issuesOf(garbage).map((i) => i.split(':')[0]), ['certPem', 'keyPem']);

  const ok = await post({ name: 'ext', usage: 'server', certPem: leaf.certPem, keyPem: privateKeyPem(leaf.pkcs8), chainPem: inter.certPem + root.certPem });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal(ok.body.certificate.source, 'imported');
  assert.equal(ok.body.certificate.chainPem, inter.certPem, 'the chain keeps the intermediate, not the root');
  assert.deepEqual(ok.body.certificate.dnsNames, ['ext.example.test']);

  const notCa = await call(caImportRoute.POST, { token: adminToken, json: { certPem: leaf.certPem, keyPem: privateKeyPem(leaf.pkcs8) } });
  assert.equal(notCa.status, 400);
  assert.deepEqual(issuesOf(notCa), ['certPem: not a CA certificate (basicConstraints CA:FALSE or missing)']);
  const operatorCa = await call(caImportRoute.POST, { token: operatorToken, json: { certPem: root.certPem, keyPem: privateKeyPem(root.pkcs8) } });
  assert.equal(operatorCa.status, 403);
  const ca = await call(caImportRoute.POST, { token: adminToken, json: { certPem: root.certPem, keyPem: privateKeyPem(root.pkcs8) } });
  assert.equal(ca.status, 201, JSON.stringify(ca.body));
  assert.equal(ca.body.ca.source, 'imported');
  const signed = await issue({ name: 'by-import', commonName: 'by-import', usage: 'client', caId: ca.body.ca.id });
  assert.equal(signed.status, 201, JSON.stringify(signed.body));
  assert.ok(new X509Certificate(signed.body.certificate.certPem).verify(new X509Certificate(root.certPem).publicKey));
  const noSuchCa = await issue({ name: 'nope', commonName: 'nope', usage: 'client', caId: '00000000-0000-4000-8000-000000000000' });
  assert.equal(noSuchCa.status, 400);
  assert.equal(noSuchCa.body.error.issues[0].path, 'caId');
});

test('expiring certificates are listed soonest first and exported as Prometheus gauges', async () => {
  const short = await issue({ name: 'short-lived', commonName: 'short', dnsNames: ['short.example.test'], usage: 'server', validityHours: 2 });
  assert.equal(short.status, 201);
  assert.equal(short.body.certificate.renewBeforeSeconds, 2400, 'a third of the lifetime for short leaves');
  const soon = await call(certificatesRoute.GET, { token: viewerToken, query: { expiringWithinHours: '24' } });
  assert.equal(soon.status, 200);
  assert.deepEqual(soon.body.certificates.map((c: { name: string }) => c.name), ['short-lived']);
  const all = await call(certificatesRoute.GET, { token: viewerToken, query: { expiringWithinHours: '2400' } });
  assert.equal(all.body.certificates[0].name, 'short-lived');
  assert.ok(!all.body.certificates.some((c: { status: string }) => c.status !== 'active'), 'revoked and superseded ones are not "expiring"');
  const bad = await call(certificatesRoute.GET, { token: viewerToken, query: { expiringWithinHours: 'soon' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.issues[0].path, 'expiringWithinHours');

  const res = await metricsRoute.GET(new Request('http://localhost/metrics'));
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith('proxyshard_certificate_expiry_seconds{') && l.includes('name="short-lived"'));
  assert.ok(line, 'a gauge for the short-lived certificate');
  assert.match(line, /tenant="pki"/);
  assert.match(line, new RegExp(`serial="${short.body.certificate.serial}"`));
  const value = Number(line.split(' ').pop());
  assert.ok(value > 0 && value <= 7200, `seconds until expiry: ${value}`);
  assert.ok(!text.includes(`serial="${webSerial}"`), 'revoked certificates have no expiry gauge');
  assert.match(text, /proxyshard_ca_expiry_seconds\{tenant="pki",ca="[0-9a-f-]+",kind="root",status="active"\} \d+/);
});

test('key rotation: a new current key, rewrap, and the old key is no longer needed', async () => {
  const rotated: KeyBox = createKeyBox([kek2, kek1]);
  setAppKeyBox(rotated);
  try {
    const viewerTry = await call(rewrapRoute.POST, { token: operatorToken });
    assert.equal(viewerTry.status, 403);
    const res = await call(rewrapRoute.POST, { token: adminToken });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(res.body.rewrapped >= 5, `rewrapped ${res.body.rewrapped}`);
    assert.deepEqual(Object.keys(res.body.keysByKid), ['k2']);
    const twice = await call(rewrapRoute.POST, { token: adminToken });
    assert.equal(twice.body.rewrapped, 0, 'idempotent');
    // Only k2 now: every key still opens, and the tables mention k1 nowhere.
    const onlyNew = createKeyBox([kek2]);
    const m = await getCertificateMaterial(tdb.db, onlyNew, admin.tenant.id, 'api-client');
    assert.ok(m && new X509Certificate(m.certChainPem).checkPrivateKey(createPrivateKey(m.privateKeyPem)));
    assert.ok(!(await rawPkiTables()).includes('v1.k1.'));
    setAppKeyBox(onlyNew);
    const signed = await issue({ name: 'after-rotation', commonName: 'after', usage: 'server' });
    assert.equal(signed.status, 201, 'the CA key opens under the new key alone');
    await assert.rejects(getCertificateMaterial(tdb.db, createKeyBox([kek1]), admin.tenant.id, 'after-rotation'), /key-encryption key "k2" is not configured/);
  } finally {
    setAppKeyBox(createKeyBox([kek2]));
  }
});

test('offline root: export and remove the root key; a new intermediate then needs it; old CA retires after reissue', async () => {
  const box = createKeyBox([kek2]);
  const tenantId = admin.tenant.id;
  const cas = (await call(casRoute.GET, { token: viewerToken })).body.cas as { id: string; kind: string; source: string; certPem: string }[];
  const root = cas.find((c) => c.kind === 'root' && c.source === 'builtin')!;
  const oldIntermediate = cas.find((c) => c.kind === 'intermediate' && c.source === 'builtin')!;
  const notRoot = await call(caExportKeyRoute.POST, { token: adminToken, params: { id: oldIntermediate.id }, json: {} });
  assert.equal(notRoot.status, 400);
  const exported = await call(caExportKeyRoute.POST, { token: adminToken, params: { id: root.id }, json: { remove: true } });
  assert.equal(exported.status, 200, JSON.stringify(exported.body));
  const rootKeyPem: string = exported.body.keyPem;
  assert.ok(new X509Certificate(root.certPem).checkPrivateKey(createPrivateKey(rootKeyPem)));
  const after = (await call(casRoute.GET, { token: viewerToken })).body.cas.find((c: { id: string }) => c.id === root.id);
  assert.equal(after.keyOnline, false);
  assert.equal((await call(caExportKeyRoute.POST, { token: adminToken, params: { id: root.id }, json: {} })).status, 409, 'gone from the server');

  const without = await call(caIntermediateRoute.POST, { token: adminToken, json: {} });
  assert.equal(without.status, 400);
  assert.equal(without.body.error.issues[0].path, 'rootKeyPem');
  const stranger = await createRootCa({ commonName: 'stranger', organization: 'x', notBefore: new Date(), notAfter: new Date(Date.now() + 86400e3) });
  const wrongKey = await call(caIntermediateRoute.POST, { token: adminToken, json: { rootKeyPem: privateKeyPem(stranger.pkcs8) } });
  assert.equal(wrongKey.status, 400);
  assert.deepEqual(wrongKey.body.error.issues, [{ path: 'rootKeyPem', message: 'does not match the root certificate' }]);
  const rotated = await call(caIntermediateRoute.POST, { token: adminToken, json: { rootKeyPem } });
  assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
  assert.deepEqual(rotated.body.retiring.map((c: { id: string }) => c.id), [oldIntermediate.id]);
  assert.equal(rotated.body.root.keyOnline, false, 'the supplied root key was not stored');
  const bundle = await trustBundle(tdb.db, tenantId);
  assert.ok(bundle.includes(oldIntermediate.certPem) && bundle.includes(rotated.body.intermediate.certPem), 'trust overlap: old and new intermediates');

  // Retiring the old intermediate is refused while leaves it signed are active; reissuing moves them over.
  const refused = await call(caRetireRoute.POST, { token: adminToken, params: { id: oldIntermediate.id } });
  assert.equal(refused.status, 409);
  assert.match(refused.body.error.message, /certificate api-client/);
  for (const c of (await call(certificatesRoute.GET, { token: viewerToken, query: { status: 'active' } })).body.certificates as { name: string; caId: string }[]) {
    if (c.caId !== oldIntermediate.id) continue;
    const re = await reissueCertificate(tdb.db, box, tenantId, c.name, SYSTEM_ACTOR);
    verifyChain(re.certPem, re.chainPem, bundle);
    assert.ok(new X509Certificate(re.certPem).checkIssued(new X509Certificate(rotated.body.intermediate.certPem)));
  }
  const old = (await call(certificatesRoute.GET, { token: viewerToken, query: { name: 'api-client' } })).body.certificates as { status: string; supersededById: string | null }[];
  assert.deepEqual(old.map((c) => c.status).sort(), ['active', 'superseded']);
  const retired = await call(caRetireRoute.POST, { token: adminToken, params: { id: oldIntermediate.id } });
  assert.equal(retired.status, 200, JSON.stringify(retired.body));
  assert.equal(retired.body.ca.status, 'retired');
  assert.ok(!(await trustBundle(tdb.db, tenantId)).includes(oldIntermediate.certPem), 'the old intermediate left the trust bundle');
  const detail = await call(certificateRoute.GET, { token: viewerToken, params: { id: webId } });
  assert.equal(detail.body.certificate.status, 'revoked');
  assert.ok(!JSON.stringify(detail.body).includes('PRIVATE KEY'));
  // Nothing in the audit log carries key material; the export is recorded.
  const audit = await tdb.db.auditEntry.findMany({ where: { tenantId } });
  assert.ok(audit.some((e) => e.action === 'ca.export_key_and_remove'));
  assert.ok(!JSON.stringify(audit.map((e) => e.details)).includes('PRIVATE KEY'));
});
