/**
 * Inputs of the REST API under /api/v1 (bodies and query strings). All objects are strict: an unknown
 * field is refused by name.
 */
import { z } from 'zod';

export const RoleSchema = z.enum(['viewer', 'operator', 'approver', 'admin']);

export const UsernameSchema = z
  .string()
  .min(2)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, ".", "_" and "-", starting with a letter or digit');

/** A tenant slug or id. */
const TenantRefSchema = z.string().min(1).max(64);

export const SignInBodySchema = z.strictObject({
  username: z.string().min(1).max(128),
  password: z.string().min(1).max(1024),
  /** Slug of the tenant to start in; default: the user's first tenant. */
  tenant: TenantRefSchema.optional(),
});
export type SignInBody = z.infer<typeof SignInBodySchema>;

export const SwitchTenantBodySchema = z.strictObject({ tenant: TenantRefSchema });
export type SwitchTenantBody = z.infer<typeof SwitchTenantBodySchema>;

export const CreateTokenBodySchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._:-]*$/, 'letters, digits, space, ".", "_", ":" and "-"'),
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});
export type CreateTokenBody = z.infer<typeof CreateTokenBodySchema>;

export const ListTokensQuerySchema = z.strictObject({
  /** `true`: every member's tokens (admins). */
  all: z.enum(['true', 'false']).optional(),
});

export const AddMemberBodySchema = z.strictObject({
  username: UsernameSchema,
  role: RoleSchema,
  /** Required when the user does not exist yet, refused when it does. */
  password: z.string().min(12).max(1024).optional(),
  displayName: z.string().min(1).max(128).optional(),
});
export type AddMemberBody = z.infer<typeof AddMemberBodySchema>;

export const UpdateMemberBodySchema = z.strictObject({ role: RoleSchema });
export type UpdateMemberBody = z.infer<typeof UpdateMemberBodySchema>;

const PageCursorSchema = z.coerce.number().int().min(1).max(2_147_483_647);
const PageLimitSchema = z.coerce.number().int().min(1).max(500);

export const AuditQuerySchema = z.strictObject({
  action: z.string().min(1).max(128).optional(),
  /** Actor id or name (username). */
  actor: z.string().min(1).max(128).optional(),
  targetType: z.string().min(1).max(64).optional(),
  targetId: z.string().min(1).max(128).optional(),
  /** Free text: entries whose action, actor name, target type or target id contain it (any case). */
  q: z.string().min(1).max(128).optional(),
  /** Entries with a smaller seq: pass the previous page's `nextBefore`. */
  before: PageCursorSchema.optional(),
  limit: PageLimitSchema.optional(),
});
export type AuditQuery = z.infer<typeof AuditQuerySchema>;

export const RevisionsQuerySchema = z.strictObject({
  /** Revisions with a smaller number: pass the previous page's `nextBefore`. */
  before: PageCursorSchema.optional(),
  limit: PageLimitSchema.optional(),
});
