'use server';

import { cookies } from 'next/headers';
import { redirect } from 'next/navigation';
import { SignInBodySchema } from '@/contracts/api-v1.schema';
import { getAppDb } from '@/server/app-db';
import { SESSION_COOKIE } from '@/server/auth/cookies';
import { getEnv } from '@/server/env';
import { describeError } from '@/server/errors';
import { getLogger } from '@/server/log';
import { signIn } from '@/server/services/auth.service';

export interface SignInState {
  error: string | null;
  username: string;
}

/**
 * The sign-in form's server action (works before the page has hydrated, and never puts the password in a
 * URL). Same service, same cookie and same audit entries as POST /api/v1/auth/sign-in.
 */
export async function signInAction(_prev: SignInState, form: FormData): Promise<SignInState> {
  const username = String(form.get('username') ?? '');
  const parsed = SignInBodySchema.safeParse({ username, password: String(form.get('password') ?? '') });
  if (!parsed.success) return { error: 'Enter your username and password.', username };
  const env = getEnv();
  try {
    const r = await signIn(getAppDb(), parsed.data, { ttlHours: env.SESSION_TTL_HOURS });
    (await cookies()).set(SESSION_COOKIE, r.sessionToken, {
      httpOnly: true,
      sameSite: 'lax',
      secure: env.COOKIE_SECURE,
      path: '/',
      maxAge: Math.floor((r.expiresAt.getTime() - Date.now()) / 1000),
    });
  } catch (err) {
    const { body } = describeError(err, getLogger());
    return { error: `${body.error.message[0]?.toUpperCase()}${body.error.message.slice(1)}${body.error.eventId ? ` (event ${body.error.eventId})` : ''}.`, username };
  }
  redirect('/');
}
