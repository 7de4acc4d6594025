/**
 * Node agents and their status (registration, applied/failed bundle versions, counters). Written by the
 * agent channel (workers/agents/agent-channel.server.ts), read by xdp.service and awaitAgentAck.
 */
import type { AgentAckSummary, XdpCounter } from '../../contracts/xdp.schema';
import type { Db } from './client';
import type { DbTx } from './tx';

export interface AgentInterface {
  name: string;
  ifindex: number;
  mtu: number;
  xdpMode: string;
  xdpProgId: number;
}

export interface AgentStatus {
  id: string;
  tenantId: string;
  nodeName: string;
  nodeGroup: string;
  interfaces: AgentInterface[];
  kernelVersion: string;
  xdpModes: string[];
  agentVersion: string;
  protectedCidrs: string[];
  connected: boolean;
  connectedAt: Date | null;
  lastSeenAt: Date;
  appliedVersion: string | null;
  appliedAt: Date | null;
  sentVersion: string | null;
  failedVersion: string | null;
  lastError: string | null;
  failedAt: Date | null;
  counters: XdpCounter[];
  countersAt: Date | null;
}

const SELECT = {
  id: true,
  tenantId: true,
  nodeName: true,
  nodeGroup: true,
  interfaces: true,
  kernelVersion: true,
  xdpModes: true,
  agentVersion: true,
  protectedCidrs: true,
  connected: true,
  connectedAt: true,
  lastSeenAt: true,
  appliedVersion: true,
  appliedAt: true,
  sentVersion: true,
  failedVersion: true,
  lastError: true,
  failedAt: true,
  counters: true,
  countersAt: true,
} as const;

type Row = {
  [K in keyof typeof SELECT]: unknown;
};

function toStatus(r: Row): AgentStatus {
  return {
    ...(r as unknown as AgentStatus),
    interfaces: (r.interfaces ?? []) as AgentInterface[],
    counters: (r.counters ?? []) as XdpCounter[],
  };
}

export async function findTenantIdBySlug(db: DbTx, slug: string): Promise<string | null> {
  const t = await db.tenant.findUnique({ where: { slug }, select: { id: true } });
  return t?.id ?? null;
}

export interface AgentHello {
  tenantId: string;
  nodeName: string;
  nodeGroup: string;
  interfaces: AgentInterface[];
  kernelVersion: string;
  xdpModes: string[];
  agentVersion: string;
  protectedCidrs: string[];
  /** What the kernel enforces according to the agent ('' = nothing / unknown). */
  appliedVersion: string;
  sessionId: string;
}

/** Registers (or re-registers) an agent and marks it connected under a new session. */
export async function registerAgent(db: DbTx, h: AgentHello): Promise<AgentStatus> {
  const now = new Date();
  const data = {
    nodeGroup: h.nodeGroup,
    interfaces: h.interfaces as unknown as object,
    kernelVersion: h.kernelVersion,
    xdpModes: h.xdpModes,
    agentVersion: h.agentVersion,
    protectedCidrs: h.protectedCidrs,
    connected: true,
    sessionId: h.sessionId,
    connectedAt: now,
    lastSeenAt: now,
    appliedVersion: h.appliedVersion || null,
    sentVersion: null,
  };
  const row = await db.agent.upsert({
    where: { tenantId_nodeName: { tenantId: h.tenantId, nodeName: h.nodeName } },
    create: { tenantId: h.tenantId, nodeName: h.nodeName, ...data },
    update: data,
    select: SELECT,
  });
  return toStatus(row);
}

/** Marks the agent offline unless a newer session took over. */
export async function markAgentDisconnected(db: DbTx, agentId: string, sessionId: string): Promise<void> {
  await db.agent.updateMany({ where: { id: agentId, sessionId }, data: { connected: false, lastSeenAt: new Date() } });
}

export async function markBundleSent(db: DbTx, agentId: string, version: string): Promise<void> {
  await db.agent.update({ where: { id: agentId }, data: { sentVersion: version, sentAt: new Date(), lastSeenAt: new Date() } });
}

/**
 * Records an ApplyResult. Returns whether it changed the agent's state (a new applied version, or a new
 * failure), so callers audit transitions only.
 */
export async function recordApplyResult(
  db: DbTx,
  agentId: string,
  r: { version: string; ok: boolean; error: string },
): Promise<{ changed: boolean; agent: AgentStatus }> {
  const before = await db.agent.findUniqueOrThrow({ where: { id: agentId }, select: SELECT });
  const now = new Date();
  const data = r.ok
    ? { appliedVersion: r.version, appliedAt: now, failedVersion: null, lastError: null, failedAt: null, lastSeenAt: now }
    : { failedVersion: r.version, lastError: r.error.slice(0, 16_000), failedAt: now, lastSeenAt: now };
  const after = await db.agent.update({ where: { id: agentId }, data, select: SELECT });
  const changed = r.ok
    ? before.appliedVersion !== r.version || before.failedVersion !== null
    : before.failedVersion !== r.version || before.lastError !== r.error.slice(0, 16_000);
  return { changed, agent: toStatus(after) };
}

export async function recordCounters(db: DbTx, agentId: string, counters: XdpCounter[]): Promise<void> {
  const now = new Date();
  await db.agent.update({
    where: { id: agentId },
    data: { counters: counters as unknown as object, countersAt: now, lastSeenAt: now },
  });
}

export async function listAgentStatuses(db: DbTx, tenantId: string, filter: { nodeGroup?: string } = {}): Promise<AgentStatus[]> {
  const rows = await db.agent.findMany({
    where: { tenantId, ...(filter.nodeGroup ? { nodeGroup: filter.nodeGroup } : {}) },
    orderBy: [{ nodeGroup: 'asc' }, { nodeName: 'asc' }],
    select: SELECT,
  });
  return rows.map(toStatus);
}

export async function findAgentStatus(db: DbTx, tenantId: string, agentId: string): Promise<AgentStatus | null> {
  const row = await db.agent.findFirst({ where: { tenantId, id: agentId }, select: SELECT });
  return row ? toStatus(row) : null;
}

/** Protected CIDRs the connected agents of a group are configured with (for the control-plane guard). */
export async function agentProtectedCidrs(db: DbTx, tenantId: string, nodeGroup: string): Promise<string[]> {
  const rows = await db.agent.findMany({ where: { tenantId, nodeGroup }, select: { protectedCidrs: true } });
  return [...new Set(rows.flatMap((r) => r.protectedCidrs))].sort();
}

/** Per connected agent of the group: ACKed (applied == version), failed (rejected this version) or pending. */
export async function getAgentAckStatus(db: Db, q: { tenantId: string; nodeGroup: string; version: string }): Promise<AgentAckSummary> {
  const rows = await db.agent.findMany({
    where: { tenantId: q.tenantId, nodeGroup: q.nodeGroup, connected: true },
    orderBy: { nodeName: 'asc' },
    select: { id: true, nodeName: true, appliedVersion: true, failedVersion: true, lastError: true },
  });
  const summary: AgentAckSummary = { nodeGroup: q.nodeGroup, version: q.version, acked: [], pending: [], failed: [] };
  for (const r of rows) {
    const ref = { agentId: r.id, nodeName: r.nodeName };
    if (r.appliedVersion === q.version) summary.acked.push(ref);
    else if (r.failedVersion === q.version) summary.failed.push({ ...ref, error: r.lastError ?? '' });
    else summary.pending.push({ ...ref, appliedVersion: r.appliedVersion });
  }
  return summary;
}
