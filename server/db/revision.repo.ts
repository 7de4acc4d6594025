/**
 * Writing route-graph revisions. Revisions are immutable: rows are inserted (numbered per tenant, under the
 * tenant lock of revision-publish.repo.ts) and only their `state` moves later (publish, reject).
 */
import type { RouteGraph } from '../../contracts/route-graph.schema';
import type { Prisma } from './generated/client';
import type { DbTx } from './tx';

export interface NewRevision {
  tenantId: string;
  parentId: string | null;
  state: 'draft' | 'proposed';
  message: string;
  graph: RouteGraph;
  graphHash: string;
  createdById: string;
}

/** Inserts with number = last number + 1; call inside a transaction holding the tenant lock. */
export async function insertRevision(db: DbTx, input: NewRevision): Promise<{ id: string; number: number }> {
  const last = await db.revision.findFirst({ where: { tenantId: input.tenantId }, orderBy: { number: 'desc' }, select: { number: true } });
  return db.revision.create({
    data: { ...input, graph: input.graph as unknown as Prisma.InputJsonValue, number: (last?.number ?? 0) + 1 },
    select: { id: true, number: true },
  });
}

export async function countRevisions(db: DbTx, tenantId: string): Promise<number> {
  return db.revision.count({ where: { tenantId } });
}
