import { SwitchTenantBodySchema } from '@/contracts/api-v1.schema';
import { apiRoute } from '@/server/http/api-route';
import { switchTenant } from '@/server/services/auth.service';

/** Switches the session's current tenant (to one the user belongs to). */
export const POST = apiRoute({
  route: '/api/v1/me/tenant',
  method: 'POST',
  permission: 'me.switch_tenant',
  body: SwitchTenantBodySchema,
  handle: ({ db, principal, body }) => switchTenant(db, principal, body.tenant),
});
