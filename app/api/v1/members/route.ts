import { AddMemberBodySchema } from '@/contracts/api-v1.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { addTenantMember, listTenantMembers } from '@/server/services/member.service';

export const GET = apiRoute({
  route: '/api/v1/members',
  method: 'GET',
  permission: 'members.read',
  handle: async ({ db, principal }) => ({ members: await listTenantMembers(db, principal) }),
});

/** Adds a user to the tenant with a role, creating the user (with `password`) when the username is new. */
export const POST = apiRoute({
  route: '/api/v1/members',
  method: 'POST',
  permission: 'members.manage',
  body: AddMemberBodySchema,
  handle: async ({ db, principal, body }) => jsonResponse(await addTenantMember(db, principal, body), { status: 201 }),
});
