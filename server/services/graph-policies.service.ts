/**
 * The policies the graph editor draws beside the route graph, with their live decision counts:
 *   - request policies (Rego, enforced by ext_authz): allowed / denied counts of the sampled decision log
 *     over the last `windowMinutes` (the log stores the share EXTAUTHZ_DECISION_LOG_SAMPLE_RATE of decisions);
 *   - XDP rule sets (stored XDP policy versions of a node group): per group the desired version and a newer
 *     unpublished one, with the counters the group's agents report for the rules of the version they applied.
 * Counts are what was recorded, never estimates.
 */
import { listAgentStatuses } from '../db/agent.repo';
import { countDecisionsByPolicy } from '../db/policy-decision-log.repo';
import { listPolicies } from '../db/policy.repo';
import { listXdpGroupStates, listXdpPolicyVersions } from '../db/xdp-policy.repo';
import type { DbTx } from '../db/tx';
import { requirePermission, type Principal } from '../auth/principal';
import { can } from '../auth/permissions';

export interface RequestPolicyStatus {
  name: string;
  description: string;
  /** The version ext_authz enforces (null: none is live, requests to bound routes are denied). */
  liveVersion: number | null;
  /** Sampled decisions in the window. */
  allowed: number;
  denied: number;
}

export interface XdpRuleSetStatus {
  /** The XDP policy version's id (POST /api/v1/xdp-policies/{id}/publish). */
  id: string;
  nodeGroup: string;
  seq: number;
  version: string;
  /** The group's desired version (what its agents should run). */
  published: boolean;
  rules: { name: string; kind: 'deny' | 'rateLimit'; countOnly: boolean }[];
  countOnly: boolean;
  agents: { total: number; connected: number; applied: number };
  /** Summed over the agents that applied this version, every interface and rule (null: fleet.read missing). */
  counters: { matchPackets: number; dropPackets: number; perRule: { name: string; matchPackets: number; dropPackets: number }[] } | null;
  countersAt: string | null;
}

export interface GraphPolicyStatus {
  since: string;
  windowMinutes: number;
  /** Share of ext_authz decisions the decision log stores (this deployment's setting). */
  decisionLogSampleRate: number;
  requestPolicies: RequestPolicyStatus[];
  xdpRuleSets: XdpRuleSetStatus[];
}

export async function getGraphPolicyStatus(
  db: DbTx,
  principal: Principal,
  opts: { windowMinutes?: number; decisionLogSampleRate: number; now?: Date },
): Promise<GraphPolicyStatus> {
  requirePermission(principal, 'policies.read');
  const tenantId = principal.tenant.id;
  const windowMinutes = opts.windowMinutes ?? 60;
  const since = new Date((opts.now ?? new Date()).getTime() - windowMinutes * 60_000);
  const fleet = can(principal.role, 'fleet.read');
  const [policies, counts, versions, states, agents] = await Promise.all([
    listPolicies(db, tenantId, 'request'),
    countDecisionsByPolicy(db, tenantId, since),
    listXdpPolicyVersions(db, tenantId, undefined, 500),
    listXdpGroupStates(db, tenantId),
    fleet ? listAgentStatuses(db, tenantId, {}) : Promise.resolve([]),
  ]);

  const requestPolicies = policies.map((p) => ({
    name: p.name,
    description: p.description,
    liveVersion: p.liveVersionNumber,
    allowed: counts.get(p.name)?.allowed ?? 0,
    denied: counts.get(p.name)?.denied ?? 0,
  }));

  // Per node group: the desired version, and the newest one when it is newer (written, not yet published).
  const desired = new Map(states.map((s) => [s.nodeGroup, s.desiredPolicyId]));
  const seqById = new Map(versions.map((v) => [v.id, v.seq]));
  const shown = new Map<string, typeof versions>();
  for (const v of versions) {
    const list = shown.get(v.nodeGroup) ?? [];
    const desiredId = desired.get(v.nodeGroup);
    const desiredSeq = (desiredId === undefined ? undefined : seqById.get(desiredId)) ?? -1;
    if (desiredId === v.id || (list.length === 0 && v.seq > desiredSeq)) list.push(v);
    shown.set(v.nodeGroup, list);
  }
  const xdpRuleSets: XdpRuleSetStatus[] = [];
  for (const [nodeGroup, list] of [...shown].sort(([a], [b]) => a.localeCompare(b))) {
    const members = agents.filter((a) => a.nodeGroup === nodeGroup);
    for (const v of list) {
      const applied = members.filter((a) => a.appliedVersion === v.version);
      const ruleNames = new Set(v.spec.rules.map((r) => r.name));
      const perRule = new Map<string, { name: string; matchPackets: number; dropPackets: number }>();
      let countersAt: Date | null = null;
      for (const a of applied) {
        if (a.countersAt && (!countersAt || a.countersAt > countersAt)) countersAt = a.countersAt;
        for (const c of a.counters) {
          if (!ruleNames.has(c.name)) continue;
          const r = perRule.get(c.name) ?? { name: c.name, matchPackets: 0, dropPackets: 0 };
          r.matchPackets += c.matchPackets;
          r.dropPackets += c.dropPackets;
          perRule.set(c.name, r);
        }
      }
      const rules = v.spec.rules.map((r) => ({ name: r.name, kind: r.kind, countOnly: r.countOnly }));
      xdpRuleSets.push({
        id: v.id,
        nodeGroup,
        seq: v.seq,
        version: v.version,
        published: desired.get(nodeGroup) === v.id,
        rules,
        countOnly: v.spec.countOnly,
        agents: { total: members.length, connected: members.filter((a) => a.connected).length, applied: applied.length },
        counters: fleet
          ? {
              matchPackets: [...perRule.values()].reduce((s, r) => s + r.matchPackets, 0),
              dropPackets: [...perRule.values()].reduce((s, r) => s + r.dropPackets, 0),
              perRule: rules.map((r) => perRule.get(r.name) ?? { name: r.name, matchPackets: 0, dropPackets: 0 }),
            }
          : null,
        countersAt: countersAt ? countersAt.toISOString() : null,
      });
    }
  }
  return { since: since.toISOString(), windowMinutes, decisionLogSampleRate: opts.decisionLogSampleRate, requestPolicies, xdpRuleSets };
}
