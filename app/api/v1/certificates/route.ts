import { IssueCertificateBodySchema, ListCertificatesQuerySchema } from '@/contracts/certificate.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { getAppKeyBox } from '@/server/pki/key-box';
import { issueCertificateFor, listCertificatesFor } from '@/server/services/certificate-api.service';

/** Certificates of the tenant (`?expiringWithinHours=336` lists active ones expiring soon, soonest first). */
export const GET = apiRoute({
  route: '/api/v1/certificates',
  method: 'GET',
  permission: 'certificates.read',
  query: ListCertificatesQuerySchema,
  handle: async ({ db, principal, query }) => ({ certificates: await listCertificatesFor(db, principal, query) }),
});

/** Issues a leaf from the tenant's CA (created on first use); the name's previous certificate is superseded. */
export const POST = apiRoute({
  route: '/api/v1/certificates',
  method: 'POST',
  permission: 'certificates.write',
  body: IssueCertificateBodySchema,
  handle: async ({ db, principal, body }) => jsonResponse({ certificate: await issueCertificateFor(db, getAppKeyBox(), principal, body) }, { status: 201 }),
});
