/**
 * Policies (issue 4): Rego modules per tenant, versioned, of two kinds (admission, request). Inputs of the
 * policy service and the shapes it returns. Package conventions: core/policy/conventions.ts.
 */
import { z } from 'zod';

export const PolicyKindSchema = z.enum(['admission', 'request']);
export type PolicyKind = z.infer<typeof PolicyKindSchema>;

/** Policy names appear in the route graph (`extAuthz.policy`) and in Envoy config: same rules as resource names. */
export const PolicyNameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'lowercase letters, digits and "-", starting and ending with a letter or digit');

export const RegoModuleSchema = z.strictObject({
  /** File name shown in diagnostics; tests end in _test.rego. */
  file: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\.rego$/, 'a file name like "policy.rego" or "policy_test.rego"'),
  source: z.string().max(256 * 1024),
});
export type RegoModuleInput = z.infer<typeof RegoModuleSchema>;

/** A JSON object (the data document); at most 1 MiB once serialized. */
export const PolicyDataSchema = z
  .record(z.string(), z.json())
  .refine((d) => JSON.stringify(d).length <= 1024 * 1024, 'the data document is larger than 1 MiB');

export const CreatePolicyVersionInputSchema = z.strictObject({
  /** The policy is created on first use with this kind; later versions must have the same kind. */
  name: PolicyNameSchema,
  kind: PolicyKindSchema,
  description: z.string().max(1000).optional(),
  modules: z
    .array(RegoModuleSchema)
    .min(1)
    .max(32)
    .refine((ms) => new Set(ms.map((m) => m.file)).size === ms.length, 'module file names must be unique'),
  data: PolicyDataSchema.default({}),
  /** Activate the new version at once when it compiles and its tests pass. */
  activate: z.boolean().default(false),
});
export type CreatePolicyVersionInput = z.input<typeof CreatePolicyVersionInputSchema>;

export const ActivatePolicyVersionInputSchema = z.strictObject({
  name: PolicyNameSchema,
  version: z.number().int().min(1),
});
export type ActivatePolicyVersionInput = z.infer<typeof ActivatePolicyVersionInputSchema>;

export const PolicyDiagnosticSchema = z.strictObject({
  file: z.string(),
  row: z.number().int(),
  col: z.number().int(),
  code: z.string(),
  message: z.string(),
});

export const PolicyTestResultSchema = z.strictObject({
  package: z.string(),
  name: z.string(),
  file: z.string(),
  row: z.number().int(),
  passed: z.boolean(),
  skipped: z.boolean(),
  error: z.string().optional(),
  durationNs: z.number(),
  output: z.string().optional(),
});

export const DecisionLogQuerySchema = z.strictObject({
  policy: PolicyNameSchema.optional(),
  allowed: z.boolean().optional(),
  /** Only entries with id < before (paging). */
  before: z.coerce.bigint().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export type DecisionLogQuery = z.input<typeof DecisionLogQuerySchema>;

export { ExtAuthzBindingSchema } from './route-graph.schema';

// ------------------------------------------------------------------------------- REST API (/api/v1/policies)

/** A module list as sent by editors and the CLI. */
export const RegoModulesSchema = z
  .array(RegoModuleSchema)
  .min(1)
  .max(32)
  .refine((ms) => new Set(ms.map((m) => m.file)).size === ms.length, 'module file names must be unique');

export const ListPoliciesQuerySchema = z.strictObject({ kind: PolicyKindSchema.optional() });

/** POST /api/v1/policies: a new policy with its first version (409 when the name exists). */
export const CreatePolicyBodySchema = CreatePolicyVersionInputSchema;
export type CreatePolicyBody = z.input<typeof CreatePolicyBodySchema>;

/** POST /api/v1/policies/{id}/versions: the next version of an existing policy. */
export const CreatePolicyVersionBodySchema = z.strictObject({
  modules: RegoModulesSchema,
  data: PolicyDataSchema.default({}),
  activate: z.boolean().default(false),
});
export type CreatePolicyVersionBody = z.input<typeof CreatePolicyVersionBodySchema>;

/** POST /api/v1/policies/{id}/activate (an older version = rollback). */
export const ActivatePolicyBodySchema = z.strictObject({ version: z.number().int().min(1) });

export const CheckRegoBodySchema = z.strictObject({ modules: RegoModulesSchema });
export const FormatRegoBodySchema = z.strictObject({ module: RegoModuleSchema });
export const TestRegoBodySchema = z.strictObject({ modules: RegoModulesSchema, data: PolicyDataSchema.optional() });

/**
 * POST /api/v1/policies/{id}/evaluate (playground): evaluates one compiled version (default: the live one,
 * else the newest compiled) with `input`, exactly as admission or ext_authz would, and stores nothing.
 */
export const EvaluatePolicyBodySchema = z.strictObject({
  version: z.number().int().min(1).optional(),
  input: z.json(),
});
export type EvaluatePolicyBody = z.infer<typeof EvaluatePolicyBodySchema>;

/** GET /api/v1/policies/{id}/decisions: sampled ext_authz decisions of the policy, newest first. */
export const PolicyDecisionsQuerySchema = z.strictObject({
  allowed: z.enum(['true', 'false']).optional(),
  method: z.string().min(1).max(16).optional(),
  /** Route name (from the route graph). */
  route: z.string().min(1).max(253).optional(),
  /** Only decisions at or after this time (ISO 8601). */
  since: z.iso.datetime({ offset: true }).optional(),
  /** Entries with a smaller id: pass the previous page's `nextBefore`. */
  before: z.string().regex(/^[1-9]\d{0,18}$/, 'a decision id').optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});
export type PolicyDecisionsQuery = z.infer<typeof PolicyDecisionsQuerySchema>;

/** GET /api/v1/graph-policies: request policies and XDP rule sets with live decision counts (graph editor). */
export const GraphPolicyStatusQuerySchema = z.strictObject({
  /** Decision counts over the last N minutes (default 60, at most a week). */
  windowMinutes: z.coerce.number().int().min(1).max(10_080).optional(),
});
