import { apiRoute } from '@/server/http/api-route';
import { revokeToken } from '@/server/services/token.service';

/** Revokes the token (one's own; any in the tenant for admins). */
export const DELETE = apiRoute({
  route: '/api/v1/tokens/[id]',
  method: 'DELETE',
  permission: 'tokens.revoke',
  handle: async ({ db, principal, params }) => ({ token: await revokeToken(db, principal, params.id ?? '') }),
});
