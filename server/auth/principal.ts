/**
 * Who is calling: a user, acting in one tenant with their role there, via a browser session or an API token.
 */
import type { AuditActor } from '../audit/audit.service';
import type { Tenant } from '../db/tenant.repo';
import type { User } from '../db/user.repo';
import { forbidden } from '../errors';
import { can, type Action, type Role } from './permissions';

export type Principal = {
  user: User;
  tenant: Tenant;
  role: Role;
} & ({ via: 'session'; sessionId: string } | { via: 'token'; tokenId: string; tokenName: string; tokenExpiresAt: Date | null });

/** Throws `forbidden` unless the principal's role allows `action`. */
export function requirePermission(principal: Principal, action: Action): void {
  if (!can(principal.role, action)) throw forbidden(`your role (${principal.role}) does not allow ${action}`);
}

/** How a principal appears in the audit log: the user for sessions, the token (named by its owner) for tokens. */
export function auditActorOf(principal: Principal): AuditActor {
  return principal.via === 'token'
    ? { type: 'token', id: principal.tokenId, name: principal.user.username }
    : { type: 'user', id: principal.user.id, name: principal.user.username };
}
