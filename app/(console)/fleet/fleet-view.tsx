'use client';

import { API, describeConsoleFailure } from '../../_lib/console-api';
import { formatTime } from '../../_lib/format';
import { usePoll } from '../../_lib/use-poll';

interface ProxyResource {
  typeUrl: string;
  sentVersion?: string | null;
  ackedVersion?: string | null;
  nackedVersion?: string | null;
  error?: string | null;
  state?: string;
}

interface ProxyRow {
  nodeId: string;
  nodeGroup?: string;
  connected?: boolean;
  lastSeenAt?: string;
  state?: string;
  resources?: ProxyResource[];
}

interface AgentRow {
  id: string;
  nodeName: string;
  nodeGroup: string;
  connected: boolean;
  lastSeenAt: string;
  appliedVersion: string | null;
  sentVersion: string | null;
  failedVersion: string | null;
  lastError: string | null;
  counters: { name?: string; rule?: string; packets?: number; bytes?: number; [k: string]: unknown }[];
  countersAt: string | null;
  agentVersion: string;
  kernelVersion: string;
}

const shortType = (t: string) => t.replace(/^type\.googleapis\.com\/envoy\.config\.\w+\.v3\./, '').replace(/^type\.googleapis\.com\//, '');
const shortVersion = (v: string | null | undefined) => (v ? v.slice(0, 12) : '—');

function resourceState(r: ProxyResource): string {
  if (r.state) return r.state;
  if (r.nackedVersion && r.nackedVersion === r.sentVersion) return 'nacked';
  if (r.sentVersion && r.ackedVersion !== r.sentVersion) return 'stale';
  return 'synced';
}

export function FleetView() {
  const proxies = usePoll<{ proxies: ProxyRow[] }>(API.proxies);
  const agents = usePoll<{ agents: AgentRow[] }>(API.agents);
  return (
    <>
      <section className="card" aria-labelledby="proxies-h">
        <h2 id="proxies-h" className="panel-title">
          Proxies
        </h2>
        {!proxies.result ? (
          <p className="muted">Loading…</p>
        ) : !proxies.result.ok ? (
          <p className={proxies.result.missing ? 'muted' : 'error'}>{describeConsoleFailure(proxies.result, 'Proxy status', 'GET /api/v1/proxies')}</p>
        ) : proxies.result.data.proxies.length === 0 ? (
          <p className="muted">No proxy has connected yet. Start Envoy with the bootstrap from `npm start` (or scripts/start.ts) pointing at the xds server.</p>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Group</th>
                  <th scope="col">Connected</th>
                  <th scope="col">Per type (sent / acked)</th>
                </tr>
              </thead>
              <tbody>
                {proxies.result.data.proxies.map((p) => (
                  <tr key={p.nodeId}>
                    <td className="mono">{p.nodeId}</td>
                    <td>{p.nodeGroup ?? '—'}</td>
                    <td>
                      <span className={`badge ${p.connected ? 'live' : 'stale'}`}>{p.connected ? 'connected' : 'gone'}</span>
                      <div className="small muted">{formatTime(p.lastSeenAt)}</div>
                    </td>
                    <td>
                      <ul className="ref-list small">
                        {(p.resources ?? []).map((r) => {
                          const s = resourceState(r);
                          return (
                            <li key={r.typeUrl}>
                              {shortType(r.typeUrl)} <span className={`badge ${s}`}>{s}</span> <span className="mono">{shortVersion(r.sentVersion)} / {shortVersion(r.ackedVersion)}</span>
                              {r.error && <div className="error">{r.error}</div>}
                            </li>
                          );
                        })}
                      </ul>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section className="card" aria-labelledby="agents-h">
        <h2 id="agents-h" className="panel-title">
          XDP agents
        </h2>
        {!agents.result ? (
          <p className="muted">Loading…</p>
        ) : !agents.result.ok ? (
          <p className={agents.result.missing ? 'muted' : 'error'}>{describeConsoleFailure(agents.result, 'Agent status', 'GET /api/v1/agents')}</p>
        ) : agents.result.data.agents.length === 0 ? (
          <p className="muted">No agent has registered. Run `npm run agent` as root on a node (see README, “agent”).</p>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Group</th>
                  <th scope="col">Status</th>
                  <th scope="col">Applied / sent</th>
                  <th scope="col">Counters</th>
                </tr>
              </thead>
              <tbody>
                {agents.result.data.agents.map((a) => (
                  <tr key={a.id}>
                    <td>
                      {a.nodeName}
                      <div className="small muted">
                        agent {a.agentVersion} · kernel {a.kernelVersion}
                      </div>
                    </td>
                    <td>{a.nodeGroup}</td>
                    <td>
                      <span className={`badge ${a.connected ? 'live' : 'stale'}`}>{a.connected ? 'connected' : 'gone'}</span>
                      {a.failedVersion && <span className="badge failed">failed {shortVersion(a.failedVersion)}</span>}
                      {a.lastError && <div className="error small">{a.lastError}</div>}
                      <div className="small muted">{formatTime(a.lastSeenAt)}</div>
                    </td>
                    <td className="mono">
                      {shortVersion(a.appliedVersion)} / {shortVersion(a.sentVersion)}
                    </td>
                    <td className="small">
                      {a.counters.length === 0
                        ? '—'
                        : a.counters.slice(0, 8).map((c, i) => (
                            <div key={i} className="mono">
                              {String(c.name ?? c.rule ?? i)}: {String(c.packets ?? '')} pkts
                            </div>
                          ))}
                      {a.countersAt && <div className="muted">{formatTime(a.countersAt)}</div>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
