import { ImportCertificateBodySchema } from '@/contracts/certificate.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { getAppKeyBox } from '@/server/pki/key-box';
import { importCertificateFor } from '@/server/services/certificate-api.service';

/** Imports an external leaf (certificate, key, chain PEM); problems are named by field. */
export const POST = apiRoute({
  route: '/api/v1/certificates/import',
  method: 'POST',
  permission: 'certificates.write',
  body: ImportCertificateBodySchema,
  handle: async ({ db, principal, body }) => jsonResponse({ certificate: await importCertificateFor(db, getAppKeyBox(), principal, body) }, { status: 201 }),
});
