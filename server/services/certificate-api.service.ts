/**
 * The certificate use cases behind /api/v1/certificates, /api/v1/cas and the CLI: a Principal acting in its
 * tenant (permission checked here too). Changes that proxies must see (a new or revoked leaf, a CA change)
 * re-publish the tenant's live revision so the new material, trust bundle and CRLs reach Envoy over SDS.
 */
import type { CaView, CertificateDetailView, CertificateStatus, CertificateView, ImportCaBody, ImportCertificateBody, IssueCertificateSpec, NewIntermediateBody, RevocationReason } from '../../contracts/certificate.schema';
import { appendAudit } from '../audit/audit.service';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import { findCa, findCertificate, listCas } from '../db/certificate.repo';
import type { DbTx } from '../db/tx';
import { notFound } from '../errors';
import { getLogger } from '../log';
import type { KeyBox } from '../pki/key-box';
import {
  createNewIntermediate,
  exportRootKey,
  importCa,
  importCertificate,
  issueCertificate,
  listCertificateUsers,
  listCertificateViews,
  retireCa,
  revokeCertificate,
  rewrapKeys,
  toCaView,
  toCertificateView,
} from './certificate.service';
import { refreshLiveSnapshots } from './publish.service';

/**
 * Re-publishes the live revision after a PKI change. The change itself is committed already: a failed
 * publish is logged (the next publish or rotation carries the material) rather than reported as a failed change.
 */
async function publishPkiChange(db: DbTx, principal: Principal): Promise<void> {
  try {
    await refreshLiveSnapshots(db, { tenantId: principal.tenant.id, actor: auditActorOf(principal) });
  } catch (err) {
    getLogger().warn({ err, tenantId: principal.tenant.id }, 'certificate change saved, but re-publishing the live revision failed');
  }
}


export async function listCertificatesFor(db: DbTx, principal: Principal, query: { expiringWithinHours?: number; status?: CertificateStatus; name?: string }): Promise<CertificateView[]> {
  requirePermission(principal, 'certificates.read');
  return listCertificateViews(db, principal.tenant.id, query);
}

export async function getCertificateFor(db: DbTx, principal: Principal, id: string): Promise<CertificateDetailView> {
  requirePermission(principal, 'certificates.read');
  const row = await findCertificate(db, principal.tenant.id, id);
  if (!row) throw notFound('certificate');
  return { ...toCertificateView(row, await listCertificateUsers(db, principal.tenant.id), new Date()), certPem: row.certPem, chainPem: row.chainPem };
}

export async function issueCertificateFor(db: DbTx, keyBox: KeyBox, principal: Principal, body: IssueCertificateSpec): Promise<CertificateDetailView> {
  requirePermission(principal, 'certificates.write');
  const issued = await issueCertificate(db, keyBox, principal.tenant.id, body, auditActorOf(principal));
  await publishPkiChange(db, principal);
  return getCertificateFor(db, principal, issued.id);
}

export async function importCertificateFor(db: DbTx, keyBox: KeyBox, principal: Principal, body: ImportCertificateBody): Promise<CertificateDetailView> {
  requirePermission(principal, 'certificates.write');
  const row = await importCertificate(db, keyBox, principal.tenant.id, body, auditActorOf(principal));
  await publishPkiChange(db, principal);
  return getCertificateFor(db, principal, row.id);
}

export async function revokeCertificateFor(db: DbTx, keyBox: KeyBox, principal: Principal, id: string, reason: RevocationReason): Promise<CertificateView> {
  requirePermission(principal, 'certificates.write');
  const view = await revokeCertificate(db, keyBox, principal.tenant.id, id, reason, auditActorOf(principal));
  await publishPkiChange(db, principal);
  return view;
}

export async function listCasFor(db: DbTx, principal: Principal): Promise<CaView[]> {
  requirePermission(principal, 'cas.read');
  return (await listCas(db, principal.tenant.id)).map(toCaView);
}

export async function getCaFor(db: DbTx, principal: Principal, id: string): Promise<CaView> {
  requirePermission(principal, 'cas.read');
  const ca = await findCa(db, principal.tenant.id, id);
  if (!ca) throw notFound('certificate authority');
  return toCaView(ca);
}

export async function importCaFor(db: DbTx, keyBox: KeyBox, principal: Principal, body: ImportCaBody): Promise<CaView> {
  requirePermission(principal, 'cas.manage');
  const ca = await importCa(db, keyBox, principal.tenant.id, body, auditActorOf(principal));
  await publishPkiChange(db, principal);
  return toCaView(ca);
}

export async function createNewIntermediateFor(db: DbTx, keyBox: KeyBox, principal: Principal, body: NewIntermediateBody): Promise<{ intermediate: CaView; root: CaView; retiring: CaView[] }> {
  requirePermission(principal, 'cas.manage');
  const r = await createNewIntermediate(db, keyBox, principal.tenant.id, body, auditActorOf(principal));
  await publishPkiChange(db, principal);
  return { intermediate: toCaView(r.intermediate), root: toCaView(r.root), retiring: r.retiring.map(toCaView) };
}

export async function retireCaFor(db: DbTx, principal: Principal, id: string): Promise<CaView> {
  requirePermission(principal, 'cas.manage');
  const ca = await retireCa(db, principal.tenant.id, id, auditActorOf(principal));
  await publishPkiChange(db, principal);
  return toCaView(ca);
}

export async function exportRootKeyFor(db: DbTx, keyBox: KeyBox, principal: Principal, id: string, remove: boolean): Promise<{ caId: string; keyPem: string; removed: boolean }> {
  requirePermission(principal, 'cas.manage');
  return exportRootKey(db, keyBox, principal.tenant.id, id, remove, auditActorOf(principal));
}

export async function rewrapKeysFor(db: DbTx, keyBox: KeyBox, principal: Principal): Promise<{ rewrapped: number; currentKid: string; keysByKid: Record<string, number> }> {
  requirePermission(principal, 'cas.manage');
  const result = await rewrapKeys(db, keyBox, principal.tenant.id);
  await appendAudit(db, { tenantId: principal.tenant.id, actor: auditActorOf(principal), action: 'pki.rewrap_keys', target: { type: 'tenant', id: principal.tenant.id }, details: result });
  return result;
}
