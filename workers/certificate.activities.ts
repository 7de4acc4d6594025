/**
 * Activities of certRotationWorkflow (issue 8), from createCertificateActivities(deps).
 *
 * Idempotency: issuing is keyed by `${workflowId}:${runId}:${attempt}` (a retried or crashed attempt gets the
 * leaf the first call issued, never a second one); publishing re-publishes the live revision (content-hashed,
 * so a repeat changes nothing); revoking skips a certificate that is already revoked; a rollback whose new
 * leaf is already revoked only re-activates the old one.
 *
 * Failure policy: domain errors (no such certificate, an imported one that cannot be reissued, a failed
 * handshake check) are non-retryable ApplicationFailures; anything else (database, network) is retried.
 */
import { X509Certificate } from 'node:crypto';
import { connect, checkServerIdentity, type PeerCertificate } from 'node:tls';
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  CERT_ROTATION_ATTEMPT_AUDIT,
  HANDSHAKE_CHECK_FAILED,
  type CertificateActivities,
  type CertificateVersionInfo,
  type MaterialPublished,
  type ServedCertificateCheck,
} from '../contracts/cert-rotation.schema';
import { RouteGraphSchema } from '../contracts/route-graph.schema';
import type { Actor } from '../contracts/workflows.schema';
import { appendAudit } from '../server/audit/audit.service';
import { findActiveCertificateByName, findCertificate } from '../server/db/certificate.repo';
import type { Db } from '../server/db/client';
import { findLiveRevision } from '../server/db/revision-read.repo';
import { listProxyAdminUrls } from '../server/db/rollout.repo';
import { isAppError } from '../server/errors';
import { getAppKeyBox, type KeyBox } from '../server/pki/key-box';
import { normaliseSerial } from '../server/pki/x509';
import { reinstateCertificate, reissueCertificate, revokeCertificate, trustBundle, type IssuedCertificate } from '../server/services/certificate.service';
import { refreshLiveSnapshots } from '../server/services/publish.service';

/** server/services/certificate.service.ts reissueCertificate (tests may wrap it to inject bad material). */
export type ReissueFn = (db: Db, keyBox: KeyBox, tenantId: string, name: string, actor: Actor, opts: { idempotencyKey: string }) => Promise<IssuedCertificate>;

export interface CertificateActivityDeps {
  db: Db;
  /** Default: the process-wide key box (server/pki/key-box.ts). */
  keyBox?: () => KeyBox;
  reissue?: ReissueFn;
  /** Handshake attempts per listener before the check fails (Envoy applies an ACKed secret to new connections); default 10, 300 ms apart. */
  handshakeAttempts?: number;
}

const HANDSHAKE_TIMEOUT_MS = 5_000;

export function createCertificateActivities(deps: CertificateActivityDeps): CertificateActivities {
  const { db } = deps;
  const keyBox = deps.keyBox ?? getAppKeyBox;
  const reissue = deps.reissue ?? reissueCertificate;
  const handshakeAttempts = deps.handshakeAttempts ?? 10;

  const published = async (tenantId: string, actor: Actor): Promise<MaterialPublished> => {
    const r = await domain(() => refreshLiveSnapshots(db, { tenantId, actor }));
    return r === null ? { revisionId: null, snapshots: [] } : { revisionId: r.revisionId, snapshots: r.snapshots };
  };

  return {
    async currentCertificate({ tenantId, certificateName }): Promise<CertificateVersionInfo> {
      const cert = await findActiveCertificateByName(db, tenantId, certificateName);
      if (cert === null) throw ApplicationFailure.nonRetryable(`certificate "${certificateName}" has no active version to rotate`, 'CertificateNotFound');
      return { id: cert.id, serial: cert.serial };
    },

    async issueRotatedCertificate({ tenantId, certificateName, idempotencyKey, actor }): Promise<CertificateVersionInfo> {
      const issued = await domain(() => reissue(db, keyBox(), tenantId, certificateName, actor, { idempotencyKey }));
      return { id: issued.id, serial: issued.serial };
    },

    publishCertificateMaterial: ({ tenantId, actor }) => published(tenantId, actor),

    async verifyServedCertificate({ tenantId, certificateName, expectedSerial }): Promise<ServedCertificateCheck[]> {
      const cert = await findActiveCertificateByName(db, tenantId, certificateName);
      const live = await findLiveRevision(db, tenantId);
      if (cert === null || live === null) return [];
      const graph = RouteGraphSchema.parse(live.graph);
      const ca = await trustBundle(db, tenantId);
      const servername = cert.dnsNames[0];
      const identity = servername ?? cert.ipAddresses[0] ?? cert.commonName;
      const checks: ServedCertificateCheck[] = [];
      for (const group of graph.nodeGroups) {
        if (group.kind === 'grpc') continue;
        const listeners = graph.listeners.filter((l) => group.listeners.includes(l.name) && l.tls?.certificate === certificateName);
        if (listeners.length === 0) continue;
        const proxyHosts = (await listProxyAdminUrls(db, tenantId, [group.name])).flatMap((p) => (p.adminUrl === null ? [] : [new URL(p.adminUrl).hostname.replace(/^\[|\]$/g, '')]));
        for (const listener of listeners) {
          const hosts = isWildcard(listener.address) ? [...new Set(proxyHosts.length > 0 ? proxyHosts : [loopbackFor(listener.address)])] : [listener.address];
          for (const host of hosts) {
            let last: ServedCertificateCheck | undefined;
            let lastError = '';
            for (let i = 0; i < handshakeAttempts; i++) {
              Context.current().heartbeat({ listener: listener.name, host, i });
              try {
                const peer = await handshake(host, listener.port, servername, ca);
                const identityError = checkServerIdentity(identity, peer.cert);
                last = {
                  listener: listener.name,
                  host,
                  port: listener.port,
                  servername: servername ?? '',
                  serial: normaliseSerial(peer.cert.serialNumber),
                  chainVerified: peer.authorized && identityError === undefined,
                };
                lastError = peer.authorized ? (identityError?.message ?? '') : `chain not verified: ${peer.authorizationError}`;
                if (last.serial === normaliseSerial(expectedSerial) && last.chainVerified) break;
              } catch (err) {
                lastError = err instanceof Error ? err.message : String(err);
              }
              await new Promise((r) => setTimeout(r, 300));
            }
            if (last === undefined || last.serial !== normaliseSerial(expectedSerial) || !last.chainVerified) {
              const what = last === undefined ? `no TLS handshake (${lastError})` : `served serial ${last.serial}${lastError !== '' ? `, ${lastError}` : ''}`;
              throw ApplicationFailure.create({
                type: HANDSHAKE_CHECK_FAILED,
                nonRetryable: true,
                message: `listener ${listener.name} at ${host}:${listener.port} does not serve certificate "${certificateName}" serial ${normaliseSerial(expectedSerial)}: ${what}`,
                details: [{ listener: listener.name, host, port: listener.port, expectedSerial, served: last ?? null }],
              });
            }
            checks.push(last);
          }
        }
      }
      return checks;
    },

    async rollbackCertificateRotation({ tenantId, oldId, newId, actor }): Promise<MaterialPublished> {
      // Both steps are no-ops when done already (an attempt that crashed before reporting).
      await domain(() => reinstateCertificate(db, tenantId, oldId, actor));
      const failed = await findCertificate(db, tenantId, newId);
      if (failed !== null && failed.status !== 'revoked') await domain(() => revokeCertificate(db, keyBox(), tenantId, newId, 'superseded', actor));
      return published(tenantId, actor);
    },

    async revokeSupersededCertificate({ tenantId, certificateId, actor }): Promise<MaterialPublished> {
      const cert = await findCertificate(db, tenantId, certificateId);
      if (cert === null) throw ApplicationFailure.nonRetryable(`certificate ${certificateId} does not exist`, 'CertificateNotFound');
      if (cert.status !== 'revoked') await domain(() => revokeCertificate(db, keyBox(), tenantId, certificateId, 'superseded', actor));
      return published(tenantId, actor);
    },

    async recordRotationAttempt(input): Promise<void> {
      await appendAudit(db, {
        tenantId: input.tenantId,
        actor: input.actor,
        action: CERT_ROTATION_ATTEMPT_AUDIT,
        target: { type: 'certificate', id: input.certificateName },
        details: {
          workflowId: input.workflowId,
          attempt: input.attempt,
          outcome: input.outcome,
          oldSerial: input.oldSerial,
          newSerial: input.newSerial,
          error: input.error ?? null,
          checks: input.checks ?? [],
        },
      });
    },
  };
}

/** Runs a service call; its domain errors (AppError other than internal) become non-retryable failures. */
export async function domain<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isAppError(err) && err.code !== 'internal') throw ApplicationFailure.nonRetryable(err.message, `Certificate:${err.code}`, err.issues ?? []);
    throw err;
  }
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

function loopbackFor(address: string): string {
  return address.includes(':') ? '::1' : '127.0.0.1';
}

/** One TLS handshake (no request): the peer's certificate and whether its chain verified against `ca`. */
function handshake(host: string, port: number, servername: string | undefined, ca: string): Promise<{ cert: PeerCertificate; authorized: boolean; authorizationError: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ...(servername !== undefined ? { servername } : {}), ca, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake within ${HANDSHAKE_TIMEOUT_MS} ms`)), HANDSHAKE_TIMEOUT_MS);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = socket.getPeerCertificate(false);
      // The raw leaf, parsed again, so that a bogus peer object cannot pass (serial from the DER itself).
      const serial = cert.raw !== undefined ? new X509Certificate(cert.raw).serialNumber : cert.serialNumber;
      resolve({ cert: { ...cert, serialNumber: serial }, authorized: socket.authorized, authorizationError: String(socket.authorizationError ?? '') });
      socket.end();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
