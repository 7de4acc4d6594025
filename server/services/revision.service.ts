/**
 * Route-graph revisions: create (validated; a rejected graph writes nothing), diff and plan between any two
 * revisions, revert (a new revision equal to an old one), apply (starts publishRevisionWorkflow), and
 * translate (graph → xDS resources without storing anything). Writes are audited in the same transaction.
 *
 * Callers pass a RevisionCaller: the tenant and the audit actor. `revisionCaller(principal, action)` builds
 * one from an API principal after checking the permission table.
 */
import type { RouteGraph } from '../../contracts/route-graph.schema';
import { RouteGraphSchema } from '../../contracts/route-graph.schema';
import { validateRouteGraph } from '../../contracts/route-graph.validate';
import { diffRouteGraphs, type GraphDiff } from '../../core/route-graph/diff';
import { CompileError, compileSnapshots } from '../../core/xds/compile';
import { planSnapshots, type XdsPlan } from '../../core/xds/plan';
import { checkSnapshotConsistency, contentHash, type XdsSnapshot } from '../../core/xds/snapshot';
import { appendAudit, type AuditActor } from '../audit/audit.service';
import type { Action } from '../auth/permissions';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import { findLiveRevision, findRevision, type Revision } from '../db/revision-read.repo';
import { lockTenantForPublish } from '../db/revision-publish.repo';
import { insertRevision } from '../db/revision.repo';
import { findTenantById } from '../db/tenant.repo';
import { inTransaction, type DbTx } from '../db/tx';
import { AppError, conflict, notFound, type Issue } from '../errors';
import { getAppTemporal } from '../temporal/app-temporal';
import { startPublishRevision, type ProxyShardTemporal } from '../temporal/client';
import type { PolicyReason } from '../../core/policy/admission';
import { getPolicyDeps } from '../opa/policy-deps';
import type { AdmissionDeps } from './admission.service';
import { requireGoLive, type ApprovalView } from './revision-approval.service';
import type { TlsInventory } from '../../core/xds/secrets';
import { loadTlsInventory } from './tls-inventory.service';

export interface RevisionCaller {
  tenantId: string;
  actor: AuditActor;
  /** The tenant's slug (compiled into ext_authz route context); looked up when absent. */
  tenantSlug?: string;
}

/** The caller behind an API principal, after checking that its role allows `action`. */
export function revisionCaller(principal: Principal, action: Action): RevisionCaller {
  requirePermission(principal, action);
  return { tenantId: principal.tenant.id, tenantSlug: principal.tenant.slug, actor: auditActorOf(principal) };
}

export interface RevisionRef {
  id: string;
  number: number;
  state: Revision['state'];
  live: boolean;
  parentId: string | null;
  message: string;
  graphHash: string;
  createdAt: string;
}

function refOf(r: Revision): RevisionRef {
  return {
    id: r.id,
    number: r.number,
    state: r.state,
    live: r.live,
    parentId: r.parentId,
    message: r.message,
    graphHash: r.graphHash,
    createdAt: r.createdAt.toISOString(),
  };
}

// ------------------------------------------------------------------------------------------- validation

export type GraphValidation = { ok: true; graph: RouteGraph } | { ok: false; issues: Issue[] };

/** Schema and semantic validation; never throws, whatever `input` is. */
export function validateGraphInput(input: unknown): GraphValidation {
  try {
    const result = validateRouteGraph(input);
    return result.ok ? { ok: true, graph: result.graph } : { ok: false, issues: result.issues };
  } catch (err) {
    // Defence in depth: a validator bug must not become a 500 with the input in the log.
    return { ok: false, issues: [{ path: '', message: `the graph could not be validated: ${err instanceof Error ? err.message : String(err)}` }] };
  }
}

function requireValid(input: unknown, what: string): RouteGraph {
  const v = validateGraphInput(input);
  if (!v.ok) throw new AppError('bad_request', `${what} is not a valid route graph (${v.issues.length} problem${v.issues.length === 1 ? '' : 's'})`, v.issues);
  return v.graph;
}

/** What compiling depends on besides the graph: the tenant slug (ext_authz context) and its certificates (TLS). */
interface CompileContext {
  tenantSlug?: string;
  tls?: TlsInventory;
}

async function compileContext(db: DbTx, caller: RevisionCaller, graph: RouteGraph): Promise<CompileContext> {
  const tenantSlug = await slugOf(db, caller);
  const tls = await loadTlsInventory(db, caller.tenantId, graph);
  return { ...(tenantSlug !== undefined ? { tenantSlug } : {}), ...(tls !== undefined ? { tls } : {}) };
}

/**
 * Compiles a valid graph into consistent snapshots, or throws a bad_request naming the fields (a TLS
 * reference to a certificate the tenant does not have: `listeners[0].tls.certificate`).
 */
function compileChecked(graph: RouteGraph, what: string, ctx: CompileContext): XdsSnapshot[] {
  let snapshots: XdsSnapshot[];
  try {
    // As publishRevision compiles it (the tenant slug reaches ext_authz-bound routes), so plans match.
    snapshots = compileSnapshots(graph, { ...(ctx.tenantSlug !== undefined ? { tenant: ctx.tenantSlug } : {}), ...(ctx.tls !== undefined ? { tls: ctx.tls } : {}) });
  } catch (err) {
    if (err instanceof CompileError) throw new AppError('bad_request', `${what} cannot be compiled`, err.issues);
    throw err;
  }
  const problems = snapshots.flatMap((s) => checkSnapshotConsistency(s).map((message) => ({ path: `snapshots.${s.nodeGroup}`, message })));
  if (problems.length > 0) throw new AppError('internal', `${what}: compiled snapshots are inconsistent`, problems);
  return snapshots;
}

// ----------------------------------------------------------------------------------------------- create

export interface CreateRevisionInput {
  graph: unknown;
  message?: string;
  /** `proposed` (default) is ready to apply; `draft` is a work in progress. Both are immutable. */
  state?: 'draft' | 'proposed';
}

/** Validates and stores a new revision whose parent is the live one. Bad input writes nothing. */
export async function createRevision(db: DbTx, caller: RevisionCaller, input: CreateRevisionInput): Promise<RevisionRef> {
  const graph = requireValid(input.graph, 'the graph');
  compileChecked(graph, 'the graph', await compileContext(db, caller, graph));
  return storeRevision(db, caller, graph, { message: input.message ?? '', state: input.state ?? 'proposed', action: 'revision.create' });
}

async function storeRevision(
  db: DbTx,
  caller: RevisionCaller,
  graph: RouteGraph,
  opts: { message: string; state: 'draft' | 'proposed'; action: string; details?: Record<string, unknown> },
): Promise<RevisionRef> {
  const id = await inTransaction(db, async (tx) => {
    const tenant = await lockTenantForPublish(tx, caller.tenantId);
    if (tenant === null) throw notFound('tenant');
    const graphHash = contentHash(graph);
    const row = await insertRevision(tx, {
      tenantId: caller.tenantId,
      parentId: tenant.liveRevisionId,
      state: opts.state,
      message: opts.message,
      graph,
      graphHash,
      createdById: caller.actor.id,
    });
    await appendAudit(tx, {
      tenantId: caller.tenantId,
      actor: caller.actor,
      action: opts.action,
      target: { type: 'revision', id: row.id },
      after: graph,
      details: { number: row.number, state: opts.state, parentId: tenant.liveRevisionId, graphHash, ...(opts.details ?? {}) },
    });
    return row.id;
  });
  const created = await findRevision(db, caller.tenantId, id);
  if (created === null) throw new Error(`revision ${id} vanished after insert`);
  return refOf(created);
}

// ------------------------------------------------------------------------------------------ diff + plan

async function slugOf(db: DbTx, caller: RevisionCaller): Promise<string | undefined> {
  return caller.tenantSlug ?? (await findTenantById(db, caller.tenantId))?.slug;
}

async function loadRevision(db: DbTx, tenantId: string, id: string): Promise<Revision> {
  const r = await findRevision(db, tenantId, id);
  if (r === null) throw notFound('revision');
  return r;
}

/** `against` given: that revision; otherwise the live one, or the parent when `r` is live; null = nothing. */
async function baseline(db: DbTx, tenantId: string, r: Revision, against: string | undefined): Promise<Revision | null> {
  if (against !== undefined) return loadRevision(db, tenantId, against);
  if (!r.live) return findLiveRevision(db, tenantId);
  return r.parentId === null ? null : findRevision(db, tenantId, r.parentId);
}

const EMPTY_GRAPH: RouteGraph = RouteGraphSchema.parse({});

export interface RevisionDiff {
  revision: RevisionRef;
  /** What the revision is compared with; null = an empty graph. */
  against: RevisionRef | null;
  diff: GraphDiff;
}

export async function diffRevision(db: DbTx, caller: RevisionCaller, id: string, against?: string): Promise<RevisionDiff> {
  const r = await loadRevision(db, caller.tenantId, id);
  const base = await baseline(db, caller.tenantId, r, against);
  return { revision: refOf(r), against: base && refOf(base), diff: diffRouteGraphs(base?.graph ?? EMPTY_GRAPH, r.graph) };
}

export interface RevisionPlan {
  revision: RevisionRef;
  against: RevisionRef | null;
  plan: XdsPlan;
}

export async function planRevision(db: DbTx, caller: RevisionCaller, id: string, against?: string): Promise<RevisionPlan> {
  const r = await loadRevision(db, caller.tenantId, id);
  const base = await baseline(db, caller.tenantId, r, against);
  const graphAfter = requireValid(r.graph, `revision ${r.number}`);
  const after = compileChecked(graphAfter, `revision ${r.number}`, await compileContext(db, caller, graphAfter));
  const graphBefore = base === null ? null : requireValid(base.graph, `revision ${base.number}`);
  const before = base === null || graphBefore === null ? [] : compileChecked(graphBefore, `revision ${base.number}`, await compileContext(db, caller, graphBefore));
  return { revision: refOf(r), against: base && refOf(base), plan: planSnapshots(before, after) };
}

// ---------------------------------------------------------------------------------------------- revert

/** A new proposed revision whose graph equals revision `id`'s; its parent is the live revision. */
export async function revertToRevision(db: DbTx, caller: RevisionCaller, id: string, input: { message?: string } = {}): Promise<RevisionRef> {
  const old = await loadRevision(db, caller.tenantId, id);
  const graph = requireValid(old.graph, `revision ${old.number}`);
  return storeRevision(db, caller, graph, {
    message: input.message ?? `revert to revision ${old.number}`,
    state: 'proposed',
    action: 'revision.revert',
    details: { revertedTo: { id: old.id, number: old.number } },
  });
}

// ----------------------------------------------------------------------------------------------- apply

export interface ApplyRevisionInput {
  /** Wait for ACKs only from these node groups (default: all the revision publishes to). */
  nodeGroups?: string[];
  ackTimeoutMs?: number;
  /** Wait for the workflow to finish (publish + every ACK) and return its result. */
  wait?: boolean;
}

export interface ApplyRevisionResult {
  revision: RevisionRef;
  workflowId: string;
  runId: string;
  /** With `wait`: the workflow's result. */
  result?: unknown;
  /**
   * The admission decision (issue 4): the revision was allowed; `approvalReasons` non-empty means the
   * guardrails asked for an approval, and `approvals` are those (by non-authors) that let it go live.
   */
  admission: { needsApproval: boolean; approvalReasons: PolicyReason[]; approvals: ApprovalView[]; evaluated: { policy: string; versionId: string }[] };
}

/** Starts publishRevisionWorkflow for revision `id` (idempotent per revision), audited as revision.apply. */
export async function applyRevision(
  db: DbTx,
  caller: RevisionCaller,
  id: string,
  input: ApplyRevisionInput = {},
  deps: { temporal?: ProxyShardTemporal; admission?: AdmissionDeps } = {},
): Promise<ApplyRevisionResult> {
  const r = await loadRevision(db, caller.tenantId, id);
  if (r.state === 'rejected') throw conflict(`revision ${r.number} was rejected and cannot be applied`);
  const graph = requireValid(r.graph, `revision ${r.number}`);
  compileChecked(graph, `revision ${r.number}`, await compileContext(db, caller, graph));
  // Admission: the tenant's live admission guardrails (Rego → Wasm) evaluate { revision, diff, actor, tenant };
  // a deny is a 403 naming each policy and reason (AdmissionDeniedError), and a require_approval without an
  // approval by a non-author a 409 (ApprovalRequiredError, audited as revision.apply.refused), both before
  // any workflow starts, so nothing changes live. The decision is audited as revision.admission either way;
  // the publish activity passes the same gate again (revision-approval.service.ts), auditing its decision
  // only if it differs from this one.
  const { decision: admission, approvals } = await requireGoLive(db, deps.admission ?? getPolicyDeps(), {
    tenantId: caller.tenantId,
    revisionId: r.id,
    actor: caller.actor,
    refusedAction: 'revision.apply.refused',
  });
  const temporal = deps.temporal ?? (await getAppTemporal());
  const handle = await startPublishRevision(temporal, {
    tenantId: caller.tenantId,
    revisionId: r.id,
    actor: caller.actor,
    ...(input.nodeGroups !== undefined ? { nodeGroups: input.nodeGroups } : {}),
    ...(input.ackTimeoutMs !== undefined ? { ackTimeoutMs: input.ackTimeoutMs } : {}),
  });
  const runId = (await handle.describe()).runId;
  await appendAudit(db, {
    tenantId: caller.tenantId,
    actor: caller.actor,
    action: 'revision.apply',
    target: { type: 'revision', id: r.id },
    details: { number: r.number, workflowId: handle.workflowId, runId },
  });
  const out: ApplyRevisionResult = {
    revision: refOf(r),
    workflowId: handle.workflowId,
    runId,
    admission: { needsApproval: admission.approvalReasons.length > 0, approvalReasons: admission.approvalReasons, approvals, evaluated: admission.evaluated },
  };
  if (input.wait) out.result = await handle.result();
  return out;
}

// ------------------------------------------------------------------------------------------- translate

export interface Translation {
  snapshots: { nodeGroup: string; version: string; resources: XdsSnapshot['resources'] }[];
}

/**
 * Graph → the xDS resources each node group would receive (proto3 JSON), without storing anything. TLS
 * references resolve against the caller's certificates (Secrets appear as key-free references).
 */
export async function translateGraph(db: DbTx, caller: RevisionCaller, input: unknown): Promise<Translation> {
  const graph = requireValid(input, 'the graph');
  return { snapshots: compileChecked(graph, 'the graph', await compileContext(db, caller, graph)) };
}

/** A stored revision → its xDS resources. */
export async function translateRevision(db: DbTx, caller: RevisionCaller, id: string): Promise<Translation & { revision: RevisionRef }> {
  const r = await loadRevision(db, caller.tenantId, id);
  return { revision: refOf(r), ...(await translateGraph(db, caller, r.graph)) };
}
