/**
 * Demo data for `npm start`: tenant `demo`, user `admin` (password printed once, when created) and a live
 * demo route (listener → `demo-root` → two demo upstreams). Idempotent: a restart changes nothing unless
 * the demo ports changed, in which case a new revision with the new ports is published.
 */
import { createHash } from 'node:crypto';
import type { Db } from '../server/db/client';
import { demoRouteGraph } from '../core/demo-graph';
import { ensureDemoTenantAndAdmin } from '../server/services/seed.service';
import { publishRevision } from '../server/services/publish.service';
import { getAppKeyBox } from '../server/pki/key-box';
import { ensureTenantCa } from '../server/services/certificate.service';
import { appendAudit } from '../server/audit/audit.service';
import { canonicalJson } from '../core/canonical-json';

export const SEED_ACTOR = { type: 'system' as const, id: 'seed', name: 'demo seed' };

export interface SeedResult {
  tenantId: string;
  admin: { username: string; password?: string };
  revisionNumber: number;
  publishedNow: boolean;
}

export async function seedDemo(db: Db, opts: { listenerPort: number; upstreamPorts: number[] }): Promise<SeedResult> {
  const { tenant, admin } = await ensureDemoTenantAndAdmin(db);
  await ensureTenantCa(db, getAppKeyBox(), tenant.id, SEED_ACTOR); // the demo tenant's CA (root + intermediate), issue 8
  const graph = demoRouteGraph({ listenerPort: opts.listenerPort, upstreamPorts: opts.upstreamPorts });
  const graphHash = createHash('sha256').update(canonicalJson(graph)).digest('hex');
  const live = tenant.liveRevisionId ? await db.revision.findUnique({ where: { id: tenant.liveRevisionId } }) : null;
  if (live && (live.graphHash === graphHash || live.createdById !== `system:${SEED_ACTOR.id}`)) {
    // Already seeded, or an operator has taken over the route graph: leave it alone.
    return { tenantId: tenant.id, admin, revisionNumber: live.number, publishedNow: false };
  }
  const last = await db.revision.findFirst({ where: { tenantId: tenant.id }, orderBy: { number: 'desc' } });
  const revision = await db.revision.create({
    data: {
      tenantId: tenant.id,
      number: (last?.number ?? 0) + 1,
      parentId: live?.id ?? null,
      state: 'proposed',
      message: live ? 'demo route: ports changed' : 'demo route',
      graph,
      graphHash,
      createdById: `system:${SEED_ACTOR.id}`,
    },
  });
  await appendAudit(db, {
    tenantId: tenant.id,
    actor: SEED_ACTOR,
    action: 'revision.create',
    target: { type: 'revision', id: revision.id },
    after: graph,
    details: { number: revision.number },
  });
  await publishRevision(db, { tenantId: tenant.id, revisionId: revision.id, actor: SEED_ACTOR });
  return { tenantId: tenant.id, admin, revisionNumber: revision.number, publishedNow: true };
}
