import type { Metadata } from 'next';
import Link from 'next/link';
import { RevisionsQuerySchema } from '@/contracts/api-v1.schema';
import { getAppDb } from '@/server/app-db';
import { listTenantRevisions } from '@/server/services/revision-read.service';
import { formatTime } from '../../_lib/format';
import { requireConsolePrincipal } from '../../_lib/session';
import { DataTable } from '../../_lib/data-table';

export const metadata: Metadata = { title: 'Revisions' };

export default async function RevisionsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const principal = await requireConsolePrincipal();
  const raw = await searchParams;
  const query = RevisionsQuerySchema.safeParse({ before: typeof raw.before === 'string' ? raw.before : undefined });
  const { revisions, nextBefore } = await listTenantRevisions(getAppDb(), principal, query.success ? query.data : {});
  return (
    <>
      <h1>Revisions</h1>
      <p className="subtitle">Every version of the route graph of {principal.tenant.name}, newest first.</p>
      {revisions.length === 0 ? (
        <p className="muted">
          No revisions yet. Build a route graph in the <Link href="/graph">Graph editor</Link> and save it as a revision.
        </p>
      ) : (
        <DataTable columns={['#', 'State', 'Message', 'Created', 'By', 'Diff']}>
          {revisions.map((r) => (
            <tr key={r.id}>
              <td>
                <Link href={`/revisions/${r.id}`}>#{r.number}</Link>
              </td>
              <td>
                <span className={`badge ${r.live ? 'live' : r.state}`}>{r.live ? 'live' : r.state}</span>
              </td>
              <td>{r.message || <span className="muted">—</span>}</td>
              <td>{formatTime(r.createdAt)}</td>
              <td className="mono">{r.createdById}</td>
              <td>
                <Link href={`/revisions/${r.id}/diff`} aria-label={`Diff of revision ${r.number}`}>
                  diff
                </Link>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      <nav className="pager" aria-label="Pages">
        {raw.before !== undefined && <Link href="/revisions">Newest</Link>}
        {nextBefore !== null && <Link href={`/revisions?before=${nextBefore}`}>Older</Link>}
      </nav>
    </>
  );
}
