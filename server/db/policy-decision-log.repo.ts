/**
 * Sampled ext_authz decisions (prisma/policy.prisma DecisionLog): written in batches by the ext_authz
 * server, read by the console/API filtered by tenant.
 */
import type { DbTx } from './tx';

export interface DecisionLogInput {
  tenantId: string;
  policyId: string;
  policyVersionId: string;
  policyName: string;
  at: Date;
  allowed: boolean;
  httpStatus: number;
  method: string;
  path: string;
  route: string;
  input: unknown;
  result: unknown;
  durationUs: number;
  error?: string | null;
}

export interface DecisionLogEntry extends DecisionLogInput {
  id: bigint;
}

export async function insertDecisionLogs(db: DbTx, entries: readonly DecisionLogInput[]): Promise<number> {
  if (entries.length === 0) return 0;
  const r = await db.decisionLog.createMany({
    data: entries.map((e) => ({
      ...e,
      input: (e.input ?? null) as object,
      result: (e.result === undefined ? null : e.result) as object,
      durationUs: Math.min(Math.round(e.durationUs), 2_147_483_647),
      error: e.error ?? null,
    })),
  });
  return r.count;
}

export async function listDecisionLogs(
  db: DbTx,
  tenantId: string,
  q: { policy?: string; policyId?: string; allowed?: boolean; method?: string; route?: string; since?: Date; before?: bigint; limit: number },
): Promise<DecisionLogEntry[]> {
  const rows = await db.decisionLog.findMany({
    where: {
      tenantId,
      ...(q.policy !== undefined ? { policyName: q.policy } : {}),
      ...(q.policyId !== undefined ? { policyId: q.policyId } : {}),
      ...(q.allowed !== undefined ? { allowed: q.allowed } : {}),
      ...(q.method !== undefined ? { method: q.method } : {}),
      ...(q.route !== undefined ? { route: q.route } : {}),
      ...(q.since !== undefined ? { at: { gte: q.since } } : {}),
      ...(q.before !== undefined ? { id: { lt: q.before } } : {}),
    },
    orderBy: { id: 'desc' },
    take: q.limit,
  });
  return rows.map((r) => ({ ...r, error: r.error }));
}

/** Sampled decisions per policy since `since`: allowed and denied counts (from the tenantId+policyName+at index). */
export async function countDecisionsByPolicy(db: DbTx, tenantId: string, since: Date): Promise<Map<string, { allowed: number; denied: number }>> {
  const rows = await db.decisionLog.groupBy({ by: ['policyName', 'allowed'], where: { tenantId, at: { gte: since } }, _count: { _all: true } });
  const out = new Map<string, { allowed: number; denied: number }>();
  for (const r of rows) {
    const c = out.get(r.policyName) ?? { allowed: 0, denied: 0 };
    if (r.allowed) c.allowed += r._count._all;
    else c.denied += r._count._all;
    out.set(r.policyName, c);
  }
  return out;
}
