'use client';

import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { callApi } from '../_lib/api-client';
import { useHydrated } from '../_lib/use-hydrated';

export function SignOutButton() {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const hydrated = useHydrated();
  return (
    <button
      type="button"
      className="secondary"
      disabled={busy || !hydrated}
      onClick={async () => {
        setBusy(true);
        await callApi('POST', '/api/v1/auth/sign-out');
        router.replace('/sign-in');
        router.refresh();
      }}
    >
      Sign out
    </button>
  );
}
