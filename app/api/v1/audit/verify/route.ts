import { verifyAuditLog } from '@/server/audit/audit.service';
import { apiRoute } from '@/server/http/api-route';

/** Recomputes the tenant's hash chain; reads only. */
export const POST = apiRoute({
  route: '/api/v1/audit/verify',
  method: 'POST',
  permission: 'audit.verify',
  handle: ({ db, principal }) => verifyAuditLog(db, principal),
});
