import { clearedSessionCookie } from '@/server/auth/cookies';
import { getEnv } from '@/server/env';
import { jsonResponse, publicApiRoute } from '@/server/http/api-route';
import { signOut } from '@/server/services/auth.service';

/** Ends the caller's session (if any) and clears the cookie. Open to everyone: it only ever removes access. */
export const POST = publicApiRoute({
  route: '/api/v1/auth/sign-out',
  method: 'POST',
  handle: async ({ db, principal }) => {
    await signOut(db, principal);
    return jsonResponse(null, { status: 204, headers: { 'set-cookie': clearedSessionCookie({ secure: getEnv().COOKIE_SECURE }) } });
  },
});
