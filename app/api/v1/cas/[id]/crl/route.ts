import { publicApiRoute } from '@/server/http/api-route';
import { getAppKeyBox } from '@/server/pki/key-box';
import { publicCrlPem } from '@/server/services/certificate.service';

/**
 * The CA's current CRL (PEM, `X509 CRL`). Public by design, like any CRL distribution point: it lists only
 * serial numbers and dates, and relying parties fetch it without credentials.
 */
export const GET = publicApiRoute({
  route: '/api/v1/cas/[id]/crl',
  method: 'GET',
  handle: async ({ db, params }) =>
    new Response(await publicCrlPem(db, getAppKeyBox(), params.id ?? ''), {
      headers: { 'content-type': 'application/x-pem-file', 'cache-control': 'public, max-age=60' },
    }),
});
