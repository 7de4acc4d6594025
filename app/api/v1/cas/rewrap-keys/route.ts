import { apiRoute } from '@/server/http/api-route';
import { getAppKeyBox } from '@/server/pki/key-box';
import { rewrapKeysFor } from '@/server/services/certificate-api.service';

/** Re-seals the tenant's stored private keys under the current key-encryption key (after PROXYSHARD_KEYS got a new first key). */
export const POST = apiRoute({
  route: '/api/v1/cas/rewrap-keys',
  method: 'POST',
  permission: 'cas.manage',
  handle: async ({ db, principal }) => rewrapKeysFor(db, getAppKeyBox(), principal),
});
