/**
 * Bodies and query strings of the revision, translate and proxy endpoints under /api/v1. The graph itself
 * is passed through as `unknown` and validated by the revision service (validateRouteGraph), so its issues
 * carry graph paths (`routes[3].action.clusters[1].weight`).
 */
import { z } from 'zod';

export const CreateRevisionBodySchema = z.strictObject({
  graph: z.unknown(),
  message: z.string().max(1000).optional(),
  /** `proposed` (default) or `draft`. */
  state: z.enum(['draft', 'proposed']).optional(),
});
export type CreateRevisionBody = z.infer<typeof CreateRevisionBodySchema>;

export const GraphBodySchema = z.strictObject({ graph: z.unknown() });

/** ?against=<revision id>; default: the live revision (or the parent, for the live revision itself). */
export const AgainstQuerySchema = z.strictObject({ against: z.string().min(1).max(64).optional() });

export const ApplyRevisionBodySchema = z.strictObject({
  nodeGroups: z.array(z.string().min(1).max(63)).min(1).max(100).optional(),
  ackTimeoutMs: z.number().int().min(1).max(3_600_000).optional(),
  /** Answer only when the workflow finished (published and ACKed). */
  wait: z.boolean().optional(),
});

export const RevertRevisionBodySchema = z.strictObject({ message: z.string().max(1000).optional() });

/** POST /api/v1/revisions/[id]/approve: an approval of a revision the admission guardrails asked approval for. */
export const ApproveRevisionBodySchema = z.strictObject({ comment: z.string().max(2000).optional() });
