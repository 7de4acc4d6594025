import { SignInBodySchema } from '@/contracts/api-v1.schema';
import { sessionCookie } from '@/server/auth/cookies';
import { getEnv } from '@/server/env';
import { jsonResponse, publicApiRoute } from '@/server/http/api-route';
import { signIn } from '@/server/services/auth.service';

/** Username + password → session cookie. Open to everyone (it is how one becomes someone). */
export const POST = publicApiRoute({
  route: '/api/v1/auth/sign-in',
  method: 'POST',
  body: SignInBodySchema,
  handle: async ({ db, body }) => {
    const env = getEnv();
    const r = await signIn(db, body, { ttlHours: env.SESSION_TTL_HOURS });
    const cookie = sessionCookie(r.sessionToken, { maxAgeSeconds: (r.expiresAt.getTime() - Date.now()) / 1000, secure: env.COOKIE_SECURE });
    return jsonResponse(
      {
        user: { id: r.user.id, username: r.user.username, displayName: r.user.displayName },
        tenant: { id: r.tenant.id, slug: r.tenant.slug, name: r.tenant.name },
        role: r.role,
        expiresAt: r.expiresAt.toISOString(),
      },
      { headers: { 'set-cookie': cookie } },
    );
  },
});
