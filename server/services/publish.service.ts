/**
 * Publishing a revision: validate → compile → consistency check → store snapshots → make the revision live
 * → NOTIFY the xds replicas, all in one transaction (the NOTIFY is delivered at commit). A revision that
 * fails any check leaves the live revision and the stored snapshots untouched.
 *
 * Idempotent: publishing content whose snapshots are already the latest writes no snapshot row and reports
 * `changed: false` (proxies see nothing new). Node groups that disappear from the graph get an empty
 * snapshot, so their proxies drop the config the graph no longer describes.
 */
import type { Actor } from '../../contracts/workflows.schema';
import { validateRouteGraph } from '../../contracts/route-graph.validate';
import { CompileError, compileSnapshots } from '../../core/xds/compile';
import { checkSnapshotConsistency, emptyResources, snapshotVersions, type XdsSnapshot } from '../../core/xds/snapshot';
import { lockTenantWithRevision, markRevisionLive } from '../db/revision-publish.repo';
import { listLatestSnapshotVersions, notifySnapshotChanged, saveSnapshot } from '../db/snapshot.repo';
import { findTenantById } from '../db/tenant.repo';
import { inTransaction, type DbTx } from '../db/tx';
import { AppError, conflict, notFound } from '../errors';
import { appendAudit } from '../audit/audit.service';
import { loadTlsInventory } from './tls-inventory.service';

const SYSTEM_ACTOR = { type: 'system', id: 'publish', name: 'publish service' } as const;

export interface PublishRevisionInput {
  tenantId: string;
  revisionId: string;
  /** Who publishes (for the audit entry). */
  actor?: Actor;
  /**
   * Extra details for the publish's audit entry (kept beside `number` and `changedNodeGroups`), e.g. the
   * rollout steps a coalesced rollout publish carries.
   */
  auditDetails?: Record<string, unknown>;
}

export interface PublishRevisionResult {
  /** Every node group of the tenant with the version it now serves. */
  snapshots: { nodeGroup: string; version: string }[];
  /** True when at least one node group's snapshot version changed. */
  changed: boolean;
}

/** The compiled snapshots failed the consistency check (a compiler bug, never the operator's input). */
export class SnapshotConsistencyError extends AppError {
  readonly kind = 'snapshot_inconsistent';
  constructor(readonly problems: { nodeGroup: string; problem: string }[]) {
    super(
      'bad_request',
      `the compiled snapshots are inconsistent: ${problems.map((p) => `${p.nodeGroup}: ${p.problem}`).join('; ')}`,
      problems.map((p) => ({ path: `snapshots.${p.nodeGroup}`, message: p.problem })),
    );
  }
}

export async function publishRevision(db: DbTx, input: PublishRevisionInput): Promise<PublishRevisionResult> {
  return inTransaction(db, async (tx) => {
    const locked = await lockTenantWithRevision(tx, input.tenantId, input.revisionId);
    if (locked === null) throw notFound('tenant');
    const { tenant, revision } = locked;
    if (revision === null) throw notFound('revision');
    if (revision.state === 'rejected') throw conflict(`revision ${revision.number} was rejected and cannot be published`);

    const validation = validateRouteGraph(revision.graph);
    if (!validation.ok) {
      throw new AppError('bad_request', `revision ${revision.number} is not a valid route graph`, validation.issues);
    }
    let snapshots: XdsSnapshot[];
    try {
      // The tenant slug goes into each ext_authz-bound route's context, so the ext_authz server evaluates
      // this tenant's request policy (policy names are unique per tenant only).
      const slug = tenant.slug;
      // Certificates as the versions active now (issue 8): a rotation re-publishes the same revision and
      // gets a new snapshot version whose Secrets name the new serial.
      const tls = await loadTlsInventory(tx, input.tenantId, validation.graph);
      snapshots = compileSnapshots(validation.graph, { tenant: slug, ...(tls !== undefined ? { tls } : {}) });
    } catch (err) {
      if (err instanceof CompileError) throw new AppError('bad_request', `revision ${revision.number} cannot be compiled`, err.issues);
      throw err;
    }
    const problems = snapshots.flatMap((s) => checkSnapshotConsistency(s).map((problem) => ({ nodeGroup: s.nodeGroup, problem })));
    if (problems.length > 0) throw new SnapshotConsistencyError(problems);

    // Node groups the graph no longer has: an empty snapshot (once).
    const compiled = new Set(snapshots.map((s) => s.nodeGroup));
    for (const previous of await listLatestSnapshotVersions(tx, input.tenantId)) {
      if (compiled.has(previous.nodeGroup) || previous.empty) continue;
      const resources = emptyResources();
      snapshots.push({ nodeGroup: previous.nodeGroup, ...snapshotVersions(resources), resources });
    }

    const changedGroups: XdsSnapshot[] = [];
    for (const s of snapshots) {
      const { changed } = await saveSnapshot(tx, {
        tenantId: input.tenantId,
        nodeGroup: s.nodeGroup,
        version: s.version,
        typeVersions: s.typeVersions,
        revisionId: revision.id,
        resources: s.resources,
      });
      if (changed) changedGroups.push(s);
    }

    if (tenant.liveRevisionId !== revision.id || revision.state !== 'live') {
      await markRevisionLive(tx, input.tenantId, revision.id);
    }

    for (const s of changedGroups) {
      await notifySnapshotChanged(tx, { tenantId: input.tenantId, nodeGroup: s.nodeGroup, version: s.version });
    }

    // The one audit entry of a publish, in the same transaction as the change (none for a no-op republish).
    const becameLive = tenant.liveRevisionId !== revision.id;
    if (becameLive || changedGroups.length > 0) {
      await appendAudit(tx, {
        tenantId: input.tenantId,
        actor: input.actor ?? SYSTEM_ACTOR,
        action: 'revision.publish',
        target: { type: 'revision', id: revision.id },
        before: { liveRevisionId: tenant.liveRevisionId },
        after: { liveRevisionId: revision.id, snapshots: snapshots.map((s) => ({ nodeGroup: s.nodeGroup, version: s.version })) },
        details: { ...input.auditDetails, number: revision.number, changedNodeGroups: changedGroups.map((s) => s.nodeGroup) },
      });
    }

    return {
      snapshots: snapshots.map((s) => ({ nodeGroup: s.nodeGroup, version: s.version })).sort((a, b) => (a.nodeGroup < b.nodeGroup ? -1 : 1)),
      changed: changedGroups.length > 0,
    };
  });
}

/**
 * Re-publishes the live revision so proxies get the tenant's current certificate material, trust bundle and
 * CRLs (issue 8: after a rotation, a revocation, a CA change). Same graph, new Secret references: a new
 * snapshot version where something changed, nothing otherwise. Null when the tenant has no live revision.
 */
export async function refreshLiveSnapshots(db: DbTx, input: { tenantId: string; actor?: Actor }): Promise<(PublishRevisionResult & { revisionId: string }) | null> {
  const live = (await findTenantById(db, input.tenantId))?.liveRevisionId ?? null;
  if (live === null) return null;
  const result = await publishRevision(db, { tenantId: input.tenantId, revisionId: live, ...(input.actor !== undefined ? { actor: input.actor } : {}) });
  return { ...result, revisionId: live };
}
