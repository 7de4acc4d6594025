import type { Metadata } from 'next';
import Link from 'next/link';
import { notFound } from 'next/navigation';
import { getAppDb } from '@/server/app-db';
import { can } from '@/server/auth/permissions';
import { isAppError } from '@/server/errors';
import { getTenantRevision, listTenantRevisions, type RevisionView } from '@/server/services/revision-read.service';
import { requireConsolePrincipal } from '../../../../_lib/session';
import { DiffView } from './diff-view';

export const metadata: Metadata = { title: 'Revision diff' };

export default async function RevisionDiffPage({ params, searchParams }: { params: Promise<{ id: string }>; searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const principal = await requireConsolePrincipal();
  const { id } = await params;
  const raw = await searchParams;
  const db = getAppDb();
  let revision: RevisionView;
  try {
    revision = await getTenantRevision(db, principal, id);
  } catch (err) {
    if (isAppError(err) && err.code === 'not_found') notFound();
    throw err;
  }
  const { revisions } = await listTenantRevisions(db, principal, { limit: 100 });
  const live = revisions.find((r) => r.live);
  // Compared with: ?against=, else the live revision (when this one is not live), else the parent.
  const againstId = typeof raw.against === 'string' ? raw.against : live && live.id !== revision.id ? live.id : revision.parentId;
  let against: RevisionView | null = null;
  if (againstId) {
    try {
      against = await getTenantRevision(db, principal, againstId);
    } catch (err) {
      if (!(isAppError(err) && err.code === 'not_found')) throw err;
    }
  }
  return (
    <>
      <p>
        <Link href={`/revisions/${revision.id}`}>← Revision #{revision.number}</Link>
      </p>
      <h1>
        Diff of revision #{revision.number}
        {against ? ` against #${against.number}${against.live ? ' (live)' : ''}` : ' (against an empty graph)'}
      </h1>
      <form className="inline" method="get" aria-label="Compare with">
        <label>
          Compare with
          <select name="against" defaultValue={against?.id ?? ''}>
            {revisions
              .filter((r) => r.id !== revision.id)
              .map((r) => (
                <option key={r.id} value={r.id}>
                  #{r.number} {r.live ? '(live)' : `(${r.state})`} {r.message.slice(0, 40)}
                </option>
              ))}
          </select>
        </label>
        <button type="submit" className="secondary">
          Compare
        </button>
      </form>
      <DiffView
        before={against?.graph ?? { listeners: [], virtualHosts: [], routes: [], clusters: [], nodeGroups: [] }}
        after={revision.graph}
        revision={{ id: revision.id, number: revision.number, live: revision.live, state: revision.state }}
        againstId={against?.id ?? null}
        canApply={can(principal.role, 'revisions.write')}
        canRollout={can(principal.role, 'rollouts.write')}
      />
    </>
  );
}
