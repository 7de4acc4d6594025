/**
 * Reading revisions for the API and the console. (Creating and applying them is the revision workflow's job.)
 */
import type { RouteGraph } from '../../contracts/route-graph.schema';
import { requirePermission, type Principal } from '../auth/principal';
import { findRevision, listRevisions, type RevisionState, type RevisionSummary } from '../db/revision-read.repo';
import type { DbTx } from '../db/tx';
import { notFound } from '../errors';

export interface RevisionSummaryView {
  id: string;
  number: number;
  parentId: string | null;
  state: RevisionState;
  live: boolean;
  message: string;
  graphHash: string;
  createdById: string;
  createdAt: string;
}

export interface RevisionView extends RevisionSummaryView {
  graph: RouteGraph;
}

function toSummaryView(r: RevisionSummary): RevisionSummaryView {
  return {
    id: r.id,
    number: r.number,
    parentId: r.parentId,
    state: r.state,
    live: r.live,
    message: r.message,
    graphHash: r.graphHash,
    createdById: r.createdById,
    createdAt: r.createdAt.toISOString(),
  };
}

export async function listTenantRevisions(
  db: DbTx,
  principal: Principal,
  page: { before?: number; limit?: number },
): Promise<{ revisions: RevisionSummaryView[]; nextBefore: number | null }> {
  requirePermission(principal, 'revisions.read');
  const limit = Math.min(Math.max(page.limit ?? 50, 1), 200);
  const rows = await listRevisions(db, principal.tenant.id, { beforeNumber: page.before, limit: limit + 1 });
  const shown = rows.slice(0, limit);
  return { revisions: shown.map(toSummaryView), nextBefore: rows.length > limit ? (shown.at(-1)?.number ?? null) : null };
}

export async function getTenantRevision(db: DbTx, principal: Principal, id: string): Promise<RevisionView> {
  requirePermission(principal, 'revisions.read');
  const r = await findRevision(db, principal.tenant.id, id);
  if (!r) throw notFound('revision');
  return { ...toSummaryView(r), graph: r.graph };
}
