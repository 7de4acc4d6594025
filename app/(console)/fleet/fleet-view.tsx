'use client';

import { useId, useState } from 'react';
import type { XdpCounter } from '@/contracts/xdp.schema';
import type { ProxyStatusView, SyncStatus } from '@/server/services/proxy-status.service';
import type { AgentView } from '@/server/services/xdp.service';
import { API, describeConsoleFailure } from '../../_lib/console-api';
import { formatTime } from '../../_lib/format';
import { LiveStatus } from '../../_lib/live-status';
import { useLiveData } from '../../_lib/use-live-data';
import { DataTable } from '../../_lib/data-table';

type ProxyRow = ProxyStatusView;
type AgentRow = AgentView;

const shortVersion = (v: string | null | undefined) => (v ? v.slice(0, 12) : '—');
const STATUS_CLASS: Record<SyncStatus, string> = { SYNCED: 'synced', NACKED: 'nacked', STALE: 'stale', 'NOT SENT': '' };

/** A proxy's overall state: NACKED if any type is, else STALE if any type is not synced, else SYNCED. */
function proxyState(p: ProxyRow): SyncStatus {
  if (p.types.some((t) => t.status === 'NACKED')) return 'NACKED';
  if (p.types.length === 0 || p.types.every((t) => t.status === 'NOT SENT')) return 'NOT SENT';
  return p.types.every((t) => t.status === 'SYNCED') ? 'SYNCED' : 'STALE';
}

/** Counters summed per rule name over the agent's interfaces. */
function countersByName(counters: XdpCounter[]): { name: string; matchPackets: number; dropPackets: number }[] {
  const by = new Map<string, { name: string; matchPackets: number; dropPackets: number }>();
  for (const c of counters) {
    const row = by.get(c.name) ?? { name: c.name, matchPackets: 0, dropPackets: 0 };
    row.matchPackets += c.matchPackets;
    row.dropPackets += c.dropPackets;
    by.set(c.name, row);
  }
  return [...by.values()];
}

const matches = (filter: string, ...fields: string[]) => filter === '' || fields.some((f) => f.toLowerCase().includes(filter));

export function FleetView() {
  const proxies = useLiveData<{ proxies: ProxyRow[] }>(API.proxies, ['proxies']);
  const agents = useLiveData<{ agents: AgentRow[] }>(API.agents, ['agents']);
  const [filter, setFilter] = useState('');
  const [problemsOnly, setProblemsOnly] = useState(false);
  const filterId = useId();
  const f = filter.trim().toLowerCase();

  const proxyRows = proxies.result?.ok ? proxies.result.data.proxies : [];
  const agentRows = agents.result?.ok ? agents.result.data.agents : [];
  const counts = { SYNCED: 0, STALE: 0, NACKED: 0, 'NOT SENT': 0 } as Record<SyncStatus, number>;
  for (const p of proxyRows) counts[proxyState(p)] += 1;
  const shownProxies = proxyRows.filter((p) => matches(f, p.nodeId, p.nodeGroup) && (!problemsOnly || !p.connected || proxyState(p) !== 'SYNCED'));
  const shownAgents = agentRows.filter((a) => matches(f, a.nodeName, a.nodeGroup) && (!problemsOnly || !a.connected || !a.inSync || a.failedVersion !== null));

  return (
    <>
      <LiveStatus state={proxies.live} updatedAt={Math.max(proxies.updatedAt ?? 0, agents.updatedAt ?? 0) || null} />
      <form className="inline card" role="search" aria-label="Filter the fleet" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor={filterId}>Node or group</label>
        <input id={filterId} type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="e.g. edge" />
        <label className="inline-label">
          <input type="checkbox" checked={problemsOnly} onChange={(e) => setProblemsOnly(e.target.checked)} /> Only problems (not synced, NACKed, disconnected)
        </label>
      </form>
      <section className="card" aria-labelledby="proxies-h">
        <h2 id="proxies-h" className="panel-title">
          Proxies
        </h2>
        {!proxies.result ? (
          <p className="muted">Loading…</p>
        ) : !proxies.result.ok ? (
          <p className={proxies.result.missing ? 'muted' : 'error'} role="alert">
            {describeConsoleFailure(proxies.result, 'Proxy status', 'GET /api/v1/proxies')}
          </p>
        ) : proxyRows.length === 0 ? (
          <p className="muted">
            No proxy has connected yet. Start an Envoy whose bootstrap points at the xds server (port XDS_PORT, default 18000) with node
            metadata <code>tenant</code> (this tenant&apos;s slug) and <code>node_group</code>; <code>npm start</code> runs a demo Envoy this way
            (workers/envoy/bootstrap.ts).
          </p>
        ) : (
          <>
            <ul className="summary-counts small" aria-label="Proxies by state">
              <li>
                <span className="badge synced">{counts.SYNCED} synced</span>
              </li>
              <li>
                <span className="badge stale">{counts.STALE} stale</span>
              </li>
              <li>
                <span className="badge nacked">{counts.NACKED} NACKed</span>
              </li>
              {counts['NOT SENT'] > 0 && (
                <li>
                  <span className="badge">{counts['NOT SENT']} nothing sent</span>
                </li>
              )}
            </ul>
            {shownProxies.length === 0 ? (
              <p className="muted">No proxy matches the filter. Clear it to see all {proxyRows.length}.</p>
            ) : (
              <DataTable columns={['Node', 'Group', 'Connection', 'Per type: state, sent / ACKed version']}>
                {shownProxies.map((p) => (
                  <tr key={p.id} data-node-id={p.nodeId}>
                    <td>
                      <span className="mono">{p.nodeId}</span> <span className={`badge ${STATUS_CLASS[proxyState(p)]}`}>{proxyState(p)}</span>
                      {p.userAgent && <div className="small muted">{p.userAgent}</div>}
                      <div className="small">
                        <a href={`${API.proxies}/${encodeURIComponent(p.id)}/config-dump`} target="_blank" rel="noreferrer">
                          config dump (JSON)
                        </a>
                      </div>
                    </td>
                    <td>
                      {p.nodeGroup}
                      <div className="small muted mono">latest {shortVersion(p.latestVersion)}</div>
                    </td>
                    <td>
                      <span className={`badge ${p.connected ? 'live' : 'stale'}`}>{p.connected ? 'connected' : 'disconnected'}</span>
                      {p.replica && <div className="small muted">via {p.replica}</div>}
                      <div className="small muted">seen {formatTime(p.lastSeenAt)}</div>
                    </td>
                    <td>
                      <ul className="ref-list small">
                        {p.types.map((t) => (
                          <li key={t.typeUrl}>
                            <strong>{t.type}</strong> <span className={`badge ${STATUS_CLASS[t.status]}`}>{t.status}</span>{' '}
                            <span className="mono">
                              {shortVersion(t.sentVersion)} / {shortVersion(t.ackedVersion)}
                            </span>
                            {t.status === 'NACKED' && t.error && (
                              <div className="error">
                                Envoy rejected {shortVersion(t.nackVersion)}: <span className="mono">{t.error}</span>
                              </div>
                            )}
                          </li>
                        ))}
                      </ul>
                    </td>
                  </tr>
                ))}
              </DataTable>
            )}
          </>
        )}
      </section>
      <section className="card" aria-labelledby="agents-h">
        <h2 id="agents-h" className="panel-title">
          XDP agents
        </h2>
        {!agents.result ? (
          <p className="muted">Loading…</p>
        ) : !agents.result.ok ? (
          <p className={agents.result.missing ? 'muted' : 'error'} role="alert">
            {describeConsoleFailure(agents.result, 'Agent status', 'GET /api/v1/agents')}
          </p>
        ) : agentRows.length === 0 ? (
          <p className="muted">
            No agent has registered. Run <code>npm run agent</code> as root on a node, pointed at the xds server with this tenant&apos;s slug and a
            node group (README, “agent”).
          </p>
        ) : shownAgents.length === 0 ? (
          <p className="muted">No agent matches the filter. Clear it to see all {agentRows.length}.</p>
        ) : (
          <DataTable columns={['Node', 'Group', 'Status', 'Applied / desired', 'Counters (match / drop packets)']}>
            {shownAgents.map((a) => {
              const byName = countersByName(a.counters);
              return (
                <tr key={a.id} data-agent={a.nodeName}>
                  <td>
                    {a.nodeName}
                    <div className="small muted">
                      agent {a.agentVersion || '?'} · kernel {a.kernelVersion || '?'}
                    </div>
                  </td>
                  <td>{a.nodeGroup}</td>
                  <td>
                    <span className={`badge ${a.connected ? 'live' : 'stale'}`}>{a.connected ? 'connected' : 'disconnected'}</span>
                    {a.failedVersion && <span className="badge failed">rejected {shortVersion(a.failedVersion)}</span>}
                    {a.lastError && <div className="error small">{a.lastError}</div>}
                    <div className="small muted">seen {formatTime(a.lastSeenAt)}</div>
                  </td>
                  <td className="mono">
                    {shortVersion(a.appliedVersion)} / {shortVersion(a.desiredVersion)}{' '}
                    <span className={`badge ${a.desiredVersion === null ? '' : a.inSync ? 'synced' : 'stale'}`}>
                      {a.desiredVersion === null ? 'nothing pushed' : a.inSync ? 'in sync' : 'behind'}
                    </span>
                  </td>
                  <td className="small">
                    {byName.length === 0
                      ? '—'
                      : byName.slice(0, 10).map((c) => (
                          <div key={c.name} className="mono">
                            {c.name}: {c.matchPackets} / {c.dropPackets}
                          </div>
                        ))}
                    {byName.length > 10 && <div className="muted">… {byName.length - 10} more</div>}
                    {a.countersAt && <div className="muted">at {formatTime(a.countersAt)}</div>}
                  </td>
                </tr>
              );
            })}
          </DataTable>
        )}
      </section>
    </>
  );
}
