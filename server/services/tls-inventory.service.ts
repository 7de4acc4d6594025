/**
 * What the xDS compiler needs to know about a tenant's certificates (issue 8): for every certificate a graph
 * names, the version to serve now (the active certificate of that name: id + serial), and, when a listener
 * verifies client certificates or a cluster verifies its upstream, the tenant's trust bundle and CRLs.
 * Nothing here carries a private key: keys are resolved by the xds process at send time.
 */
import type { RouteGraph } from '../../contracts/route-graph.schema';
import type { CertificateVersionRef, TlsInventory } from '../../core/xds/secrets';
import { findActiveCertificateByName } from '../db/certificate.repo';
import type { DbTx } from '../db/tx';
import { getAppKeyBox, type KeyBox } from '../pki/key-box';
import { crlBundlePem, trustBundle } from './certificate.service';

/** Certificate names the graph references, and whether it verifies peers against the tenant's CA. */
export function tlsNeeds(graph: RouteGraph): { certificates: Set<string>; trust: boolean } {
  const certificates = new Set<string>();
  let trust = false;
  for (const l of graph.listeners) {
    if (l.tls === undefined) continue;
    certificates.add(l.tls.certificate);
    if (l.tls.requireClientCertificate) trust = true;
  }
  for (const c of graph.clusters) {
    if (c.upstreamTls === undefined) continue;
    if (c.upstreamTls.certificate !== undefined) certificates.add(c.upstreamTls.certificate);
    if (c.upstreamTls.trust === 'tenant') trust = true;
  }
  return { certificates, trust };
}

/**
 * The tenant's TLS inventory for compiling `graph` (undefined when the graph uses no TLS). Names without an
 * active certificate are left out, so the compiler reports them at their field paths.
 */
export async function loadTlsInventory(db: DbTx, tenantId: string, graph: RouteGraph, keyBox?: KeyBox): Promise<TlsInventory | undefined> {
  const needs = tlsNeeds(graph);
  if (needs.certificates.size === 0 && !needs.trust) return undefined;
  const certificates = new Map<string, CertificateVersionRef>();
  for (const name of [...needs.certificates].sort()) {
    const active = await findActiveCertificateByName(db, tenantId, name);
    if (active !== null) certificates.set(name, { id: active.id, serial: active.serial });
  }
  let trust: TlsInventory['trust'];
  if (needs.trust) {
    const caBundlePem = await trustBundle(db, tenantId);
    if (caBundlePem.trim() !== '') trust = { caBundlePem, crlPem: await crlBundlePem(db, keyBox ?? getAppKeyBox(), tenantId) };
  }
  return { certificates, ...(trust !== undefined ? { trust } : {}) };
}
