import { AuditQuerySchema } from '@/contracts/api-v1.schema';
import { listAuditLog } from '@/server/audit/audit.service';
import { apiRoute } from '@/server/http/api-route';

/** The tenant's audit log, newest first, filtered by action / actor / target, paged by seq (`before`). */
export const GET = apiRoute({
  route: '/api/v1/audit',
  method: 'GET',
  permission: 'audit.read',
  query: AuditQuerySchema,
  handle: ({ db, principal, query }) => listAuditLog(db, principal, query),
});
