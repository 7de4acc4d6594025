/**
 * The signed-in principal of a console request (server components), from the session cookie.
 */
import { cookies } from 'next/headers';
import { redirect } from 'next/navigation';
import { cache } from 'react';
import { getAppDb } from '@/server/app-db';
import { authenticateSessionToken } from '@/server/auth/authenticate';
import { SESSION_COOKIE } from '@/server/auth/cookies';
import type { Principal } from '@/server/auth/principal';

/** The principal, or null when signed out (memoised per request). */
export const getConsolePrincipal = cache(async (): Promise<Principal | null> => {
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  return authenticateSessionToken(getAppDb(), token);
});

/** The principal; signed-out visitors are sent to /sign-in. */
export async function requireConsolePrincipal(): Promise<Principal> {
  const principal = await getConsolePrincipal();
  if (!principal) redirect('/sign-in');
  return principal;
}
