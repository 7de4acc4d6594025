import type { Metadata } from 'next';
import { emptyGraph } from '@/app/_lib/route-graph-model';
import type { RouteGraph } from '@/contracts/route-graph.schema';
import { getAppDb } from '@/server/app-db';
import { can } from '@/server/auth/permissions';
import { isAppError } from '@/server/errors';
import { getTenantRevision, listTenantRevisions, type RevisionSummaryView } from '@/server/services/revision-read.service';
import { requireConsolePrincipal } from '../../_lib/session';
import { GraphEditorLoader } from './graph-editor-loader';

export const metadata: Metadata = { title: 'Graph editor' };

export default async function GraphPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const principal = await requireConsolePrincipal();
  const raw = await searchParams;
  const db = getAppDb();
  const { revisions } = await listTenantRevisions(db, principal, { limit: 50 });
  const wanted = typeof raw.revision === 'string' ? raw.revision : revisions.find((r) => r.live)?.id;
  let base: (RevisionSummaryView & { graph: RouteGraph }) | null = null;
  let loadError: string | null = null;
  if (wanted) {
    try {
      base = await getTenantRevision(db, principal, wanted);
    } catch (err) {
      if (isAppError(err) && err.code === 'not_found') loadError = 'That revision does not exist in this tenant; showing an empty graph. Pick a revision above.';
      else throw err;
    }
  }
  const { graph: _graph, ...baseSummary } = base ?? { graph: null };
  return (
    <div className="graph-page">
      <h1 className="visually-hidden">Graph editor</h1>
      {loadError && (
        <p className="error" role="alert">
          {loadError}
        </p>
      )}
      <GraphEditorLoader
        initialGraph={base?.graph ?? emptyGraph()}
        base={base ? (baseSummary as RevisionSummaryView) : null}
        revisions={revisions.map((r) => ({ id: r.id, number: r.number, live: r.live, state: r.state, message: r.message }))}
        canWrite={can(principal.role, 'revisions.write')}
      />
    </div>
  );
}
