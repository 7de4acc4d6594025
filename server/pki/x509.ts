/**
 * X.509 building blocks of the tenant CA, on @peculiar/x509 over node's WebCrypto: ECDSA P-384 keys, a root,
 * intermediates, leaves (server or client, DNS/IP/URI SANs), CRLs; plus parsing and validation of imported
 * PEM material with node:crypto's X509Certificate. Keys travel between functions as PKCS#8 DER (the bytes
 * the key box seals), never as PEM, except `privateKeyPem` for SDS delivery and the audited root export.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import type { Issue } from '../errors';

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const P384 = { name: 'ECDSA', namedCurve: 'P-384' } as const;

export interface CaKey {
  /** PKCS#8 DER. */
  pkcs8: Buffer;
}

export interface SignedCert {
  certPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** PKCS#8 DER of the new key pair's private key. */
  pkcs8: Buffer;
}

/** A random positive 128-bit serial as lowercase hex (RFC 5280: at most 20 octets, positive). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x10;
  return b.toString('hex');
}

async function generateP384(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(P384, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function pkcs8Of(key: CryptoKey): Promise<Buffer> {
  return Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
}

/** Imports a PKCS#8 private key for signing, with the signature algorithm that fits it. */
async function signingKeyOf(pkcs8: Buffer): Promise<{ key: CryptoKey; algorithm: EcdsaParams | Algorithm }> {
  const ko = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const der = new Uint8Array(pkcs8);
  if (ko.asymmetricKeyType === 'ec') {
    const curve = ko.asymmetricKeyDetails?.namedCurve;
    const named = curve === 'secp384r1' ? 'P-384' : curve === 'prime256v1' ? 'P-256' : curve === 'secp521r1' ? 'P-521' : undefined;
    if (!named) throw new Error(`unsupported EC curve ${curve ?? '?'}`);
    const hash = named === 'P-256' ? 'SHA-256' : named === 'P-384' ? 'SHA-384' : 'SHA-512';
    const key = await crypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: named }, false, ['sign']);
    return { key, algorithm: { name: 'ECDSA', hash } as EcdsaParams };
  }
  if (ko.asymmetricKeyType === 'rsa') {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const key = await crypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
    return { key, algorithm };
  }
  throw new Error(`unsupported key type ${ko.asymmetricKeyType ?? '?'}`);
}

const nameOf = (commonName: string, organization: string): x509.JsonName => [{ CN: [commonName] }, { O: [organization] }];

function certResult(cert: x509.X509Certificate, pkcs8: Buffer): SignedCert {
  return { certPem: `${cert.toString('pem').trimEnd()}\n`, serial: normaliseSerial(cert.serialNumber), notBefore: cert.notBefore, notAfter: cert.notAfter, pkcs8 };
}

/** A self-signed ECDSA P-384 root CA (path length 1: it signs intermediates only). */
export async function createRootCa(opts: { commonName: string; organization: string; notBefore: Date; notAfter: Date }): Promise<SignedCert> {
  const keys = await generateP384();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: nameOf(opts.commonName, opts.organization),
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return certResult(cert, await pkcs8Of(keys.privateKey));
}

/** An ECDSA P-384 intermediate CA signed by `issuer` (path length 0: it signs leaves only). */
export async function createIntermediateCa(
  issuer: { certPem: string; key: CaKey },
  opts: { commonName: string; organization: string; notBefore: Date; notAfter: Date },
): Promise<SignedCert> {
  const keys = await generateP384();
  const issuerCert = new x509.X509Certificate(issuer.certPem);
  const signer = await signingKeyOf(issuer.key.pkcs8);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: nameOf(opts.commonName, opts.organization),
    issuer: issuerCert.subject,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuerCert.publicKey),
    ],
  });
  return certResult(cert, await pkcs8Of(keys.privateKey));
}

export interface LeafSpec {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
  usage: 'server' | 'client';
  notBefore: Date;
  notAfter: Date;
}

/** An ECDSA P-384 leaf signed by `issuer`, with SANs and the extended key usage of `usage`. */
export async function createLeaf(issuer: { certPem: string; key: CaKey }, spec: LeafSpec): Promise<SignedCert> {
  const keys = await generateP384();
  const issuerCert = new x509.X509Certificate(issuer.certPem);
  const signer = await signingKeyOf(issuer.key.pkcs8);
  const sans: x509.JsonGeneralName[] = [
    ...spec.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...spec.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ...spec.uris.map((value) => ({ type: 'url' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [spec.commonName] }],
    issuer: issuerCert.subject,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([spec.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans)] : []),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuerCert.publicKey),
    ],
  });
  return certResult(cert, await pkcs8Of(keys.privateKey));
}

/** RFC 5280 reason codes we accept, by name. */
export const REVOCATION_REASONS = {
  unspecified: x509.X509CrlReason.unspecified,
  keyCompromise: x509.X509CrlReason.keyCompromise,
  caCompromise: x509.X509CrlReason.cACompromise,
  affiliationChanged: x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  cessationOfOperation: x509.X509CrlReason.cessationOfOperation,
  privilegeWithdrawn: x509.X509CrlReason.privilegeWithdrawn,
} as const;
export type RevocationReasonName = keyof typeof REVOCATION_REASONS;

/** DER INTEGER of a non-negative number (the CRL number extension's value). */
function derInteger(n: number): ArrayBuffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  const der = Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.length) as ArrayBuffer;
}

/** A CRL signed by the CA, listing `entries`, with a CRL number and the CA's key identifier. */
export async function createCrl(
  ca: { certPem: string; key: CaKey },
  opts: { crlNumber: number; thisUpdate: Date; nextUpdate: Date; entries: { serial: string; revokedAt: Date; reason: RevocationReasonName }[] },
): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const signer = await signingKeyOf(ca.key.pkcs8);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subject,
    thisUpdate: opts.thisUpdate,
    nextUpdate: opts.nextUpdate,
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
    entries: opts.entries.map((e) => ({ serialNumber: e.serial, revocationDate: e.revokedAt, reason: REVOCATION_REASONS[e.reason] })),
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey), new x509.Extension('2.5.29.20', false, derInteger(opts.crlNumber))],
  });
  // OpenSSL/BoringSSL (Envoy's `crl`) read only the `X509 CRL` PEM label; @peculiar writes `CRL`.
  return `${x509.PemConverter.encode(crl.rawData, 'X509 CRL')}\n`;
}

/** Serials (lowercase hex) listed in a CRL PEM. */
export function crlSerials(crlPem: string): string[] {
  return new x509.X509Crl(crlPem).entries.map((e) => e.serialNumber.toLowerCase());
}

export function privateKeyPem(pkcs8: Buffer): string {
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
}

// ---------------------------------------------------------------------------------------------------------
// Parsing and validation of imported PEM.

const CERT_PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export interface ParsedCert {
  pem: string;
  cert: NodeX509;
  serial: string;
  commonName: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
}

export function parseCert(pem: string): ParsedCert {
  const cert = new NodeX509(pem);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
  const sans = (cert.subjectAltName ?? '').split(/,\s*/).filter(Boolean);
  const pick = (prefix: string) => sans.filter((s) => s.startsWith(prefix)).map((s) => s.slice(prefix.length));
  return {
    pem: cert.toString(),
    cert,
    serial: normaliseSerial(cert.serialNumber),
    commonName: cn,
    subject: cert.subject.split('\n').join(', '),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    isCa: cert.ca,
    dnsNames: pick('DNS:'),
    ipAddresses: pick('IP Address:'),
    uris: pick('URI:'),
  };
}

/** Serial as stored: lowercase hex without leading zeros (node prints leading zeros, @peculiar may not). */
export function normaliseSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, '');
}

/** Every certificate in a PEM text; issues name `field` when there is none or one does not parse. */
function parsePemCerts(text: string, field: string, issues: Issue[]): ParsedCert[] {
  const blocks = text.match(CERT_PEM) ?? [];
  if (blocks.length === 0) {
    issues.push({ path: field, message: 'no PEM certificate ("-----BEGIN CERTIFICATE-----") found' });
    return [];
  }
  const out: ParsedCert[] = [];
  blocks.forEach((b, i) => {
    try {
      out.push(parseCert(b));
    } catch (err) {
      issues.push({ path: blocks.length > 1 ? `${field}[${i}]` : field, message: `not a readable X.509 certificate: ${(err as Error).message}` });
    }
  });
  return out;
}

function parsePrivateKey(text: string, field: string, issues: Issue[]): Buffer | undefined {
  if (!/-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(text)) {
    issues.push({ path: field, message: 'no PEM private key ("-----BEGIN PRIVATE KEY-----") found' });
    return undefined;
  }
  if (text.includes('ENCRYPTED PRIVATE KEY')) {
    issues.push({ path: field, message: 'an encrypted private key: decrypt it first (openssl pkey -in key.pem)' });
    return undefined;
  }
  try {
    const key = createPrivateKey({ key: text, format: 'pem' });
    if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'rsa') {
      issues.push({ path: field, message: `unsupported key type ${key.asymmetricKeyType ?? '?'} (EC or RSA)` });
      return undefined;
    }
    return key.export({ format: 'der', type: 'pkcs8' });
  } catch (err) {
    issues.push({ path: field, message: `not a readable private key: ${(err as Error).message}` });
    return undefined;
  }
}

function checkTime(c: ParsedCert, field: string, now: Date, issues: Issue[]): void {
  if (c.notAfter.getTime() <= now.getTime()) issues.push({ path: field, message: `expired on ${c.notAfter.toISOString()}` });
  else if (c.notBefore.getTime() > now.getTime()) issues.push({ path: field, message: `not valid before ${c.notBefore.toISOString()}` });
}

function keyMatches(cert: NodeX509, pkcs8: Buffer): boolean {
  const fromKey = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  return Buffer.from(cert.publicKey.export({ format: 'der', type: 'spki' })).equals(fromKey);
}

/** Whether `child` was issued and signed by `parent`. */
export function isIssuedBy(child: NodeX509, parent: NodeX509): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

export interface ValidatedCa {
  cert: ParsedCert;
  pkcs8: Buffer;
}

/** An external CA: one CA certificate and its private key; the issues name `certPem` / `keyPem`. */
export function validateCaImport(input: { certPem: string; keyPem: string }, now: Date): { ok: true; value: ValidatedCa } | { ok: false; issues: Issue[] } {
  const issues: Issue[] = [];
  const certs = parsePemCerts(input.certPem, 'certPem', issues);
  const pkcs8 = parsePrivateKey(input.keyPem, 'keyPem', issues);
  if (certs.length > 1) issues.push({ path: 'certPem', message: 'exactly one CA certificate expected' });
  const cert = certs[0];
  if (cert) {
    if (!cert.isCa) issues.push({ path: 'certPem', message: 'not a CA certificate (basicConstraints CA:FALSE or missing)' });
    checkTime(cert, 'certPem', now, issues);
    if (pkcs8 && !keyMatches(cert.cert, pkcs8)) issues.push({ path: 'keyPem', message: 'the private key does not match the certificate' });
  }
  if (issues.length > 0 || !cert || !pkcs8) return { ok: false, issues };
  return { ok: true, value: { cert, pkcs8 } };
}

export interface ValidatedLeaf {
  cert: ParsedCert;
  chain: ParsedCert[];
  pkcs8: Buffer;
}

/**
 * An external leaf: the certificate, its key and its chain (issuers, nearest first; at least one). Each link
 * must be signed by the next one; the anchor above the last may be external, so it is not required.
 */
export function validateLeafImport(
  input: { certPem: string; keyPem: string; chainPem: string },
  now: Date,
): { ok: true; value: ValidatedLeaf } | { ok: false; issues: Issue[] } {
  const issues: Issue[] = [];
  const leaves = parsePemCerts(input.certPem, 'certPem', issues);
  const pkcs8 = parsePrivateKey(input.keyPem, 'keyPem', issues);
  const chain = parsePemCerts(input.chainPem, 'chainPem', issues);
  if (leaves.length > 1) issues.push({ path: 'certPem', message: 'exactly one certificate expected (put its issuers in chainPem)' });
  const leaf = leaves[0];
  if (leaf) {
    if (leaf.isCa) issues.push({ path: 'certPem', message: 'a CA certificate, not a leaf (import it under /api/v1/cas/import)' });
    checkTime(leaf, 'certPem', now, issues);
    if (pkcs8 && !keyMatches(leaf.cert, pkcs8)) issues.push({ path: 'keyPem', message: 'the private key does not match the certificate' });
    let child = leaf;
    chain.forEach((c, i) => {
      const field = chain.length > 1 ? `chainPem[${i}]` : 'chainPem';
      if (!c.isCa) issues.push({ path: field, message: 'not a CA certificate' });
      checkTime(c, field, now, issues);
      if (!isIssuedBy(child.cert, c.cert)) issues.push({ path: field, message: `does not sign ${i === 0 ? 'the certificate' : `chainPem[${i - 1}]`} (wrong order or wrong issuer)` });
      child = c;
    });
  }
  if (issues.length > 0 || !leaf || !pkcs8) return { ok: false, issues };
  return { ok: true, value: { cert: leaf, chain, pkcs8 } };
}

/** PEM blocks of a text, one per certificate. */
export function splitPemCerts(text: string): string[] {
  return text.match(CERT_PEM) ?? [];
}
