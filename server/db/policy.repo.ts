/**
 * Policies and their immutable versions (prisma/policy.prisma). Every query filters by tenantId. A change of
 * a policy's live version is announced with NOTIFY on POLICY_NOTIFY_CHANNEL (payload JSON
 * PolicyNotification), delivered at commit, so ext_authz servers swap the policy at once.
 */
import type { PolicyKind } from '../../contracts/policy.schema';
import type { PolicyDiagnostic, PolicyTestResult, RegoModule } from '../../core/policy/ports';
import { isUuid, type DbTx } from './tx';

export const POLICY_NOTIFY_CHANNEL = 'proxyshard_policies';

export interface PolicyNotification {
  tenantId: string;
  policyId: string;
  name: string;
  /** The new live version id (null: deactivated). */
  versionId: string | null;
}

export interface PolicyRow {
  id: string;
  tenantId: string;
  name: string;
  kind: PolicyKind;
  description: string;
  liveVersionId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface PolicyVersionSummary {
  id: string;
  tenantId: string;
  policyId: string;
  number: number;
  status: 'compiled' | 'failed';
  entrypoints: string[];
  diagnostics: PolicyDiagnostic[];
  testResults: PolicyTestResult[];
  wasmSha256: string | null;
  createdBy: string;
  createdAt: Date;
}

export interface PolicyVersionFull extends PolicyVersionSummary {
  modules: RegoModule[];
  data: Record<string, unknown>;
}

/** What an evaluator needs: the compiled module and its data. */
export interface LivePolicy {
  tenantId: string;
  policyId: string;
  name: string;
  kind: PolicyKind;
  versionId: string;
  versionNumber: number;
  wasm: Uint8Array;
  wasmSha256: string;
  data: Record<string, unknown>;
  /** The entrypoints compiled into the module. */
  entrypoints: string[];
}

const summarySelect = {
  id: true,
  tenantId: true,
  policyId: true,
  number: true,
  status: true,
  entrypoints: true,
  diagnostics: true,
  testResults: true,
  wasmSha256: true,
  createdBy: true,
  createdAt: true,
} as const;

type SummaryRow = {
  id: string;
  tenantId: string;
  policyId: string;
  number: number;
  status: 'compiled' | 'failed';
  entrypoints: string[];
  diagnostics: unknown;
  testResults: unknown;
  wasmSha256: string | null;
  createdBy: string;
  createdAt: Date;
};

function toSummary(r: SummaryRow): PolicyVersionSummary {
  return { ...r, diagnostics: r.diagnostics as PolicyDiagnostic[], testResults: r.testResults as PolicyTestResult[] };
}

export async function findPolicyByName(db: DbTx, tenantId: string, name: string): Promise<PolicyRow | null> {
  return db.policy.findUnique({ where: { tenantId_name: { tenantId, name } } });
}

/** The tenant's policy with this id (null for another tenant's, or a malformed id). */
export async function findPolicyById(db: DbTx, tenantId: string, id: string): Promise<PolicyRow | null> {
  if (!isUuid(id)) return null;
  return db.policy.findFirst({ where: { id, tenantId } });
}

export async function listPolicies(db: DbTx, tenantId: string, kind?: PolicyKind): Promise<(PolicyRow & { liveVersionNumber: number | null })[]> {
  const rows = await db.policy.findMany({
    where: { tenantId, ...(kind !== undefined ? { kind } : {}) },
    orderBy: { name: 'asc' },
    include: { liveVersion: { select: { number: true } } },
  });
  return rows.map(({ liveVersion, ...p }) => ({ ...p, liveVersionNumber: liveVersion?.number ?? null }));
}

/** Creates the policy, or returns the existing one of that name (under concurrent creation, too). */
export async function ensurePolicy(
  db: DbTx,
  input: { tenantId: string; name: string; kind: PolicyKind; description?: string },
): Promise<{ policy: PolicyRow; created: boolean }> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO "Policy" ("id", "tenantId", "name", "kind", "description", "updatedAt")
    VALUES (gen_random_uuid(), ${input.tenantId}::uuid, ${input.name}, ${input.kind}::"PolicyKind", ${input.description ?? ''}, now())
    ON CONFLICT ("tenantId", "name") DO NOTHING
    RETURNING "id"`;
  const policy = await findPolicyByName(db, input.tenantId, input.name);
  if (policy === null) throw new Error(`policy ${input.name} vanished`);
  return { policy, created: rows.length > 0 };
}

/** Locks the policy row (FOR UPDATE) so version numbers and the live pointer change one at a time. */
export async function lockPolicy(db: DbTx, tenantId: string, policyId: string): Promise<void> {
  await db.$queryRaw`SELECT 1 FROM "Policy" WHERE "id" = ${policyId}::uuid AND "tenantId" = ${tenantId}::uuid FOR UPDATE`;
}

export async function insertPolicyVersion(
  db: DbTx,
  input: {
    tenantId: string;
    policyId: string;
    modules: RegoModule[];
    data: Record<string, unknown>;
    entrypoints: string[];
    status: 'compiled' | 'failed';
    diagnostics: PolicyDiagnostic[];
    testResults: PolicyTestResult[];
    wasm: Uint8Array | null;
    wasmSha256: string | null;
    createdBy: string;
  },
): Promise<PolicyVersionSummary> {
  const last = await db.policyVersion.findFirst({
    where: { tenantId: input.tenantId, policyId: input.policyId },
    orderBy: { number: 'desc' },
    select: { number: true },
  });
  const row = await db.policyVersion.create({
    data: {
      tenantId: input.tenantId,
      policyId: input.policyId,
      number: (last?.number ?? 0) + 1,
      modules: input.modules.map((m) => ({ file: m.file, source: m.source })),
      data: input.data as object,
      entrypoints: input.entrypoints,
      status: input.status,
      diagnostics: input.diagnostics as unknown as object[],
      testResults: input.testResults as unknown as object[],
      wasm: input.wasm === null ? null : Buffer.from(input.wasm),
      wasmSha256: input.wasmSha256,
      createdBy: input.createdBy,
    },
    select: summarySelect,
  });
  return toSummary(row);
}

export async function listPolicyVersions(db: DbTx, tenantId: string, policyId: string): Promise<PolicyVersionSummary[]> {
  const rows = await db.policyVersion.findMany({ where: { tenantId, policyId }, orderBy: { number: 'desc' }, select: summarySelect });
  return rows.map(toSummary);
}

export async function findPolicyVersion(db: DbTx, tenantId: string, policyId: string, number: number): Promise<PolicyVersionFull | null> {
  const row = await db.policyVersion.findFirst({
    where: { tenantId, policyId, number },
    select: { ...summarySelect, modules: true, data: true },
  });
  if (row === null) return null;
  const { modules, data, ...rest } = row;
  return { ...toSummary(rest), modules: modules as unknown as RegoModule[], data: data as Record<string, unknown> };
}

/** A compiled version with its Wasm (for evaluation): `number`, or else the live version, or else the newest compiled. */
export async function findCompiledPolicyVersion(
  db: DbTx,
  tenantId: string,
  policy: Pick<PolicyRow, 'id' | 'liveVersionId'>,
  number?: number,
): Promise<(PolicyVersionSummary & { wasm: Uint8Array | null; data: Record<string, unknown> }) | null> {
  const where =
    number !== undefined
      ? { tenantId, policyId: policy.id, number }
      : policy.liveVersionId !== null
        ? { tenantId, policyId: policy.id, id: policy.liveVersionId }
        : { tenantId, policyId: policy.id, status: 'compiled' as const };
  const row = await db.policyVersion.findFirst({ where, orderBy: { number: 'desc' }, select: { ...summarySelect, wasm: true, data: true } });
  if (row === null) return null;
  const { wasm, data, ...rest } = row;
  return { ...toSummary(rest), wasm: wasm === null ? null : new Uint8Array(wasm), data: data as Record<string, unknown> };
}

export async function setLivePolicyVersion(db: DbTx, tenantId: string, policyId: string, versionId: string | null): Promise<void> {
  await db.policy.update({ where: { id: policyId, tenantId }, data: { liveVersionId: versionId } });
}

/** NOTIFY on POLICY_NOTIFY_CHANNEL; inside a transaction it is delivered at commit (and dropped on rollback). */
export async function notifyPolicyChanged(db: DbTx, payload: PolicyNotification): Promise<void> {
  await db.$executeRaw`SELECT pg_notify(${POLICY_NOTIFY_CHANNEL}, ${JSON.stringify(payload)})`;
}

type LiveRow = {
  id: string;
  tenantId: string;
  name: string;
  kind: PolicyKind;
  liveVersion: { id: string; number: number; wasm: Uint8Array | null; wasmSha256: string | null; data: unknown; entrypoints: string[] } | null;
};

function toLive(r: LiveRow): LivePolicy[] {
  const v = r.liveVersion;
  if (v === null || v.wasm === null || v.wasmSha256 === null) return [];
  return [
    {
      tenantId: r.tenantId,
      policyId: r.id,
      name: r.name,
      kind: r.kind,
      versionId: v.id,
      versionNumber: v.number,
      wasm: new Uint8Array(v.wasm),
      wasmSha256: v.wasmSha256,
      data: v.data as Record<string, unknown>,
      entrypoints: v.entrypoints,
    },
  ];
}

const liveSelect = {
  id: true,
  tenantId: true,
  name: true,
  kind: true,
  liveVersion: { select: { id: true, number: true, wasm: true, wasmSha256: true, data: true, entrypoints: true } },
} as const;

/** The tenant's live policies of one kind, by name. */
export async function listLivePolicies(db: DbTx, tenantId: string, kind: PolicyKind): Promise<LivePolicy[]> {
  const rows = await db.policy.findMany({ where: { tenantId, kind, liveVersionId: { not: null } }, orderBy: { name: 'asc' }, select: liveSelect });
  return rows.flatMap(toLive);
}

/** One live policy (any kind), or null when the policy has no live version. */
export async function findLivePolicy(db: DbTx, tenantId: string, name: string): Promise<LivePolicy | null> {
  const row = await db.policy.findUnique({ where: { tenantId_name: { tenantId, name } }, select: liveSelect });
  return row === null ? null : (toLive(row)[0] ?? null);
}

/** Every tenant's live request policies with the tenant slug (for the ext_authz server's cache). */
export async function listAllLiveRequestPolicies(db: DbTx): Promise<(LivePolicy & { tenantSlug: string })[]> {
  const rows = await db.policy.findMany({ where: { kind: 'request', liveVersionId: { not: null } }, select: liveSelect });
  const tenantIds = [...new Set(rows.map((r) => r.tenantId))];
  const tenants = await db.tenant.findMany({ where: { id: { in: tenantIds } }, select: { id: true, slug: true } });
  const slug = new Map(tenants.map((t) => [t.id, t.slug]));
  return rows.flatMap(toLive).map((p) => ({ ...p, tenantSlug: slug.get(p.tenantId) ?? '' }));
}
