/**
 * Certificate authorities and certificates (prisma/pki.prisma); always filtered by tenant, except the public
 * CRL lookup by CA id. Rows come back without their key envelopes: only `findCaKeyEnvelope`,
 * `findCertificateKeyEnvelope` and the rewrap helpers read those.
 */
import type { Prisma } from './generated/client';
import type { DbTx, Tx } from './tx';
import { isUuid } from './tx';

export interface CaRow {
  id: string;
  tenantId: string;
  kind: string;
  source: string;
  parentId: string | null;
  subject: string;
  serial: string;
  certPem: string;
  keyKid: string | null;
  notBefore: Date;
  notAfter: Date;
  status: string;
  crlNumber: number;
  crlPem: string | null;
  crlThisUpdate: Date | null;
  crlNextUpdate: Date | null;
  createdAt: Date;
  retiredAt: Date | null;
}

const caSelect = {
  id: true,
  tenantId: true,
  kind: true,
  source: true,
  parentId: true,
  subject: true,
  serial: true,
  certPem: true,
  keyKid: true,
  notBefore: true,
  notAfter: true,
  status: true,
  crlNumber: true,
  crlPem: true,
  crlThisUpdate: true,
  crlNextUpdate: true,
  createdAt: true,
  retiredAt: true,
} as const;

/** Serialises the PKI writes of one tenant (CA creation, issuing, revocation) until the transaction ends. */
export async function lockTenantPki(tx: Tx, tenantId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`pki:${tenantId}`}))`;
}

/** Tells LISTENers (the xds process) that a tenant's certificates, trust or CRLs changed. */
export async function notifyPkiChange(tx: DbTx, tenantId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_notify('proxyshard_pki', ${tenantId})`;
}

export async function insertCa(db: DbTx, data: Prisma.CertificateAuthorityUncheckedCreateInput): Promise<CaRow> {
  return db.certificateAuthority.create({ data, select: caSelect });
}

export async function updateCa(db: DbTx, id: string, data: Prisma.CertificateAuthorityUncheckedUpdateInput): Promise<CaRow> {
  return db.certificateAuthority.update({ where: { id }, data, select: caSelect });
}

export async function listCas(db: DbTx, tenantId: string, statuses?: string[]): Promise<CaRow[]> {
  return db.certificateAuthority.findMany({
    where: { tenantId, ...(statuses ? { status: { in: statuses } } : {}) },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    select: caSelect,
  });
}

export async function findCa(db: DbTx, tenantId: string, id: string): Promise<CaRow | null> {
  if (!isUuid(id)) return null;
  return db.certificateAuthority.findFirst({ where: { id, tenantId }, select: caSelect });
}

/** A CA by id alone: only for public material (certificate, CRL). */
export async function findCaById(db: DbTx, id: string): Promise<CaRow | null> {
  if (!isUuid(id)) return null;
  return db.certificateAuthority.findUnique({ where: { id }, select: caSelect });
}

/** The tenant's newest active built-in CA of `kind` whose key is online. */
export async function findActiveBuiltinCa(db: DbTx, tenantId: string, kind: 'root' | 'intermediate'): Promise<CaRow | null> {
  return db.certificateAuthority.findFirst({
    where: { tenantId, kind, source: 'builtin', status: 'active' },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    select: caSelect,
  });
}

export async function findCaKeyEnvelope(db: DbTx, id: string): Promise<string | null> {
  return (await db.certificateAuthority.findUnique({ where: { id }, select: { keyEnvelope: true } }))?.keyEnvelope ?? null;
}

export interface CertificateRow {
  id: string;
  tenantId: string;
  name: string;
  caId: string | null;
  source: string;
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
  usage: string;
  serial: string;
  certPem: string;
  chainPem: string;
  keyKid: string;
  notBefore: Date;
  notAfter: Date;
  validitySeconds: number;
  renewBeforeSeconds: number;
  status: string;
  supersededById: string | null;
  revokedAt: Date | null;
  revocationReason: string | null;
  createdBy: string;
  createdAt: Date;
}

const certSelect = {
  id: true,
  tenantId: true,
  name: true,
  caId: true,
  source: true,
  commonName: true,
  dnsNames: true,
  ipAddresses: true,
  uris: true,
  usage: true,
  serial: true,
  certPem: true,
  chainPem: true,
  keyKid: true,
  notBefore: true,
  notAfter: true,
  validitySeconds: true,
  renewBeforeSeconds: true,
  status: true,
  supersededById: true,
  revokedAt: true,
  revocationReason: true,
  createdBy: true,
  createdAt: true,
} as const;

export async function insertCertificate(db: DbTx, data: Prisma.CertificateUncheckedCreateInput): Promise<CertificateRow> {
  return db.certificate.create({ data, select: certSelect });
}

export async function updateCertificate(db: DbTx, id: string, data: Prisma.CertificateUncheckedUpdateInput): Promise<CertificateRow> {
  return db.certificate.update({ where: { id }, data, select: certSelect });
}

export async function findCertificate(db: DbTx, tenantId: string, id: string): Promise<CertificateRow | null> {
  if (!isUuid(id)) return null;
  return db.certificate.findFirst({ where: { id, tenantId }, select: certSelect });
}

export async function findCertificateByIssueKey(db: DbTx, tenantId: string, issueKey: string): Promise<CertificateRow | null> {
  return db.certificate.findUnique({ where: { tenantId_issueKey: { tenantId, issueKey } }, select: certSelect });
}

/** The `active` certificate of a name (newest, should there ever be two). */
export async function findActiveCertificateByName(db: DbTx, tenantId: string, name: string): Promise<CertificateRow | null> {
  return db.certificate.findFirst({ where: { tenantId, name, status: 'active' }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], select: certSelect });
}

export async function listCertificates(
  db: DbTx,
  tenantId: string,
  filter: { statuses?: string[]; name?: string; notAfterBefore?: Date; caId?: string } = {},
): Promise<CertificateRow[]> {
  return db.certificate.findMany({
    where: {
      tenantId,
      ...(filter.statuses ? { status: { in: filter.statuses } } : {}),
      ...(filter.name ? { name: filter.name } : {}),
      ...(filter.caId ? { caId: filter.caId } : {}),
      ...(filter.notAfterBefore ? { notAfter: { lt: filter.notAfterBefore } } : {}),
    },
    orderBy: [{ name: 'asc' }, { createdAt: 'desc' }, { id: 'asc' }],
    select: certSelect,
  });
}

/** Active certificates of every tenant (the expiry gauges and the scheduled expiry check). */
export async function listAllActiveCertificates(db: DbTx): Promise<CertificateRow[]> {
  return db.certificate.findMany({ where: { status: 'active' }, orderBy: [{ tenantId: 'asc' }, { name: 'asc' }], select: certSelect });
}

export async function listRevokedByCa(db: DbTx, caId: string): Promise<{ serial: string; revokedAt: Date; revocationReason: string | null }[]> {
  const rows = await db.certificate.findMany({
    where: { caId, status: 'revoked' },
    orderBy: [{ revokedAt: 'asc' }, { id: 'asc' }],
    select: { serial: true, revokedAt: true, revocationReason: true },
  });
  return rows.map((r) => ({ serial: r.serial, revokedAt: r.revokedAt ?? new Date(0), revocationReason: r.revocationReason }));
}

export async function findCertificateKeyEnvelope(db: DbTx, id: string): Promise<string | null> {
  return (await db.certificate.findUnique({ where: { id }, select: { keyEnvelope: true } }))?.keyEnvelope ?? null;
}

export interface SealedKeyRow {
  table: 'certificate' | 'certificateAuthority';
  id: string;
  keyEnvelope: string;
}

/** Key envelopes (of one tenant, or all) not sealed under `currentKid`. */
export async function listKeysNotUnder(db: DbTx, currentKid: string, tenantId?: string): Promise<SealedKeyRow[]> {
  const where = { keyKid: { not: currentKid }, ...(tenantId ? { tenantId } : {}) };
  const certs = await db.certificate.findMany({ where, select: { id: true, keyEnvelope: true } });
  const cas = await db.certificateAuthority.findMany({ where: { ...where, keyEnvelope: { not: null } }, select: { id: true, keyEnvelope: true } });
  return [
    ...cas.map((c) => ({ table: 'certificateAuthority' as const, id: c.id, keyEnvelope: c.keyEnvelope! })),
    ...certs.map((c) => ({ table: 'certificate' as const, id: c.id, keyEnvelope: c.keyEnvelope })),
  ];
}

/** Replaces an envelope only if it is still the one that was read (a concurrent rewrap wins once). */
export async function replaceKeyEnvelope(db: DbTx, row: SealedKeyRow, envelope: string, kid: string): Promise<boolean> {
  const where = { id: row.id, keyEnvelope: row.keyEnvelope };
  const { count } =
    row.table === 'certificate'
      ? await db.certificate.updateMany({ where, data: { keyEnvelope: envelope, keyKid: kid } })
      : await db.certificateAuthority.updateMany({ where, data: { keyEnvelope: envelope, keyKid: kid } });
  return count === 1;
}

/** Counts of stored keys by key id (what a key rotation still has to move). */
export async function countKeysByKid(db: DbTx, tenantId?: string): Promise<Record<string, number>> {
  const where = tenantId ? { tenantId } : {};
  const out: Record<string, number> = {};
  for (const g of await db.certificate.groupBy({ by: ['keyKid'], where, _count: { _all: true } })) out[g.keyKid] = (out[g.keyKid] ?? 0) + g._count._all;
  for (const g of await db.certificateAuthority.groupBy({ by: ['keyKid'], where: { ...where, keyKid: { not: null } }, _count: { _all: true } })) {
    out[g.keyKid!] = (out[g.keyKid!] ?? 0) + g._count._all;
  }
  return out;
}

/** Active and retiring CAs of every tenant (expiry gauges). */
export async function listAllTrustedCas(db: DbTx): Promise<CaRow[]> {
  return db.certificateAuthority.findMany({ where: { status: { in: ['active', 'retiring'] } }, orderBy: [{ tenantId: 'asc' }, { createdAt: 'asc' }], select: caSelect });
}

/** Tenant id → slug, for metric labels and notifications. */
export async function tenantSlugs(db: DbTx, ids: string[]): Promise<Map<string, string>> {
  const rows = await db.tenant.findMany({ where: { id: { in: [...new Set(ids)] } }, select: { id: true, slug: true } });
  return new Map(rows.map((r) => [r.id, r.slug]));
}
