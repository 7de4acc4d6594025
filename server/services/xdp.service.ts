/**
 * XDP use cases: list node agents with their status, create policy versions, push a version to its node
 * group through pushXdpPolicyWorkflow.
 *
 * Functions taking a Principal check permissions (fleet.read / policies.read / policies.write) and are
 * what REST routes and the CLI call. `publishXdpPolicy` is the system-side step used by the
 * pushXdpBundle activity (the workflow already carries the actor).
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { PushXdpPolicyResult, XdpPushStatus } from '../../contracts/workflows.schema';
import { parseXdpPolicySpec, type XdpBundle, type XdpCounter, type XdpPolicySpec, type XdpPolicySpecInput } from '../../contracts/xdp.schema';
import { compileXdpPolicy } from '../../core/xdp/compile';
import { appendAudit, type AuditActor } from '../audit/audit.service';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import type { Db } from '../db/client';
import { agentProtectedCidrs, listAgentStatuses, type AgentInterface, type AgentStatus } from '../db/agent.repo';
import { inTransaction, isUuid, type DbTx } from '../db/tx';
import { findLatestXdpProgram } from '../db/xdp-program.repo';
import {
  findXdpPolicyVersion,
  insertXdpPolicyVersion,
  listXdpGroupStates,
  listXdpPolicyVersions,
  notifyXdpDesired,
  setDesiredXdpPolicy,
  type XdpPolicyVersion,
} from '../db/xdp-policy.repo';
import { badRequest, notFound } from '../errors';
import { getXdpPushStatus, startPushXdpPolicy, type ProxyShardTemporal } from '../temporal/client';

export type { AgentStatus } from '../db/agent.repo';
export type { XdpPolicyVersion } from '../db/xdp-policy.repo';

/** An agent as the API shows it: its status plus what its node group should run. */
export interface AgentView {
  id: string;
  nodeName: string;
  nodeGroup: string;
  connected: boolean;
  connectedAt: string | null;
  lastSeenAt: string;
  /** The version the kernel enforces according to the agent (null before the first apply). */
  appliedVersion: string | null;
  appliedAt: string | null;
  /** The node group's desired version (null when nothing was pushed to the group). */
  desiredVersion: string | null;
  /** applied == desired. */
  inSync: boolean;
  sentVersion: string | null;
  /** Last version the agent rejected and why (cleared when a later version applies). */
  failedVersion: string | null;
  lastError: string | null;
  failedAt: string | null;
  counters: XdpCounter[];
  countersAt: string | null;
  interfaces: AgentInterface[];
  kernelVersion: string;
  xdpModes: string[];
  agentVersion: string;
  protectedCidrs: string[];
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function toAgentView(a: AgentStatus, desired: Map<string, string>): AgentView {
  const desiredVersion = desired.get(a.nodeGroup) ?? null;
  return {
    id: a.id,
    nodeName: a.nodeName,
    nodeGroup: a.nodeGroup,
    connected: a.connected,
    connectedAt: iso(a.connectedAt),
    lastSeenAt: a.lastSeenAt.toISOString(),
    appliedVersion: a.appliedVersion,
    appliedAt: iso(a.appliedAt),
    desiredVersion,
    inSync: desiredVersion !== null && a.appliedVersion === desiredVersion,
    sentVersion: a.sentVersion,
    failedVersion: a.failedVersion,
    lastError: a.lastError,
    failedAt: iso(a.failedAt),
    counters: a.counters,
    countersAt: iso(a.countersAt),
    interfaces: a.interfaces,
    kernelVersion: a.kernelVersion,
    xdpModes: a.xdpModes,
    agentVersion: a.agentVersion,
    protectedCidrs: a.protectedCidrs,
  };
}

/** Agents of the caller's tenant (optionally one node group) with applied version, errors and counters. */
export async function listAgents(db: DbTx, principal: Principal, filter: { nodeGroup?: string } = {}): Promise<AgentView[]> {
  requirePermission(principal, 'fleet.read');
  const [agents, states] = await Promise.all([
    listAgentStatuses(db, principal.tenant.id, filter),
    listXdpGroupStates(db, principal.tenant.id, filter.nodeGroup),
  ]);
  const desired = new Map(states.map((s) => [s.nodeGroup, s.desiredVersion]));
  return agents.map((a) => toAgentView(a, desired));
}

/** A policy version as the API shows it (the compiled bundle is the agents' business; its size is shown). */
export interface XdpPolicyView {
  id: string;
  nodeGroup: string;
  seq: number;
  version: string;
  /** This version is what the node group should run now. */
  desired: boolean;
  createdAt: string;
  createdBy: string;
  spec: XdpPolicySpec;
  bundle: { program: string; programSha256: string; attachMode: string; interfaces: string[]; denyCidrs: number; rateLimits: number; protectedCidrs: string[] };
}

function toPolicyView(p: XdpPolicyVersion, desiredPolicyIds: Set<string>): XdpPolicyView {
  return {
    id: p.id,
    nodeGroup: p.nodeGroup,
    seq: p.seq,
    version: p.version,
    desired: desiredPolicyIds.has(p.id),
    createdAt: p.createdAt.toISOString(),
    createdBy: p.createdBy,
    spec: p.spec,
    bundle: {
      program: p.bundle.program.name,
      programSha256: p.bundle.program.sha256,
      attachMode: p.bundle.attachMode,
      interfaces: p.bundle.interfaces,
      denyCidrs: p.bundle.deny.length,
      rateLimits: p.bundle.rateLimits.length,
      protectedCidrs: p.bundle.protectedCidrs,
    },
  };
}

export interface XdpProgramResolver {
  /** sha256 of the program object agents will load (workers/agents/program-store.ts, or the catalog in PostgreSQL). */
  programSha256(name: string): string | Promise<string>;
}

/**
 * Resolves a program name to the newest build registered in PostgreSQL (the agent channel registers what
 * it can ship). What the web and the CLI use: they never run clang.
 */
export function catalogProgramResolver(db: DbTx): XdpProgramResolver {
  return {
    async programSha256(name) {
      const p = await findLatestXdpProgram(db, name);
      if (!p) throw new Error(`no build of XDP program "${name}" is registered yet (the xds process registers its builds when it starts)`);
      return p.sha256;
    },
  };
}

const nodeGroupPattern = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * Validates and compiles a policy spec and stores it as the group's next version (not yet desired:
 * start the push workflow / pushXdpBundle for that). Refused with field-path issues when invalid, e.g. a
 * deny CIDR overlapping a protected management CIDR (the policy's or any agent's of the group).
 */
export async function createXdpPolicy(
  db: Db,
  principal: Principal,
  input: { nodeGroup: string; spec: XdpPolicySpecInput },
  programs: XdpProgramResolver = catalogProgramResolver(db),
): Promise<XdpPolicyView> {
  requirePermission(principal, 'policies.write');
  const row = await createXdpPolicyAs(db, principal.tenant.id, auditActorOf(principal), input, programs);
  return toPolicyView(row, new Set());
}

/**
 * Validates and compiles a spec for a node group the way a stored version is compiled (the group's agents'
 * protected CIDRs included); what createXdpPolicyAs stores and what a playbook dry run shows.
 */
export async function compileXdpPolicyForGroup(
  db: DbTx,
  tenantId: string,
  input: { nodeGroup: string; spec: XdpPolicySpecInput },
  programs: XdpProgramResolver,
): Promise<{ spec: XdpPolicySpec; bundle: XdpBundle }> {
  if (!nodeGroupPattern.test(input.nodeGroup)) {
    throw badRequest('invalid node group', [{ path: 'nodeGroup', message: 'lowercase letters, digits, ".", "_", "-"' }]);
  }
  const parsed = parseXdpPolicySpec(input.spec);
  if (!parsed.ok) {
    throw badRequest('the XDP policy is invalid', parsed.issues.map((i) => ({ path: i.path ? `spec.${i.path}` : 'spec', message: i.message })));
  }
  const spec = parsed.spec;
  let sha: string;
  try {
    sha = await programs.programSha256(spec.program);
  } catch (err) {
    throw badRequest('the XDP program cannot be built', [{ path: 'spec.program', message: err instanceof Error ? err.message : String(err) }]);
  }
  const extra = await agentProtectedCidrs(db, tenantId, input.nodeGroup);
  const compiled = compileXdpPolicy(spec, { programSha256: sha, extraProtectedCidrs: extra });
  if (!compiled.ok) {
    throw badRequest(
      'the XDP policy is invalid',
      compiled.issues.map((i) => ({ path: i.path ? `spec.${i.path}` : 'spec', message: i.message })),
    );
  }
  return { spec, bundle: compiled.bundle };
}

/** createXdpPolicy without a Principal (seeds, tests, system actors, playbook steps in their transaction). */
export async function createXdpPolicyAs(
  db: DbTx,
  tenantId: string,
  actor: AuditActor,
  input: { nodeGroup: string; spec: XdpPolicySpecInput },
  programs: XdpProgramResolver,
): Promise<XdpPolicyVersion> {
  const { spec, bundle } = await compileXdpPolicyForGroup(db, tenantId, input, programs);
  const compiled = { bundle };
  return inTransaction(db, async (tx) => {
    const row = await insertXdpPolicyVersion(tx, {
      tenantId,
      nodeGroup: input.nodeGroup,
      spec,
      bundle: compiled.bundle,
      createdBy: actor.name,
    });
    await appendAudit(tx, {
      tenantId,
      actor,
      action: 'xdp_policy.create',
      target: { type: 'xdp_policy', id: row.id },
      after: spec,
      details: { nodeGroup: row.nodeGroup, seq: row.seq, version: row.version },
    });
    return row;
  });
}

/** Policy versions of the caller's tenant, newest first (one node group, or all). */
export async function listXdpPolicies(db: DbTx, principal: Principal, filter: { nodeGroup?: string; limit?: number } = {}): Promise<XdpPolicyView[]> {
  requirePermission(principal, 'policies.read');
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), 500);
  const [rows, states] = await Promise.all([
    listXdpPolicyVersions(db, principal.tenant.id, filter.nodeGroup, limit),
    listXdpGroupStates(db, principal.tenant.id, filter.nodeGroup),
  ]);
  const desired = new Set(states.map((s) => s.desiredPolicyId));
  return rows.map((r) => toPolicyView(r, desired));
}

export interface XdpPushView {
  workflowId: string;
  runId: string;
  nodeGroup: string;
  policyId: string;
  version: string;
  /**
   * running: started (or still running after the wait); completed / superseded: finished (see `result`);
   * rejected / timedOut / failed: the workflow failed (see `error`).
   */
  status: 'running' | 'completed' | 'superseded' | 'rejected' | 'timedOut' | 'failed';
  result?: PushXdpPolicyResult;
  progress?: XdpPushStatus;
  error?: { type: string | null; message: string; details?: unknown };
}

const FAILURE_STATUS: Record<string, XdpPushView['status']> = { XdpAgentRejected: 'rejected', XdpAckTimeout: 'timedOut' };

/**
 * Starts pushXdpPolicyWorkflow for a policy version of the caller's tenant (404 for anything else, before
 * Temporal is contacted). With `wait`, answers when the workflow finished or after `waitMs`, whichever is
 * first. The push itself (desired version, audit entry with the caller as actor) happens in the workflow.
 */
export async function startXdpPolicyPush(
  db: DbTx,
  principal: Principal,
  policyId: string,
  opts: { ackTimeoutMs?: number; wait?: boolean; waitMs?: number },
  getTemporal: () => Promise<ProxyShardTemporal>,
): Promise<XdpPushView> {
  requirePermission(principal, 'policies.write');
  if (!isUuid(policyId)) throw notFound('XDP policy');
  const policy = await findXdpPolicyVersion(db, principal.tenant.id, policyId);
  if (!policy) throw notFound('XDP policy');
  const temporal = await getTemporal();
  const key = { tenantId: principal.tenant.id, nodeGroup: policy.nodeGroup, policyId: policy.id };
  const handle = await startPushXdpPolicy(temporal, { ...key, actor: auditActorOf(principal), ...(opts.ackTimeoutMs ? { ackTimeoutMs: opts.ackTimeoutMs } : {}) });
  const view: XdpPushView = {
    workflowId: handle.workflowId,
    runId: handle.firstExecutionRunId,
    nodeGroup: policy.nodeGroup,
    policyId: policy.id,
    version: policy.version,
    status: 'running',
  };
  if (!opts.wait) return view;

  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<'waiting'>((resolve) => {
    timer = setTimeout(() => resolve('waiting'), opts.waitMs ?? 120_000);
  });
  try {
    const outcome = await Promise.race([handle.result(), waited]);
    if (outcome === 'waiting') return { ...view, progress: await getXdpPushStatus(temporal, key) };
    return { ...view, status: outcome.outcome === 'superseded' ? 'superseded' : 'completed', result: outcome };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const cause = err.cause;
    const type = cause instanceof ApplicationFailure ? (cause.type ?? null) : null;
    return {
      ...view,
      status: (type ? FAILURE_STATUS[type] : undefined) ?? 'failed',
      error: {
        type,
        message: cause?.message ?? err.message,
        ...(cause instanceof ApplicationFailure && cause.details?.length ? { details: cause.details[0] } : {}),
      },
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Makes a stored policy version the group's desired state and notifies the agent channels. Idempotent per
 * version: publishing the desired version again changes nothing and writes no audit entry.
 */
export async function publishXdpPolicy(
  db: DbTx,
  input: { tenantId: string; nodeGroup: string; policyId: string; actor: AuditActor },
): Promise<{ version: string; changed: boolean; bundle: XdpBundle }> {
  if (!isUuid(input.policyId)) throw notFound('XDP policy');
  return inTransaction(db, async (tx) => {
    const policy = await findXdpPolicyVersion(tx, input.tenantId, input.policyId);
    if (!policy || policy.nodeGroup !== input.nodeGroup) throw notFound('XDP policy');
    const r = await setDesiredXdpPolicy(tx, {
      tenantId: input.tenantId,
      nodeGroup: input.nodeGroup,
      policyId: policy.id,
      version: policy.version,
    });
    if (r.changed) {
      await appendAudit(tx, {
        tenantId: input.tenantId,
        actor: input.actor,
        action: 'xdp_policy.push',
        target: { type: 'xdp_policy', id: policy.id },
        details: { nodeGroup: input.nodeGroup, version: policy.version, previousVersion: r.previousVersion },
      });
    }
    await notifyXdpDesired(tx, input.tenantId, input.nodeGroup);
    return { version: policy.version, changed: r.changed, bundle: policy.bundle };
  });
}
