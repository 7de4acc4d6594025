/**
 * The tenant certificate authority (issue 8): a built-in ECDSA P-384 root and an intermediate that signs
 * leaves, created on first need; imported CAs and leaves; revocation with a CRL per CA; the trust bundle;
 * key-encryption-key rotation. Private keys exist in clear only inside these functions (signing) and in
 * `getCertificateMaterial` (SDS delivery by the xds process); at rest they are key-box envelopes bound to
 * their row. Every change is audited and announced on `proxyshard_pki` (pg_notify) for the xds process.
 *
 * Functions taking a `Principal` are the REST/CLI use cases (permission checked here too); the others are
 * what workers and the xds process call with a tenant id and an actor.
 */
import { randomUUID } from 'node:crypto';
import {
  defaultRenewBeforeSeconds,
  IssueCertificateBodySchema,
  type CaView,
  type CertificateStatus,
  type CertificateUsers,
  type CertificateView,
  type ImportCaBody,
  type ImportCertificateBody,
  type IssueCertificateBody,
  type IssueCertificateSpec,
  type NewIntermediateBody,
  type RevocationReason,
} from '../../contracts/certificate.schema';
import { appendAudit, type AuditActor } from '../audit/audit.service';
import {
  countKeysByKid,
  findActiveBuiltinCa,
  findActiveCertificateByName,
  findCa,
  findCaById,
  findCaKeyEnvelope,
  findCertificate,
  findCertificateByIssueKey,
  findCertificateKeyEnvelope,
  insertCa,
  insertCertificate,
  listCas,
  listCertificates,
  listKeysNotUnder,
  listRevokedByCa,
  lockTenantPki,
  notifyPkiChange,
  replaceKeyEnvelope,
  updateCa,
  updateCertificate,
  type CaRow,
  type CertificateRow,
} from '../db/certificate.repo';
import { findLiveRevision } from '../db/revision-read.repo';
import { findTenantById } from '../db/tenant.repo';
import { inTransaction, type DbTx, type Tx } from '../db/tx';
import { AppError, badRequest, conflict, notFound } from '../errors';
import type { KeyBox } from '../pki/key-box';
import {
  createCrl,
  createIntermediateCa,
  createLeaf,
  createRootCa,
  isIssuedBy,
  parseCert,
  privateKeyPem,
  validateCaImport,
  validateLeafImport,
  type CaKey,
  type RevocationReasonName,
  type SignedCert,
} from '../pki/x509';
import { createPrivateKey, createPublicKey } from 'node:crypto';

const DAY_MS = 86_400_000;
const ROOT_VALIDITY_MS = 10 * 365 * DAY_MS;
const INTERMEDIATE_VALIDITY_MS = 3 * 365 * DAY_MS;
/** Intermediates (online keys) publish short-lived CRLs; a root, whose key may go offline, a long one. */
const INTERMEDIATE_CRL_LIFETIME_MS = 7 * DAY_MS;
const ROOT_CRL_LIFETIME_MS = 365 * DAY_MS;
/** Certificates are back-dated a little so a peer with a slightly slow clock accepts them. */
const BACKDATE_MS = 5 * 60_000;
const ORGANIZATION = 'ProxyShard';

export const SYSTEM_ACTOR: AuditActor = { type: 'system', id: 'pki', name: 'certificate authority' };

const caAad = (id: string) => `certificate-authority:${id}`;
const certAad = (id: string) => `certificate:${id}`;

export interface IssuedCertificate {
  id: string;
  name: string;
  serial: string;
  certPem: string;
  /** The leaf's issuers, nearest first, without the root. */
  chainPem: string;
  notAfter: Date;
}

export interface CertificateMaterial {
  id: string;
  serial: string;
  /** Leaf followed by its issuers (what a TLS server or client presents). */
  certChainPem: string;
  privateKeyPem: string;
  notAfter: Date;
}

// ---------------------------------------------------------------------------------------------------------
// Views

export function certificateStatusOf(row: { status: string; notAfter: Date }, now: Date): CertificateStatus {
  if (row.status === 'active' && row.notAfter.getTime() <= now.getTime()) return 'expired';
  return row.status as CertificateStatus;
}

export function toCertificateView(row: CertificateRow, users: Map<string, CertificateUsers>, now: Date): CertificateView {
  return {
    id: row.id,
    name: row.name,
    source: row.source as CertificateView['source'],
    caId: row.caId,
    commonName: row.commonName,
    dnsNames: row.dnsNames,
    ipAddresses: row.ipAddresses,
    uris: row.uris,
    usage: row.usage as CertificateView['usage'],
    serial: row.serial,
    status: certificateStatusOf(row, now),
    notBefore: row.notBefore.toISOString(),
    notAfter: row.notAfter.toISOString(),
    validitySeconds: row.validitySeconds,
    renewBeforeSeconds: row.renewBeforeSeconds,
    renewAt: new Date(row.notAfter.getTime() - row.renewBeforeSeconds * 1000).toISOString(),
    secondsUntilExpiry: Math.floor((row.notAfter.getTime() - now.getTime()) / 1000),
    supersededById: row.supersededById,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    revocationReason: row.revocationReason,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    usedBy: users.get(row.name) ?? { listeners: [], clusters: [] },
  };
}

export function toCaView(ca: CaRow): CaView {
  return {
    id: ca.id,
    kind: ca.kind as CaView['kind'],
    source: ca.source as CaView['source'],
    parentId: ca.parentId,
    subject: ca.subject,
    serial: ca.serial,
    status: ca.status as CaView['status'],
    notBefore: ca.notBefore.toISOString(),
    notAfter: ca.notAfter.toISOString(),
    keyOnline: ca.keyKid !== null,
    crlNumber: ca.crlNumber,
    crlNextUpdate: ca.crlNextUpdate?.toISOString() ?? null,
    crlPath: crlPathOf(ca.id),
    certPem: ca.certPem,
    createdAt: ca.createdAt.toISOString(),
    retiredAt: ca.retiredAt?.toISOString() ?? null,
  };
}

/** The public URL path of a CA's CRL (GET, no credentials). */
export function crlPathOf(caId: string): string {
  return `/api/v1/cas/${caId}/crl`;
}

/** Listeners and clusters of the tenant's live route graph that reference each certificate name. */
export async function listCertificateUsers(db: DbTx, tenantId: string): Promise<Map<string, CertificateUsers>> {
  const users = new Map<string, CertificateUsers>();
  const live = await findLiveRevision(db, tenantId);
  if (!live) return users;
  const entry = (name: string) => {
    let u = users.get(name);
    if (!u) users.set(name, (u = { listeners: [], clusters: [] }));
    return u;
  };
  for (const l of live.graph.listeners) if (l.tls?.certificate) entry(l.tls.certificate).listeners.push(l.name);
  for (const c of live.graph.clusters) if (c.upstreamTls?.certificate) entry(c.upstreamTls.certificate).clusters.push(c.name);
  return users;
}

// ---------------------------------------------------------------------------------------------------------
// CA keys and CRLs

async function openCaKey(db: DbTx, keyBox: KeyBox, ca: CaRow): Promise<CaKey | null> {
  const envelope = await findCaKeyEnvelope(db, ca.id);
  return envelope ? { pkcs8: keyBox.open(envelope, caAad(ca.id)) } : null;
}

function crlLifetimeMs(ca: CaRow): number {
  return ca.kind === 'root' ? ROOT_CRL_LIFETIME_MS : INTERMEDIATE_CRL_LIFETIME_MS;
}

/** Signs a new CRL for the CA (CRL number + 1) listing its revoked certificates. */
async function regenerateCrl(tx: DbTx, ca: CaRow, key: CaKey, now: Date): Promise<CaRow> {
  const revoked = await listRevokedByCa(tx, ca.id);
  const nextUpdate = new Date(Math.min(now.getTime() + crlLifetimeMs(ca), ca.notAfter.getTime()));
  const crlNumber = ca.crlNumber + 1;
  const pem = await createCrl(
    { certPem: ca.certPem, key },
    {
      crlNumber,
      thisUpdate: new Date(now.getTime() - BACKDATE_MS),
      nextUpdate,
      entries: revoked.map((r) => ({ serial: r.serial, revokedAt: r.revokedAt, reason: (r.revocationReason ?? 'unspecified') as RevocationReasonName })),
    },
  );
  return updateCa(tx, ca.id, { crlPem: pem, crlNumber, crlThisUpdate: now, crlNextUpdate: nextUpdate });
}

function crlIsStale(ca: CaRow, now: Date): boolean {
  if (!ca.crlPem || !ca.crlNextUpdate) return true;
  return ca.crlNextUpdate.getTime() - now.getTime() < crlLifetimeMs(ca) / 2;
}

/** The CA's CRL, re-signed first when it is past half its lifetime and the CA key is online. */
async function freshCrl(db: DbTx, keyBox: KeyBox, ca: CaRow, now = new Date()): Promise<string> {
  if (crlIsStale(ca, now) && ca.keyKid !== null && ca.status !== 'retired') {
    ca = await inTransaction(db, async (tx) => {
      await lockTenantPki(tx, ca.tenantId);
      const current = (await findCa(tx, ca.tenantId, ca.id))!;
      if (!crlIsStale(current, now)) return current;
      const key = await openCaKey(tx, keyBox, current);
      if (!key) return current;
      const updated = await regenerateCrl(tx, current, key, now);
      await notifyPkiChange(tx, ca.tenantId);
      return updated;
    });
  }
  if (!ca.crlPem) throw new AppError('not_found', 'this CA has no CRL (its key is offline)');
  return ca.crlPem;
}

/** The current CRL of one of the tenant's CAs (PEM, `X509 CRL`). */
export async function crlPem(db: DbTx, keyBox: KeyBox, tenantId: string, caId: string): Promise<string> {
  const ca = await findCa(db, tenantId, caId);
  if (!ca) throw notFound('certificate authority');
  return freshCrl(db, keyBox, ca);
}

/** The CRL of a CA by id alone, for the public CRL endpoint (CRLs are public by design). */
export async function publicCrlPem(db: DbTx, keyBox: KeyBox, caId: string): Promise<string> {
  const ca = await findCaById(db, caId);
  if (!ca) throw notFound('certificate authority');
  return freshCrl(db, keyBox, ca);
}

/** Concatenated CRLs of every CA the tenant trusts now (Envoy's validation-context `crl`). */
export async function crlBundlePem(db: DbTx, keyBox: KeyBox, tenantId: string): Promise<string> {
  const out: string[] = [];
  for (const ca of await listCas(db, tenantId, ['active', 'retiring'])) {
    if (ca.crlPem || ca.keyKid !== null) out.push(await freshCrl(db, keyBox, ca));
  }
  return out.join('');
}

/** PEM of every CA certificate the tenant trusts now: active and retiring (during a CA rotation) CAs. */
export async function trustBundle(db: DbTx, tenantId: string): Promise<string> {
  return (await listCas(db, tenantId, ['active', 'retiring'])).map((c) => c.certPem).join('');
}

/** Re-signs every CRL of every tenant that is past half its lifetime (the scheduled expiry check calls it). */
export async function refreshStaleCrls(db: DbTx, keyBox: KeyBox, tenantIds: string[], now = new Date()): Promise<number> {
  let refreshed = 0;
  for (const tenantId of tenantIds) {
    for (const ca of await listCas(db, tenantId, ['active', 'retiring'])) {
      if (crlIsStale(ca, now) && ca.keyKid !== null) {
        await freshCrl(db, keyBox, ca, now);
        refreshed++;
      }
    }
  }
  return refreshed;
}

// ---------------------------------------------------------------------------------------------------------
// CA lifecycle

async function storeCa(
  tx: Tx,
  keyBox: KeyBox,
  input: { id: string; tenantId: string; kind: 'root' | 'intermediate'; source: 'builtin' | 'imported'; parentId: string | null; signed: SignedCert; now: Date },
): Promise<CaRow> {
  const parsed = parseCert(input.signed.certPem);
  const row = await insertCa(tx, {
    id: input.id,
    tenantId: input.tenantId,
    kind: input.kind,
    source: input.source,
    parentId: input.parentId,
    subject: parsed.subject,
    serial: input.signed.serial,
    certPem: input.signed.certPem,
    keyEnvelope: keyBox.seal(input.signed.pkcs8, caAad(input.id)),
    keyKid: keyBox.currentKid,
    notBefore: input.signed.notBefore,
    notAfter: input.signed.notAfter,
    status: 'active',
  });
  return regenerateCrl(tx, row, { pkcs8: input.signed.pkcs8 }, input.now);
}

/** Audits a CA change: its view after the change and the facts a reader looks for. */
async function auditCa(tx: Tx, tenantId: string, actor: AuditActor, action: string, ca: CaRow, details: Record<string, unknown> = {}): Promise<void> {
  await appendAudit(tx, {
    tenantId,
    actor,
    action,
    target: { type: 'certificate_authority', id: ca.id },
    after: toCaView(ca),
    details: { kind: ca.kind, subject: ca.subject, serial: ca.serial, ...details },
  });
}

async function tenantLabel(db: DbTx, tenantId: string): Promise<string> {
  const tenant = await findTenantById(db, tenantId);
  if (!tenant) throw notFound('tenant');
  return tenant.slug;
}

async function createBuiltinRoot(tx: Tx, keyBox: KeyBox, tenantId: string, now: Date): Promise<{ row: CaRow; key: CaKey }> {
  const slug = await tenantLabel(tx, tenantId);
  const signed = await createRootCa({
    commonName: `${slug} root CA ${now.toISOString().slice(0, 10)}`,
    organization: ORGANIZATION,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + ROOT_VALIDITY_MS),
  });
  const row = await storeCa(tx, keyBox, { id: randomUUID(), tenantId, kind: 'root', source: 'builtin', parentId: null, signed, now });
  return { row, key: { pkcs8: signed.pkcs8 } };
}

async function createBuiltinIntermediate(tx: Tx, keyBox: KeyBox, tenantId: string, root: { row: CaRow; key: CaKey }, now: Date): Promise<CaRow> {
  const slug = await tenantLabel(tx, tenantId);
  const signed = await createIntermediateCa(
    { certPem: root.row.certPem, key: root.key },
    {
      commonName: `${slug} intermediate CA ${now.toISOString().slice(0, 19)}`,
      organization: ORGANIZATION,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(Math.min(now.getTime() + INTERMEDIATE_VALIDITY_MS, root.row.notAfter.getTime())),
    },
  );
  return storeCa(tx, keyBox, { id: randomUUID(), tenantId, kind: 'intermediate', source: 'builtin', parentId: root.row.id, signed, now });
}

/**
 * The tenant's signing CA (its active built-in intermediate), creating the root and intermediate on first
 * need. Runs in the caller's transaction when given one.
 */
export async function ensureTenantCa(db: DbTx, keyBox: KeyBox, tenantId: string, actor: AuditActor = SYSTEM_ACTOR): Promise<CaRow> {
  const existing = await findActiveBuiltinCa(db, tenantId, 'intermediate');
  if (existing) return existing;
  return inTransaction(db, async (tx) => {
    await lockTenantPki(tx, tenantId);
    const again = await findActiveBuiltinCa(tx, tenantId, 'intermediate');
    if (again) return again;
    const now = new Date();
    let rootRow = await findActiveBuiltinCa(tx, tenantId, 'root');
    let root: { row: CaRow; key: CaKey };
    if (rootRow) {
      const key = await openCaKey(tx, keyBox, rootRow);
      if (!key) throw conflict('the root key is offline: create an intermediate with POST /api/v1/cas/intermediate and the root key (rootKeyPem)');
      root = { row: rootRow, key };
    } else {
      root = await createBuiltinRoot(tx, keyBox, tenantId, now);
      rootRow = root.row;
      await auditCa(tx, tenantId, actor, 'ca.create', rootRow);
    }
    const intermediate = await createBuiltinIntermediate(tx, keyBox, tenantId, root, now);
    await auditCa(tx, tenantId, actor, 'ca.create', intermediate, { parentId: rootRow.id });
    await notifyPkiChange(tx, tenantId);
    return intermediate;
  });
}

/** The PEM of the CA's issuers up to (not including) a self-signed root, nearest first, starting with `ca` itself. */
async function chainFrom(db: DbTx, tenantId: string, ca: CaRow): Promise<string> {
  const out: string[] = [];
  let cur: CaRow | null = ca;
  for (let depth = 0; cur && depth < 8; depth++) {
    if (cur.kind === 'root') break;
    out.push(cur.certPem);
    cur = cur.parentId ? await findCa(db, tenantId, cur.parentId) : null;
  }
  return out.join('');
}

/**
 * A new signing intermediate (CA rotation step 1). The root key comes from the server or, for an offline
 * root, from `rootKeyPem` (used in memory, never stored). `newRoot` creates a new root first. The previous
 * active CAs become `retiring`: still trusted (trust bundle, CRLs) until `retireCa`.
 */
export async function createNewIntermediate(db: DbTx, keyBox: KeyBox, tenantId: string, body: NewIntermediateBody, actor: AuditActor): Promise<{ intermediate: CaRow; root: CaRow; retiring: CaRow[] }> {
  return inTransaction(db, async (tx) => {
    await lockTenantPki(tx, tenantId);
    const now = new Date();
    const previous = (await listCas(tx, tenantId, ['active'])).filter((c) => c.source === 'builtin');
    let root: { row: CaRow; key: CaKey };
    const currentRoot = await findActiveBuiltinCa(tx, tenantId, 'root');
    if (body.newRoot || !currentRoot) {
      root = await createBuiltinRoot(tx, keyBox, tenantId, now);
      await auditCa(tx, tenantId, actor, 'ca.create', root.row);
    } else {
      let key = await openCaKey(tx, keyBox, currentRoot);
      if (!key) {
        if (!body.rootKeyPem) throw badRequest('the root key is offline: send it as rootKeyPem', [{ path: 'rootKeyPem', message: 'required while the root key is offline' }]);
        key = rootKeyFromPem(currentRoot, body.rootKeyPem);
      }
      root = { row: currentRoot, key };
    }
    const retiring: CaRow[] = [];
    for (const ca of previous) {
      if (ca.kind === 'intermediate' || (ca.kind === 'root' && ca.id !== root.row.id)) retiring.push(await updateCa(tx, ca.id, { status: 'retiring' }));
    }
    const intermediate = await createBuiltinIntermediate(tx, keyBox, tenantId, root, now);
    await auditCa(tx, tenantId, actor, 'ca.rotate', intermediate, { parentId: root.row.id, retiring: retiring.map((c) => c.id), rootKeySupplied: body.rootKeyPem !== undefined });
    await notifyPkiChange(tx, tenantId);
    return { intermediate, root: root.row, retiring };
  });
}

function rootKeyFromPem(root: CaRow, pem: string): CaKey {
  let pkcs8: Buffer;
  try {
    pkcs8 = createPrivateKey({ key: pem, format: 'pem' }).export({ format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw badRequest('rootKeyPem is not a readable private key', [{ path: 'rootKeyPem', message: (err as Error).message }]);
  }
  const fromKey = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  const fromCert = parseCert(root.certPem).cert.publicKey.export({ format: 'der', type: 'spki' });
  if (!Buffer.from(fromCert).equals(fromKey)) throw badRequest('rootKeyPem does not belong to the active root', [{ path: 'rootKeyPem', message: 'does not match the root certificate' }]);
  return { pkcs8 };
}

/** Takes a CA out of the trust bundle (CA rotation, last step). Refused while it has unexpired active leaves. */
export async function retireCa(db: DbTx, tenantId: string, caId: string, actor: AuditActor): Promise<CaRow> {
  return inTransaction(db, async (tx) => {
    await lockTenantPki(tx, tenantId);
    const ca = await findCa(tx, tenantId, caId);
    if (!ca) throw notFound('certificate authority');
    if (ca.status === 'retired') return ca;
    if (ca.status === 'active' && ca.kind === 'intermediate' && ca.source === 'builtin') {
      const others = (await listCas(tx, tenantId, ['active'])).filter((c) => c.kind === 'intermediate' && c.source === 'builtin' && c.id !== ca.id);
      if (others.length === 0) throw conflict('this is the signing intermediate: create a new one first (POST /api/v1/cas/intermediate)');
    }
    const now = new Date();
    const children = (await listCas(tx, tenantId, ['active', 'retiring'])).filter((c) => c.parentId === ca.id);
    const leaves = (await listCertificates(tx, tenantId, { statuses: ['active'], caId: ca.id })).filter((c) => c.notAfter > now);
    if (children.length > 0 || leaves.length > 0) {
      throw conflict(
        `still in use: ${[...children.map((c) => `CA ${c.subject}`), ...leaves.map((l) => `certificate ${l.name}`)].join(', ')} — reissue them under the new CA first`,
      );
    }
    const retired = await updateCa(tx, ca.id, { status: 'retired', retiredAt: now });
    await appendAudit(tx, { tenantId, actor, action: 'ca.retire', target: { type: 'certificate_authority', id: ca.id }, before: toCaView(ca), after: toCaView(retired) });
    await notifyPkiChange(tx, tenantId);
    return retired;
  });
}

/**
 * Exports the active root's private key (PEM) to an admin, audited; `remove` deletes it from the server
 * afterwards (offline root: a new intermediate then needs the key supplied). The root CRL is re-signed
 * first so it stays valid for its full lifetime while the key is away.
 */
export async function exportRootKey(db: DbTx, keyBox: KeyBox, tenantId: string, caId: string, remove: boolean, actor: AuditActor): Promise<{ caId: string; keyPem: string; removed: boolean }> {
  return inTransaction(db, async (tx) => {
    await lockTenantPki(tx, tenantId);
    const ca = await findCa(tx, tenantId, caId);
    if (!ca) throw notFound('certificate authority');
    if (ca.kind !== 'root') throw badRequest('only a root key can be exported', [{ path: 'id', message: 'not a root CA' }]);
    const key = await openCaKey(tx, keyBox, ca);
    if (!key) throw conflict('the root key is not on the server (already removed)');
    if (remove) {
      await regenerateCrl(tx, ca, key, new Date());
      await updateCa(tx, ca.id, { keyEnvelope: null, keyKid: null });
    }
    await appendAudit(tx, { tenantId, actor, action: remove ? 'ca.export_key_and_remove' : 'ca.export_key', target: { type: 'certificate_authority', id: ca.id }, details: { subject: ca.subject, serial: ca.serial, removed: remove } });
    return { caId: ca.id, keyPem: privateKeyPem(key.pkcs8), removed: remove };
  });
}

/** An external CA (certificate + key): trusted, and usable to sign leaves with `caId`. */
export async function importCa(db: DbTx, keyBox: KeyBox, tenantId: string, body: ImportCaBody, actor: AuditActor): Promise<CaRow> {
  const now = new Date();
  const checked = validateCaImport(body, now);
  if (!checked.ok) throw badRequest('the CA cannot be imported', checked.issues);
  const { cert, pkcs8 } = checked.value;
  return inTransaction(db, async (tx) => {
    await lockTenantPki(tx, tenantId);
    const selfSigned = isIssuedBy(cert.cert, cert.cert);
    const parent = selfSigned ? null : ((await listCas(tx, tenantId, ['active', 'retiring'])).find((c) => isIssuedBy(cert.cert, parseCert(c.certPem).cert)) ?? null);
    const row = await storeCa(tx, keyBox, {
      id: randomUUID(),
      tenantId,
      kind: selfSigned ? 'root' : 'intermediate',
      source: 'imported',
      parentId: parent?.id ?? null,
      signed: { certPem: cert.pem, serial: cert.serial, notBefore: cert.notBefore, notAfter: cert.notAfter, pkcs8 },
      now,
    });
    await auditCa(tx, tenantId, actor, 'ca.import', row);
    await notifyPkiChange(tx, tenantId);
    return row;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Leaves

async function supersedePrevious(tx: Tx, tenantId: string, name: string, newId: string): Promise<CertificateRow | null> {
  const previous = await findActiveCertificateByName(tx, tenantId, name);
  if (!previous) return null;
  return updateCertificate(tx, previous.id, { status: 'superseded', supersededById: newId });
}

/**
 * Issues a leaf from the tenant's CA (the active intermediate, created on first need, or `spec.caId`). The
 * name's previous active certificate becomes `superseded` (still valid; rotation revokes it after a grace
 * period). The private key is stored only as an envelope.
 */
export async function issueCertificate(
  db: DbTx,
  keyBox: KeyBox,
  tenantId: string,
  spec: IssueCertificateSpec | IssueCertificateBody,
  actor: AuditActor,
  opts: IssueOptions = {},
): Promise<IssuedCertificate> {
  const parsed = IssueCertificateBodySchema.safeParse(spec);
  if (!parsed.success) throw badRequest('invalid certificate request', parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  const s = parsed.data;
  if (!s.caId) await ensureTenantCa(db, keyBox, tenantId, actor);
  return inTransaction(db, async (tx) => {
    await lockTenantPki(tx, tenantId);
    if (opts.idempotencyKey) {
      const done = await findCertificateByIssueKey(tx, tenantId, opts.idempotencyKey);
      if (done) return issuedOf(done);
    }
    const ca = s.caId ? await findCa(tx, tenantId, s.caId) : await findActiveBuiltinCa(tx, tenantId, 'intermediate');
    if (!ca) throw s.caId ? badRequest('unknown CA', [{ path: 'caId', message: 'no such certificate authority' }]) : notFound('certificate authority');
    if (ca.status !== 'active') throw badRequest('this CA no longer signs', [{ path: 'caId', message: `the CA is ${ca.status}` }]);
    const key = await openCaKey(tx, keyBox, ca);
    if (!key) throw badRequest('this CA has no key on the server', [{ path: 'caId', message: 'the key is offline' }]);
    const now = new Date();
    const validitySeconds = Math.round(s.validityHours * 3600);
    const notAfter = new Date(Math.min(now.getTime() + validitySeconds * 1000, ca.notAfter.getTime()));
    const signed = await createLeaf(
      { certPem: ca.certPem, key },
      { commonName: s.commonName, dnsNames: s.dnsNames, ipAddresses: s.ipAddresses, uris: s.uris, usage: s.usage, notBefore: new Date(now.getTime() - BACKDATE_MS), notAfter },
    );
    const id = randomUUID();
    const previous = await supersedePrevious(tx, tenantId, s.name, id);
    const chainPem = await chainFrom(tx, tenantId, ca);
    const row = await insertCertificate(tx, {
      id,
      tenantId,
      name: s.name,
      caId: ca.id,
      source: 'builtin',
      commonName: s.commonName,
      dnsNames: s.dnsNames,
      ipAddresses: s.ipAddresses,
      uris: s.uris,
      usage: s.usage,
      serial: signed.serial,
      certPem: signed.certPem,
      chainPem,
      keyEnvelope: keyBox.seal(signed.pkcs8, certAad(id)),
      keyKid: keyBox.currentKid,
      notBefore: signed.notBefore,
      notAfter: signed.notAfter,
      validitySeconds,
      renewBeforeSeconds: s.renewBeforeHours !== undefined ? Math.round(s.renewBeforeHours * 3600) : defaultRenewBeforeSeconds(validitySeconds),
      status: 'active',
      createdBy: actor.name,
      issueKey: opts.idempotencyKey ?? null,
    });
    await appendAudit(tx, {
      tenantId,
      actor,
      action: 'certificate.issue',
      target: { type: 'certificate', id },
      after: { ...toCertificateView(row, new Map(), now), usedBy: undefined },
      details: { name: s.name, serial: row.serial, caId: ca.id, notAfter: row.notAfter, supersedes: previous ? { id: previous.id, serial: previous.serial } : null },
    });
    await notifyPkiChange(tx, tenantId);
    return issuedOf(row);
  });
}

function issuedOf(row: CertificateRow): IssuedCertificate {
  return { id: row.id, name: row.name, serial: row.serial, certPem: row.certPem, chainPem: row.chainPem, notAfter: row.notAfter };
}

export interface IssueOptions {
  /** A retried call with the same key returns the certificate the first call issued (no second leaf). */
  idempotencyKey?: string;
}

/** A new leaf for `name` with the same subject, SANs, usage and lifetimes, from the tenant's current signing CA. */
export async function reissueCertificate(db: DbTx, keyBox: KeyBox, tenantId: string, name: string, actor: AuditActor, opts: IssueOptions = {}): Promise<IssuedCertificate> {
  if (opts.idempotencyKey) {
    const done = await findCertificateByIssueKey(db, tenantId, opts.idempotencyKey);
    if (done) return issuedOf(done);
  }
  const current = await findActiveCertificateByName(db, tenantId, name);
  if (!current) throw notFound(`active certificate "${name}"`);
  if (current.source !== 'builtin') throw conflict(`certificate "${name}" was imported: import its successor instead`);
  const signing = await findCa(db, tenantId, current.caId ?? '');
  const caId = signing && signing.status === 'active' && signing.source === 'imported' ? signing.id : undefined;
  return issueCertificate(
    db,
    keyBox,
    tenantId,
    {
      name,
      commonName: current.commonName,
      dnsNames: current.dnsNames,
      ipAddresses: current.ipAddresses,
      uris: current.uris,
      usage: current.usage as 'server' | 'client',
      validityHours: current.validitySeconds / 3600,
      renewBeforeHours: current.renewBeforeSeconds / 3600,
      ...(caId ? { caId } : {}),
    },
    actor,
    opts,
  );
}

/** Imports an external leaf (validated: key matches, chain links verify, nothing expired). */
export async function importCertificate(db: DbTx, keyBox: KeyBox, tenantId: string, body: ImportCertificateBody, actor: AuditActor): Promise<CertificateRow> {
  const now = new Date();
  const checked = validateLeafImport(body, now);
  if (!checked.ok) throw badRequest('the certificate cannot be imported', checked.issues);
  const { cert, chain, pkcs8 } = checked.value;
  const validitySeconds = Math.max(1, Math.floor((cert.notAfter.getTime() - cert.notBefore.getTime()) / 1000));
  const renewBeforeSeconds = body.renewBeforeHours !== undefined ? Math.round(body.renewBeforeHours * 3600) : defaultRenewBeforeSeconds(validitySeconds);
  if (renewBeforeSeconds >= validitySeconds) throw badRequest('invalid renewBeforeHours', [{ path: 'renewBeforeHours', message: 'must be less than the certificate lifetime' }]);
  return inTransaction(db, async (tx) => {
    await lockTenantPki(tx, tenantId);
    const issuer = (await listCas(tx, tenantId, ['active', 'retiring'])).find((c) => isIssuedBy(cert.cert, parseCert(c.certPem).cert)) ?? null;
    const id = randomUUID();
    const previous = await supersedePrevious(tx, tenantId, body.name, id);
    const row = await insertCertificate(tx, {
      id,
      tenantId,
      name: body.name,
      caId: issuer?.id ?? null,
      source: 'imported',
      commonName: cert.commonName,
      dnsNames: cert.dnsNames,
      ipAddresses: cert.ipAddresses,
      uris: cert.uris,
      usage: body.usage,
      serial: cert.serial,
      certPem: cert.pem,
      chainPem: chain.filter((c) => !isIssuedBy(c.cert, c.cert)).map((c) => c.pem).join(''),
      keyEnvelope: keyBox.seal(pkcs8, certAad(id)),
      keyKid: keyBox.currentKid,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      validitySeconds,
      renewBeforeSeconds,
      status: 'active',
      createdBy: actor.name,
    });
    await appendAudit(tx, {
      tenantId,
      actor,
      action: 'certificate.import',
      target: { type: 'certificate', id },
      details: { name: body.name, serial: row.serial, issuerCaId: issuer?.id ?? null, notAfter: row.notAfter, supersedes: previous ? { id: previous.id, serial: previous.serial } : null },
    });
    await notifyPkiChange(tx, tenantId);
    return row;
  });
}

/** Revokes a certificate and re-signs its CA's CRL in the same transaction. */
export async function revokeCertificate(db: DbTx, keyBox: KeyBox, tenantId: string, id: string, reason: RevocationReason, actor: AuditActor): Promise<CertificateView> {
  return inTransaction(db, async (tx) => {
    await lockTenantPki(tx, tenantId);
    const cert = await findCertificate(tx, tenantId, id);
    if (!cert) throw notFound('certificate');
    if (cert.status === 'revoked') throw conflict(`certificate ${cert.serial} is already revoked`);
    const now = new Date();
    const revoked = await updateCertificate(tx, id, { status: 'revoked', revokedAt: now, revocationReason: reason });
    let crlNumber: number | null = null;
    if (cert.caId) {
      const ca = await findCa(tx, tenantId, cert.caId);
      const key = ca && (await openCaKey(tx, keyBox, ca));
      if (ca && key) crlNumber = (await regenerateCrl(tx, ca, key, now)).crlNumber;
    }
    await appendAudit(tx, {
      tenantId,
      actor,
      action: 'certificate.revoke',
      target: { type: 'certificate', id },
      details: { name: cert.name, serial: cert.serial, reason, caId: cert.caId, crlNumber },
    });
    await notifyPkiChange(tx, tenantId);
    return toCertificateView(revoked, await listCertificateUsers(tx, tenantId), now);
  });
}

/**
 * Undoes a rotation that failed: the superseded `oldId` becomes active again and the name's current active
 * certificate (its successor) becomes superseded (the caller revokes it). Refused when `oldId` is revoked.
 */
export async function reinstateCertificate(db: DbTx, tenantId: string, oldId: string, actor: AuditActor): Promise<CertificateRow> {
  return inTransaction(db, async (tx) => {
    await lockTenantPki(tx, tenantId);
    const old = await findCertificate(tx, tenantId, oldId);
    if (!old) throw notFound('certificate');
    if (old.status === 'active') return old;
    if (old.status !== 'superseded') throw conflict(`certificate ${old.serial} is ${old.status} and cannot be reinstated`);
    const current = await findActiveCertificateByName(tx, tenantId, old.name);
    if (current) await updateCertificate(tx, current.id, { status: 'superseded', supersededById: old.id });
    const restored = await updateCertificate(tx, old.id, { status: 'active', supersededById: null });
    await appendAudit(tx, {
      tenantId,
      actor,
      action: 'certificate.reinstate',
      target: { type: 'certificate', id: old.id },
      details: { name: old.name, reinstated: old.serial, superseded: current ? { id: current.id, serial: current.serial } : null },
    });
    await notifyPkiChange(tx, tenantId);
    return restored;
  });
}

/**
 * What a proxy needs for the name's active certificate: leaf + chain and the private key in PEM. Decrypts:
 * call it only where the key is sent on (SDS in the xds process) or used.
 */
export async function getCertificateMaterial(db: DbTx, keyBox: KeyBox, tenantId: string, certificateName: string): Promise<CertificateMaterial | null> {
  const cert = await findActiveCertificateByName(db, tenantId, certificateName);
  return cert && materialOf(db, keyBox, cert);
}

/** Material of one certificate version by id (any status but revoked: a superseded leaf is served until the next snapshot lands). */
export async function getCertificateMaterialById(db: DbTx, keyBox: KeyBox, tenantId: string, certificateId: string): Promise<CertificateMaterial | null> {
  const cert = await findCertificate(db, tenantId, certificateId);
  if (!cert || cert.status === 'revoked') return null;
  return materialOf(db, keyBox, cert);
}

async function materialOf(db: DbTx, keyBox: KeyBox, cert: CertificateRow): Promise<CertificateMaterial | null> {
  const envelope = await findCertificateKeyEnvelope(db, cert.id);
  if (!envelope) return null;
  return {
    id: cert.id,
    serial: cert.serial,
    certChainPem: cert.certPem + cert.chainPem,
    privateKeyPem: privateKeyPem(keyBox.open(envelope, certAad(cert.id))),
    notAfter: cert.notAfter,
  };
}

export async function findActiveCertificate(db: DbTx, tenantId: string, name: string): Promise<CertificateView | null> {
  const row = await findActiveCertificateByName(db, tenantId, name);
  return row && toCertificateView(row, await listCertificateUsers(db, tenantId), new Date());
}

/** Certificates of the tenant, optionally only active ones expiring within `expiringWithinHours`. */
export async function listCertificateViews(
  db: DbTx,
  tenantId: string,
  query: { expiringWithinHours?: number; status?: CertificateStatus; name?: string } = {},
  now = new Date(),
): Promise<CertificateView[]> {
  const rows = await listCertificates(db, tenantId, {
    ...(query.expiringWithinHours !== undefined ? { statuses: ['active'], notAfterBefore: new Date(now.getTime() + query.expiringWithinHours * 3600_000) } : {}),
    ...(query.name ? { name: query.name } : {}),
  });
  const users = await listCertificateUsers(db, tenantId);
  const views = rows.map((r) => toCertificateView(r, users, now));
  const filtered = query.status ? views.filter((v) => v.status === query.status) : views;
  return query.expiringWithinHours !== undefined ? filtered.sort((a, b) => a.secondsUntilExpiry - b.secondsUntilExpiry) : filtered;
}

// ---------------------------------------------------------------------------------------------------------
// Key-encryption-key rotation

/**
 * Re-seals every stored private key (of one tenant, or all when tenantId is undefined) that is not under the
 * key box's current key. Idempotent; each row is replaced only if unchanged since it was read.
 */
export async function rewrapKeys(db: DbTx, keyBox: KeyBox, tenantId?: string): Promise<{ rewrapped: number; currentKid: string; keysByKid: Record<string, number> }> {
  let rewrapped = 0;
  for (const row of await listKeysNotUnder(db, keyBox.currentKid, tenantId)) {
    const aad = row.table === 'certificate' ? certAad(row.id) : caAad(row.id);
    const plain = keyBox.open(row.keyEnvelope, aad);
    if (await replaceKeyEnvelope(db, row, keyBox.seal(plain, aad), keyBox.currentKid)) rewrapped++;
    plain.fill(0);
  }
  return { rewrapped, currentKid: keyBox.currentKid, keysByKid: await countKeysByKid(db, tenantId) };
}
