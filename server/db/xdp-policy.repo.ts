/**
 * Versioned XDP policies per (tenant, node group) and the desired version of each group.
 * A policy row is immutable once written; "desired" moves with pushXdpBundle. Changes of the desired
 * version are announced with NOTIFY on XDP_NOTIFY_CHANNEL (payload JSON { tenantId, nodeGroup }) so every
 * agent-channel replica pushes to its connected agents at once.
 */
import type { XdpBundle, XdpPolicySpec } from '../../contracts/xdp.schema';
import { isUniqueViolation, type DbTx } from './tx';

export const XDP_NOTIFY_CHANNEL = 'proxyshard_xdp';

export interface XdpPolicyVersion {
  id: string;
  tenantId: string;
  nodeGroup: string;
  seq: number;
  version: string;
  spec: XdpPolicySpec;
  bundle: XdpBundle;
  createdAt: Date;
  createdBy: string;
}

type Row = {
  id: string;
  tenantId: string;
  nodeGroup: string;
  seq: number;
  version: string;
  spec: unknown;
  bundle: unknown;
  createdAt: Date;
  createdBy: string;
};

function toVersion(r: Row): XdpPolicyVersion {
  return { ...r, spec: r.spec as XdpPolicySpec, bundle: r.bundle as XdpBundle };
}

/** Writes the next version (seq = last + 1) of the group's policy. */
export async function insertXdpPolicyVersion(
  db: DbTx,
  input: { tenantId: string; nodeGroup: string; spec: XdpPolicySpec; bundle: XdpBundle; createdBy: string },
): Promise<XdpPolicyVersion> {
  for (let attempt = 0; ; attempt++) {
    const last = await db.xdpPolicy.findFirst({
      where: { tenantId: input.tenantId, nodeGroup: input.nodeGroup },
      orderBy: { seq: 'desc' },
      select: { seq: true },
    });
    try {
      const row = await db.xdpPolicy.create({
        data: {
          tenantId: input.tenantId,
          nodeGroup: input.nodeGroup,
          seq: (last?.seq ?? 0) + 1,
          spec: input.spec as unknown as object,
          bundle: input.bundle as unknown as object,
          version: input.bundle.version,
          createdBy: input.createdBy,
        },
      });
      return toVersion(row);
    } catch (err) {
      if (!isUniqueViolation(err) || attempt >= 5) throw err;
    }
  }
}

export async function findXdpPolicyVersion(db: DbTx, tenantId: string, id: string): Promise<XdpPolicyVersion | null> {
  const row = await db.xdpPolicy.findFirst({ where: { tenantId, id } });
  return row ? toVersion(row) : null;
}

/** Newest first; every node group of the tenant when `nodeGroup` is undefined. */
export async function listXdpPolicyVersions(db: DbTx, tenantId: string, nodeGroup: string | undefined, limit = 50): Promise<XdpPolicyVersion[]> {
  const rows = await db.xdpPolicy.findMany({
    where: { tenantId, ...(nodeGroup !== undefined ? { nodeGroup } : {}) },
    orderBy: [{ createdAt: 'desc' }, { nodeGroup: 'asc' }, { seq: 'desc' }],
    take: limit,
  });
  return rows.map(toVersion);
}

export interface XdpGroupState {
  nodeGroup: string;
  desiredPolicyId: string;
  desiredVersion: string;
  updatedAt: Date;
}

/** What each node group of the tenant should run (groups never pushed to have no row). */
export async function listXdpGroupStates(db: DbTx, tenantId: string, nodeGroup?: string): Promise<XdpGroupState[]> {
  return db.xdpGroupState.findMany({
    where: { tenantId, ...(nodeGroup !== undefined ? { nodeGroup } : {}) },
    orderBy: { nodeGroup: 'asc' },
    select: { nodeGroup: true, desiredPolicyId: true, desiredVersion: true, updatedAt: true },
  });
}

/** Makes `policyId` the group's desired version. Idempotent: `changed` is false when it already was. */
export async function setDesiredXdpPolicy(
  db: DbTx,
  input: { tenantId: string; nodeGroup: string; policyId: string; version: string },
): Promise<{ changed: boolean; previousVersion: string | null }> {
  const cur = await db.xdpGroupState.findUnique({
    where: { tenantId_nodeGroup: { tenantId: input.tenantId, nodeGroup: input.nodeGroup } },
  });
  if (cur?.desiredPolicyId === input.policyId) return { changed: false, previousVersion: cur.desiredVersion };
  await db.xdpGroupState.upsert({
    where: { tenantId_nodeGroup: { tenantId: input.tenantId, nodeGroup: input.nodeGroup } },
    create: { tenantId: input.tenantId, nodeGroup: input.nodeGroup, desiredPolicyId: input.policyId, desiredVersion: input.version },
    update: { desiredPolicyId: input.policyId, desiredVersion: input.version },
  });
  return { changed: true, previousVersion: cur?.desiredVersion ?? null };
}

/** NOTIFY (delivered when the surrounding transaction commits). */
export async function notifyXdpDesired(db: DbTx, tenantId: string, nodeGroup: string): Promise<void> {
  await db.$executeRaw`SELECT pg_notify(${XDP_NOTIFY_CHANNEL}, ${JSON.stringify({ tenantId, nodeGroup })})`;
}

export async function findDesiredXdpBundle(db: DbTx, tenantId: string, nodeGroup: string): Promise<XdpBundle | null> {
  const st = await db.xdpGroupState.findUnique({ where: { tenantId_nodeGroup: { tenantId, nodeGroup } } });
  if (!st) return null;
  const row = await db.xdpPolicy.findFirst({ where: { tenantId, id: st.desiredPolicyId }, select: { bundle: true } });
  return row ? (row.bundle as unknown as XdpBundle) : null;
}

export async function findDesiredXdpVersion(db: DbTx, tenantId: string, nodeGroup: string): Promise<string | null> {
  const st = await db.xdpGroupState.findUnique({ where: { tenantId_nodeGroup: { tenantId, nodeGroup } }, select: { desiredVersion: true } });
  return st?.desiredVersion ?? null;
}
