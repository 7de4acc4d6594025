/**
 * Read access to route-graph revisions (writing them belongs to the revision service of a later issue).
 */
import { RouteGraphSchema, type RouteGraph } from '../../contracts/route-graph.schema';
import type { DbTx } from './tx';
import { isUuid } from './tx';

export type RevisionState = 'draft' | 'proposed' | 'live' | 'superseded' | 'rejected';

export interface RevisionSummary {
  id: string;
  tenantId: string;
  number: number;
  parentId: string | null;
  state: RevisionState;
  message: string;
  graphHash: string;
  createdById: string;
  createdAt: Date;
  /** The tenant's live revision (Tenant.liveRevisionId points at it). */
  live: boolean;
}

export interface Revision extends RevisionSummary {
  graph: RouteGraph;
}

const summarySelect = {
  id: true,
  tenantId: true,
  number: true,
  parentId: true,
  state: true,
  message: true,
  graphHash: true,
  createdById: true,
  createdAt: true,
  liveFor: { select: { id: true } },
} as const;

type SummaryRow = Omit<RevisionSummary, 'live'> & { liveFor: { id: string } | null };

function toSummary({ liveFor, ...row }: SummaryRow): RevisionSummary {
  return { ...row, live: liveFor !== null };
}

function toRevision(row: SummaryRow & { graph: unknown }): Revision {
  const { graph, ...rest } = row;
  const parsed = RouteGraphSchema.safeParse(graph);
  if (!parsed.success) throw new Error(`revision ${row.id} holds a graph that does not match RouteGraphSchema: ${parsed.error.message}`);
  return { ...toSummary(rest), graph: parsed.data };
}

/** Revisions of the tenant, newest first; `beforeNumber` continues a previous page. */
export async function listRevisions(
  db: DbTx,
  tenantId: string,
  page: { beforeNumber?: number; limit: number },
): Promise<RevisionSummary[]> {
  const rows = await db.revision.findMany({
    where: { tenantId, ...(page.beforeNumber !== undefined ? { number: { lt: page.beforeNumber } } : {}) },
    orderBy: { number: 'desc' },
    take: page.limit,
    select: summarySelect,
  });
  return rows.map(toSummary);
}

export async function findRevision(db: DbTx, tenantId: string, id: string): Promise<Revision | null> {
  if (!isUuid(id)) return null;
  const row = await db.revision.findFirst({ where: { id, tenantId }, select: { ...summarySelect, graph: true } });
  return row && toRevision(row);
}

/** The revision Tenant.liveRevisionId points at, or null when nothing is live yet. */
export async function findLiveRevision(db: DbTx, tenantId: string): Promise<Revision | null> {
  if (!isUuid(tenantId)) return null;
  // One raw query (through the Prisma client: two queries, the relation's and the row's, and the argument
  // and result walk of the graph): every rollout step's publish reads the live graph (bench/rollout-step.ts).
  const rows = await db.$queryRaw<(Omit<SummaryRow, 'liveFor'> & { graph: unknown })[]>`
    SELECT r."id"::text AS "id", r."tenantId"::text AS "tenantId", r."number", r."parentId"::text AS "parentId", r."state"::text AS "state",
           r."message", r."graphHash", r."createdById", r."createdAt", r."graph"
      FROM "Tenant" t JOIN "Revision" r ON r."id" = t."liveRevisionId" AND r."tenantId" = t."id"
     WHERE t."id" = ${tenantId}::uuid`;
  const row = rows[0];
  return row ? toRevision({ ...row, liveFor: { id: tenantId } }) : null;
}
