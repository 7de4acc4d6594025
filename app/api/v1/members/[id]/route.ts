import { UpdateMemberBodySchema } from '@/contracts/api-v1.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { changeMemberRole, removeTenantMember } from '@/server/services/member.service';

export const PATCH = apiRoute({
  route: '/api/v1/members/[id]',
  method: 'PATCH',
  permission: 'members.manage',
  body: UpdateMemberBodySchema,
  handle: async ({ db, principal, params, body }) => ({ member: await changeMemberRole(db, principal, params.id ?? '', body.role) }),
});

/** Removes the member; their sessions in this tenant end and their tokens here are revoked. */
export const DELETE = apiRoute({
  route: '/api/v1/members/[id]',
  method: 'DELETE',
  permission: 'members.manage',
  handle: async ({ db, principal, params }) => {
    await removeTenantMember(db, principal, params.id ?? '');
    return jsonResponse(null, { status: 204 });
  },
});
