import { ImportCaBodySchema } from '@/contracts/certificate.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { getAppKeyBox } from '@/server/pki/key-box';
import { importCaFor } from '@/server/services/certificate-api.service';

/** Imports an external CA (certificate + private key PEM): trusted, and able to sign leaves (`caId`). */
export const POST = apiRoute({
  route: '/api/v1/cas/import',
  method: 'POST',
  permission: 'cas.manage',
  body: ImportCaBodySchema,
  handle: async ({ db, principal, body }) => jsonResponse({ ca: await importCaFor(db, getAppKeyBox(), principal, body) }, { status: 201 }),
});
