/**
 * XDP use cases: list node agents with their status, create policy versions, make a version desired.
 *
 * Functions taking a Principal check permissions (fleet.read / policies.read / policies.write) and are
 * what REST routes and the CLI call. `publishXdpPolicy` is the system-side step used by the
 * pushXdpBundle activity (the workflow already carries the actor).
 */
import { parseXdpPolicySpec, type XdpBundle, type XdpPolicySpecInput } from '../../contracts/xdp.schema';
import { compileXdpPolicy } from '../../core/xdp/compile';
import { appendAudit, type AuditActor } from '../audit/audit.service';
import { auditActorOf, requirePermission, type Principal } from '../auth/principal';
import type { Db } from '../db/client';
import { agentProtectedCidrs, listAgentStatuses, type AgentStatus } from '../db/agent.repo';
import { inTransaction, isUuid } from '../db/tx';
import {
  findXdpPolicyVersion,
  insertXdpPolicyVersion,
  listXdpPolicyVersions,
  notifyXdpDesired,
  setDesiredXdpPolicy,
  type XdpPolicyVersion,
} from '../db/xdp-policy.repo';
import { badRequest, notFound } from '../errors';

export type { AgentStatus } from '../db/agent.repo';
export type { XdpPolicyVersion } from '../db/xdp-policy.repo';

/** Agents of the caller's tenant (optionally one node group) with applied version, errors and counters. */
export async function listAgents(db: Db, principal: Principal, filter: { nodeGroup?: string } = {}): Promise<AgentStatus[]> {
  requirePermission(principal, 'fleet.read');
  return listAgentStatuses(db, principal.tenant.id, filter);
}

export interface XdpProgramResolver {
  /** sha256 of the program object agents will load (workers/agents/program-store.ts). */
  programSha256(name: string): string;
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
  programs: XdpProgramResolver,
): Promise<XdpPolicyVersion> {
  requirePermission(principal, 'policies.write');
  return createXdpPolicyAs(db, principal.tenant.id, auditActorOf(principal), input, programs);
}

/** createXdpPolicy without a Principal (seeds, tests, system actors). */
export async function createXdpPolicyAs(
  db: Db,
  tenantId: string,
  actor: AuditActor,
  input: { nodeGroup: string; spec: XdpPolicySpecInput },
  programs: XdpProgramResolver,
): Promise<XdpPolicyVersion> {
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
    sha = programs.programSha256(spec.program);
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

export async function listXdpPolicies(db: Db, principal: Principal, nodeGroup: string): Promise<XdpPolicyVersion[]> {
  requirePermission(principal, 'policies.read');
  return listXdpPolicyVersions(db, principal.tenant.id, nodeGroup);
}

/**
 * Makes a stored policy version the group's desired state and notifies the agent channels. Idempotent per
 * version: publishing the desired version again changes nothing and writes no audit entry.
 */
export async function publishXdpPolicy(
  db: Db,
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
