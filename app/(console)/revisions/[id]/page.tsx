import type { Metadata } from 'next';
import Link from 'next/link';
import { notFound } from 'next/navigation';
import { getAppDb } from '@/server/app-db';
import { isAppError } from '@/server/errors';
import { getTenantRevision, type RevisionView } from '@/server/services/revision-read.service';
import { flattenRoutes } from '@/server/services/route.service';
import { formatTime } from '../../../_lib/format';
import { requireConsolePrincipal } from '../../../_lib/session';

export const metadata: Metadata = { title: 'Revision' };

export default async function RevisionPage({ params }: { params: Promise<{ id: string }> }) {
  const principal = await requireConsolePrincipal();
  const { id } = await params;
  let revision: RevisionView;
  try {
    revision = await getTenantRevision(getAppDb(), principal, id);
  } catch (err) {
    if (isAppError(err) && err.code === 'not_found') notFound();
    throw err;
  }
  const g = revision.graph;
  return (
    <>
      <p>
        <Link href="/revisions">← Revisions</Link>
      </p>
      <h1>
        Revision #{revision.number} <span className={`badge ${revision.live ? 'live' : revision.state}`}>{revision.live ? 'live' : revision.state}</span>
      </h1>
      <p className="subtitle">
        {revision.message || 'No message'} · created {formatTime(revision.createdAt)} by <span className="mono">{revision.createdById}</span>
      </p>
      <p className="btn-group">
        <Link className="button" href={`/revisions/${revision.id}/diff`}>
          Visual diff{revision.live ? '' : ' and apply'}
        </Link>
        <Link className="button secondary" href={`/graph?revision=${revision.id}`}>
          Open in the graph editor
        </Link>
      </p>
      <div className="card">
        <p>
          {g.listeners.length} listeners · {g.virtualHosts.length} virtual hosts · {g.routes.length} routes · {g.clusters.length} clusters ·{' '}
          {g.nodeGroups.length} node groups
        </p>
        <p className="muted">
          Graph hash <code>{revision.graphHash}</code>
        </p>
        <ul>
          {flattenRoutes(g).map((r, i) => (
            <li key={`${r.name}-${i}`}>
              <span className="mono">{r.name}</span>
              {r.virtualHost ? ` on ${r.virtualHost.name}` : ''}
              {r.listener ? ` (${r.listener.name}:${r.listener.port})` : ''} →{' '}
              {r.action === 'forward' ? r.destinations.map((d) => `${d.cluster} ${d.weight}`).join(', ') : r.action}
            </li>
          ))}
        </ul>
      </div>
      <details>
        <summary>Graph JSON</summary>
        <pre>{JSON.stringify(g, null, 2)}</pre>
      </details>
    </>
  );
}
