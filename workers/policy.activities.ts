/**
 * Policy activities (createPolicyActivities(deps)): compile a policy version (opa check → test → build,
 * stored immutable; activate when asked) and evaluate admission for a revision. Domain errors (bad input,
 * unknown policy, a revision the guardrails refuse) are non-retryable ApplicationFailures; anything else
 * (database down) is thrown as is and retried.
 *
 * The real OPA CLI adapter and Wasm evaluator come from server/opa/policy-deps.ts (createPolicyDeps), which
 * the web app's route handlers use as well.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { CreatePolicyVersionInput } from '../contracts/policy.schema';
import type { AdmissionActor, AdmissionDecision } from '../core/policy/admission';
import type { AuditActor } from '../server/audit/audit.service';
import type { Db } from '../server/db/client';
import { isAppError } from '../server/errors';
import { admitRevision, type AdmissionDeps } from '../server/services/admission.service';
import { createPolicyVersion, type CreatePolicyVersionResult, type PolicyServiceDeps } from '../server/services/policy.service';
export const PolicyFailureType = {
  invalid: 'PolicyInvalid',
  admissionDenied: 'AdmissionDenied',
} as const;

export interface PolicyActivitiesDeps {
  db: Db;
  policy: PolicyServiceDeps & AdmissionDeps;
}

export function createPolicyActivities(deps: PolicyActivitiesDeps) {
  const domain = (err: unknown, type: string): never => {
    if (isAppError(err) && err.code !== 'internal') {
      throw ApplicationFailure.nonRetryable(err.message, type, { code: err.code, issues: err.issues ?? [] });
    }
    throw err;
  };
  return {
    /** Stores a new policy version (compiled or failed, with diagnostics). Not idempotent: each call adds a version. */
    async compilePolicyVersion(input: { tenantId: string; actor: AuditActor; body: CreatePolicyVersionInput }): Promise<{
      policyId: string;
      versionId: string;
      number: number;
      status: 'compiled' | 'failed';
      activated: boolean;
    }> {
      let r: CreatePolicyVersionResult;
      try {
        r = await createPolicyVersion(deps.db, deps.policy, { tenantId: input.tenantId, actor: input.actor }, input.body);
      } catch (err) {
        return domain(err, PolicyFailureType.invalid);
      }
      return { policyId: r.policy.id, versionId: r.version.id, number: r.version.number, status: r.version.status, activated: r.activated };
    },

    /** Admission decision for a stored revision (audited). A refusal is returned, not thrown: the workflow decides. */
    async evaluateRevisionAdmission(input: { tenantId: string; revisionId: string; actor: AdmissionActor }): Promise<AdmissionDecision> {
      try {
        return await admitRevision(deps.db, deps.policy, input);
      } catch (err) {
        return domain(err, PolicyFailureType.invalid);
      }
    },
  };
}

export type PolicyActivities = ReturnType<typeof createPolicyActivities>;
