import type { Metadata } from 'next';
import Link from 'next/link';
import { getAppDb } from '@/server/app-db';
import { listLiveRoutes, type RouteRow } from '@/server/services/route.service';
import { formatTime } from '../_lib/format';
import { requireConsolePrincipal } from '../_lib/session';
import { DataTable } from '../_lib/data-table';

export const metadata: Metadata = { title: 'Routes' };

function describeMatch(m: RouteRow['match']): string {
  const parts = [m.path !== undefined ? `path ${m.path}` : m.prefix !== undefined ? `prefix ${m.prefix}` : m.regex !== undefined ? `regex ${m.regex}` : 'any'];
  if (m.headers.length) parts.push(`headers: ${m.headers.join(', ')}`);
  if (m.queryParameters.length) parts.push(`query: ${m.queryParameters.join(', ')}`);
  return parts.join(' · ');
}

export default async function RoutesPage() {
  const principal = await requireConsolePrincipal();
  const { revision, routes } = await listLiveRoutes(getAppDb(), principal);
  return (
    <>
      <h1>Routes</h1>
      {revision ? (
        <p className="subtitle">
          Live revision <Link href={`/revisions/${revision.id}`}>#{revision.number}</Link>, created {formatTime(revision.createdAt)}.
        </p>
      ) : (
        <p className="subtitle">Nothing is live in {principal.tenant.name} yet.</p>
      )}
      {routes.length > 0 && (
        <DataTable
          columns={['Route', 'Listener', 'Virtual host', 'Match', 'Destinations']}
          caption={
            <caption className="muted" style={{ textAlign: 'left', padding: '0.5rem 0.75rem' }}>
              {routes.length} route placement{routes.length === 1 ? '' : 's'}
            </caption>
          }
        >
          {routes.map((r, i) => (
            <tr key={`${r.listener?.name ?? '-'}/${r.virtualHost?.name ?? '-'}/${r.name}/${i}`}>
              <td className="mono">{r.name}</td>
              <td>{r.listener ? `${r.listener.name} (${r.listener.address}:${r.listener.port})` : <span className="muted">none</span>}</td>
              <td>{r.virtualHost ? `${r.virtualHost.name} — ${r.virtualHost.domains.join(', ')}` : <span className="muted">none</span>}</td>
              <td className="mono">{describeMatch(r.match)}</td>
              <td>
                {r.action === 'forward' ? (
                  <ul style={{ margin: 0, paddingLeft: '1rem' }}>
                    {r.destinations.map((d) => (
                      <li key={d.cluster}>
                        <span className="mono">{d.cluster}</span> — weight {d.weight}
                      </li>
                    ))}
                  </ul>
                ) : (
                  <span className="badge">{r.action}</span>
                )}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </>
  );
}
