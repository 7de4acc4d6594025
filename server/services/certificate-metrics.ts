/**
 * Prometheus gauges of certificate expiry, read from PostgreSQL at scrape time (so every web replica reports
 * the same values): seconds until each active certificate and each trusted CA expires (negative once expired),
 * and seconds until each CA's CRL needs re-signing. Alert on e.g. `proxyshard_certificate_expiry_seconds < 7*86400`.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Db } from '../db/client';
import { listAllActiveCertificates, listAllTrustedCas, tenantSlugs } from '../db/certificate.repo';
import { getLogger } from '../log';

export function registerCertificateGauges(registry: Registry, db: () => Db): void {
  // One database read per scrape feeds all three gauges (each gauge's collect joins the same read).
  let pending: Promise<void> | undefined;
  const collect = () => refresh();
  const certExpiry = new Gauge({
    name: 'proxyshard_certificate_expiry_seconds',
    help: 'Seconds until an active certificate expires (negative: expired), by tenant, certificate name, serial and usage.',
    labelNames: ['tenant', 'name', 'serial', 'usage'] as const,
    registers: [registry],
    collect,
  });
  const caExpiry = new Gauge({
    name: 'proxyshard_ca_expiry_seconds',
    help: 'Seconds until a trusted CA certificate expires, by tenant, CA id, kind (root|intermediate) and status.',
    labelNames: ['tenant', 'ca', 'kind', 'status'] as const,
    registers: [registry],
    collect,
  });
  const crlNextUpdate = new Gauge({
    name: 'proxyshard_crl_next_update_seconds',
    help: "Seconds until a trusted CA's CRL reaches its nextUpdate (it is re-signed at half its lifetime while the CA key is online).",
    labelNames: ['tenant', 'ca'] as const,
    registers: [registry],
    collect,
  });
  const refresh = (): Promise<void> =>
    (pending ??= (async () => {
      try {
        const now = Date.now();
        const [certs, cas] = [await listAllActiveCertificates(db()), await listAllTrustedCas(db())];
        const slugs = await tenantSlugs(db(), [...certs.map((c) => c.tenantId), ...cas.map((c) => c.tenantId)]);
        certExpiry.reset();
        caExpiry.reset();
        crlNextUpdate.reset();
        for (const c of certs) {
          certExpiry.set({ tenant: slugs.get(c.tenantId) ?? c.tenantId, name: c.name, serial: c.serial, usage: c.usage }, Math.floor((c.notAfter.getTime() - now) / 1000));
        }
        for (const ca of cas) {
          const tenant = slugs.get(ca.tenantId) ?? ca.tenantId;
          caExpiry.set({ tenant, ca: ca.id, kind: ca.kind, status: ca.status }, Math.floor((ca.notAfter.getTime() - now) / 1000));
          if (ca.crlNextUpdate) crlNextUpdate.set({ tenant, ca: ca.id }, Math.floor((ca.crlNextUpdate.getTime() - now) / 1000));
        }
      } catch (err) {
        getLogger().warn({ err }, 'certificate gauges: database read failed');
      }
    })().finally(() => {
      pending = undefined;
    }));
}
