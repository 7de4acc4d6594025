/**
 * Who may do what: one table mapping each action to the lowest role allowed to do it.
 * Roles are ordered viewer < operator < approver < admin; a role may do everything a lower role may.
 * Every API endpoint names one action from this table and the server checks it before doing anything.
 */
export const ROLES = ['viewer', 'operator', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = {
  /** Read one's own identity, tenants and permissions. */
  'me.read': 'viewer',
  /** Switch the current tenant of one's own session (only to tenants one belongs to). */
  'me.switch_tenant': 'viewer',
  'routes.read': 'viewer',
  'revisions.read': 'viewer',
  /** Create drafts, propose, apply. */
  'revisions.write': 'operator',
  'rollouts.read': 'viewer',
  'rollouts.write': 'operator',
  /** Failover playbooks: read playbooks, runs, triggers and dry runs; write = create versions, start runs, triggers. */
  'playbooks.read': 'viewer',
  'playbooks.write': 'operator',
  'policies.read': 'viewer',
  'policies.write': 'operator',
  'fleet.read': 'viewer',
  /** Follow live change notices (GET /api/v1/events); each topic also needs its own read permission. */
  'events.read': 'viewer',
  'approvals.decide': 'approver',
  'audit.read': 'viewer',
  /** Recompute the audit hash chain; reads only. */
  'audit.verify': 'viewer',
  /** List, create and revoke one's own API tokens (a token is bound to its owner and the current tenant). */
  'tokens.read': 'viewer',
  'tokens.create': 'viewer',
  'tokens.revoke': 'viewer',
  /** See and revoke any member's tokens in the tenant. */
  'tokens.manage': 'admin',
  'members.read': 'admin',
  'members.manage': 'admin',
  /** Notification deliveries (what was sent where, and whether it arrived). */
  'notifications.read': 'viewer',
  /** Webhook endpoints carry URLs and signing secrets. */
  'webhooks.read': 'admin',
  'webhooks.manage': 'admin',
  /** Certificates and their status, chains and users (never private keys). */
  'certificates.read': 'viewer',
  /** Issue, import, revoke, rotate now, schedule rotation. */
  'certificates.write': 'operator',
  /** The tenant's CAs and their CRLs. */
  'cas.read': 'viewer',
  /** Import a CA, create a new intermediate/root, retire a CA, export (and remove) the root key, rewrap keys. */
  'cas.manage': 'admin',
} as const satisfies Record<string, Role>;

export type Action = keyof typeof PERMISSIONS;

const RANK: Record<Role, number> = { viewer: 0, operator: 1, approver: 2, admin: 3 };

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Whether `role` may perform `action`. */
export function can(role: Role, action: Action): boolean {
  return RANK[role] >= RANK[PERMISSIONS[action]];
}

/** The actions `role` may perform, in table order (shown by GET /me so clients can hide what is denied). */
export function allowedActions(role: Role): Action[] {
  return (Object.keys(PERMISSIONS) as Action[]).filter((a) => can(role, a));
}
