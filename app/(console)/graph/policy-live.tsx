'use client';

import type { GraphPolicyStatus, RequestPolicyStatus, XdpRuleSetStatus } from '@/server/services/graph-policies.service';
import { nodeId, parseNodeId, type GraphOverlay } from '../../_lib/route-graph-model';

export type { GraphPolicyStatus };

const fmt = (n: number) => n.toLocaleString('en');

/** What the canvas shows beside the route graph, from the live status (stable while only counts change: see overlayKey). */
export function overlayOf(s: GraphPolicyStatus | null): GraphOverlay {
  return {
    requestPolicies: s?.requestPolicies.map((p) => p.name) ?? [],
    xdpRuleSets:
      s?.xdpRuleSets.map((x) => ({
        id: x.id,
        nodeGroup: x.nodeGroup,
        name: `${x.nodeGroup} v${x.seq}`,
        detail: `${x.rules.length} rule${x.rules.length === 1 ? '' : 's'}${x.published ? '' : ' · not published'}`,
        published: x.published,
      })) ?? [],
  };
}

export function overlayKey(o: GraphOverlay): string {
  return JSON.stringify(o);
}

/** The live line of each policy node (node id → text). */
export function liveLines(s: GraphPolicyStatus | null): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of s?.requestPolicies ?? []) m.set(nodeId('policy', p.name), p.liveVersion === null ? 'no live version' : `✓ ${fmt(p.allowed)} allowed · ✗ ${fmt(p.denied)} denied`);
  for (const x of s?.xdpRuleSets ?? []) {
    let line: string;
    if (!x.published) line = 'not published';
    else if (!x.counters) line = `${x.agents.applied}/${x.agents.total} agents applied`;
    else if (x.agents.applied === 0) line = x.agents.total === 0 ? 'no agent in the group' : `0/${x.agents.total} agents applied`;
    else line = `${fmt(x.counters.matchPackets)} matched · ${fmt(x.counters.dropPackets)} dropped`;
    m.set(nodeId('xdpRuleSet', x.id), line);
  }
  return m;
}

export function liveKey(m: Map<string, string>): string {
  return JSON.stringify([...m]);
}

function RequestPolicyLive({ p, status }: { p: RequestPolicyStatus; status: GraphPolicyStatus }) {
  return (
    <section className="graph-live" aria-label="Live decisions">
      <h3 className="panel-title">Live decisions</h3>
      {p.liveVersion === null ? (
        <p className="error">No version of this policy is live: ext_authz denies every request to the routes bound to it. Activate a version in the Rego editor.</p>
      ) : (
        <p>
          Version {p.liveVersion} is live. Last {status.windowMinutes} min:{' '}
          <strong data-testid="policy-allowed">{fmt(p.allowed)}</strong> allowed, <strong data-testid="policy-denied">{fmt(p.denied)}</strong> denied.
        </p>
      )}
      <p className="muted small">
        Counted from the decision log, which stores {status.decisionLogSampleRate >= 1 ? 'every decision' : `a sample (${status.decisionLogSampleRate * 100} %) of the decisions`} of ext_authz.{' '}
        <a href={`/policies?name=${encodeURIComponent(p.name)}`}>Decision log and Rego</a>
      </p>
    </section>
  );
}

function XdpRuleSetPanel({ x, inGraph }: { x: XdpRuleSetStatus; inGraph: boolean }) {
  return (
    <div>
      <h2 className="panel-title">
        XDP rule set <span className="mono">{x.nodeGroup}</span> v{x.seq}
      </h2>
      <p className="small">
        Not part of the route-graph revision. An edge from it to a node group means: this version is the group&apos;s desired XDP state. Drawing one publishes it at once through its
        own workflow (pushXdpPolicyWorkflow), not with Save or Apply; the group&apos;s agents apply it and acknowledge the version.
        {x.published ? '' : ' This version is written but not published yet: connect it to its node group to publish it.'}
      </p>
      {!inGraph && <p className="muted small">Node group {x.nodeGroup} is not in this route graph, so its edge is not drawn.</p>}
      <p className="small mono">version {x.version.slice(0, 12)}…</p>
      <p>
        Agents: {x.agents.applied} of {x.agents.total} applied this version ({x.agents.connected} connected).
      </p>
      {x.counters === null ? (
        <p className="muted small">Counters need the fleet.read permission.</p>
      ) : (
        <table className="small">
          <thead>
            <tr>
              <th>Rule</th>
              <th>Matched</th>
              <th>Dropped</th>
            </tr>
          </thead>
          <tbody>
            {x.counters.perRule.map((r) => (
              <tr key={r.name}>
                <td className="mono">
                  {r.name}
                  {x.countOnly || x.rules.find((y) => y.name === r.name)?.countOnly ? ' (count only)' : ''}
                </td>
                <td>{fmt(r.matchPackets)}</td>
                <td>{fmt(r.dropPackets)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {x.countersAt && <p className="muted small">Counters reported by the agents at {new Date(x.countersAt).toLocaleTimeString()} (packets since each agent attached the program).</p>}
    </div>
  );
}

/** The live part of the side panel for a selected request policy or XDP rule set (null for other nodes). */
export function PolicyLivePanel({ id, status, nodeGroups }: { id: string; status: GraphPolicyStatus | null; nodeGroups: Set<string> }) {
  const p = parseNodeId(id);
  if (!p || (p.kind !== 'policy' && p.kind !== 'xdpRuleSet')) return null;
  if (!status) return <p className="muted small">Loading live decision counts…</p>;
  if (p.kind === 'policy') {
    const rp = status.requestPolicies.find((x) => x.name === p.name);
    return rp ? <RequestPolicyLive p={rp} status={status} /> : <p className="error small">No request policy {p.name} exists in this tenant: requests to routes bound to it are denied. Create it in the Rego editor.</p>;
  }
  const x = status.xdpRuleSets.find((r) => r.id === p.name);
  return x ? <XdpRuleSetPanel x={x} inGraph={nodeGroups.has(x.nodeGroup)} /> : <p className="muted">This XDP rule set is no longer shown (a newer version replaced it).</p>;
}
