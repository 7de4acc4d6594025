import { ExportRootKeyBodySchema } from '@/contracts/certificate.schema';
import { apiRoute } from '@/server/http/api-route';
import { getAppKeyBox } from '@/server/pki/key-box';
import { exportRootKeyFor } from '@/server/services/certificate-api.service';

/** Exports the root CA's private key (PEM, audited); `remove: true` then deletes it from the server (offline root). */
export const POST = apiRoute({
  route: '/api/v1/cas/[id]/export-key',
  method: 'POST',
  permission: 'cas.manage',
  body: ExportRootKeyBodySchema,
  handle: async ({ db, principal, params, body }) => exportRootKeyFor(db, getAppKeyBox(), principal, params.id ?? '', body.remove),
});
