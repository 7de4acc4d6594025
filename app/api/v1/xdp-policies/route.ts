import { CreateXdpPolicyBodySchema, ListXdpPoliciesQuerySchema } from '@/contracts/xdp.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { createXdpPolicy, listXdpPolicies } from '@/server/services/xdp.service';

/** XDP policy versions, newest first (`?nodeGroup=` for one group); `desired` marks what each group should run. */
export const GET = apiRoute({
  route: '/api/v1/xdp-policies',
  method: 'GET',
  permission: 'policies.read',
  query: ListXdpPoliciesQuerySchema,
  handle: async ({ db, principal, query }) => ({ policies: await listXdpPolicies(db, principal, query) }),
});

/**
 * Stores a new version of a node group's XDP policy (not pushed yet: POST …/[id]/publish). Refused with
 * field paths (`spec.rules[0].cidrs[1]`) when invalid, including a deny CIDR that overlaps a protected
 * management CIDR (the policy's own or one an agent of the group is configured with).
 */
export const POST = apiRoute({
  route: '/api/v1/xdp-policies',
  method: 'POST',
  permission: 'policies.write',
  body: CreateXdpPolicyBodySchema,
  handle: async ({ db, principal, body }) => jsonResponse({ policy: await createXdpPolicy(db, principal, body) }, { status: 201 }),
});
