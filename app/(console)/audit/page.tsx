import type { Metadata } from 'next';
import Link from 'next/link';
import { AuditQuerySchema } from '@/contracts/api-v1.schema';
import { getAppDb } from '@/server/app-db';
import { listAuditLog } from '@/server/audit/audit.service';
import { formatTime } from '../../_lib/format';
import { LiveRefresh } from '../../_lib/live-refresh';
import { requireConsolePrincipal } from '../../_lib/session';
import { VerifyChainButton } from './verify-chain-button';
import { DataTable } from '../../_lib/data-table';

export const metadata: Metadata = { title: 'Audit' };

const FILTERS = ['q', 'action', 'actor', 'targetType', 'targetId'] as const;

export default async function AuditPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const principal = await requireConsolePrincipal();
  const raw = await searchParams;
  const input: Record<string, string> = {};
  for (const k of [...FILTERS, 'before'] as const) {
    const v = raw[k];
    if (typeof v === 'string' && v !== '') input[k] = v;
  }
  const parsed = AuditQuerySchema.safeParse(input);
  const query = parsed.success ? parsed.data : {};
  const { entries, nextBefore } = await listAuditLog(getAppDb(), principal, { ...query, limit: 50 });
  const filterQuery = new URLSearchParams(FILTERS.flatMap((k) => (input[k] ? [[k, input[k]] as [string, string]] : [])));
  const older = new URLSearchParams(filterQuery);
  if (nextBefore !== null) older.set('before', String(nextBefore));

  return (
    <>
      <h1>Audit log</h1>
      <p className="subtitle">Append-only and hash-chained: every entry carries the hash of the one before it.</p>
      {input.before === undefined ? <LiveRefresh topics={['audit']} /> : <p className="muted small">An older page: it does not update live.</p>}
      <div className="card">
        <VerifyChainButton />
      </div>
      <form className="inline card" method="get" role="search" aria-label="Filter the audit log">
        <label>
          Search
          <input name="q" type="search" defaultValue={input.q ?? ''} placeholder="text in action, actor or target" />
        </label>
        <label>
          Action
          <input name="action" defaultValue={input.action ?? ''} placeholder="token.create" />
        </label>
        <label>
          Actor
          <input name="actor" defaultValue={input.actor ?? ''} placeholder="username or id" />
        </label>
        <label>
          Target type
          <input name="targetType" defaultValue={input.targetType ?? ''} placeholder="api_token" />
        </label>
        <label>
          Target id
          <input name="targetId" defaultValue={input.targetId ?? ''} />
        </label>
        <button type="submit">Filter</button>
        <Link className="button secondary" href="/audit">
          Clear
        </Link>
      </form>
      {!parsed.success && (
        <p className="error" role="alert">
          Some filters were ignored: {parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}
        </p>
      )}
      {entries.length === 0 ? (
        <p className="muted">{filterQuery.size ? 'No entries match these filters. Loosen them, or Clear to see the whole log.' : 'The audit log is empty: every change made in this tenant will appear here.'}</p>
      ) : (
        <DataTable columns={['Seq', 'At', 'Actor', 'Action', 'Target', 'Details']}>
          {entries.map((e) => (
            <tr key={e.seq}>
              <td>{e.seq}</td>
              <td>
                <time dateTime={e.at}>{formatTime(e.at)}</time>
              </td>
              <td>
                {e.actor.name} <span className="badge">{e.actor.type}</span>
              </td>
              <td className="mono">{e.action}</td>
              <td className="mono">
                {e.target.type}:{e.target.id}
              </td>
              <td className="mono" style={{ maxWidth: '28rem', wordBreak: 'break-word' }}>
                {JSON.stringify(e.details)}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      <nav className="pager" aria-label="Pages">
        {input.before !== undefined && <Link href={`/audit${filterQuery.size ? `?${filterQuery}` : ''}`}>Newest</Link>}
        {nextBefore !== null && <Link href={`/audit?${older}`}>Older</Link>}
      </nav>
    </>
  );
}
