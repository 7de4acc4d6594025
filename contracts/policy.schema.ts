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
