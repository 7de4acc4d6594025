'use client';

import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { callApi, describeFailure } from '../_lib/api-client';
import { useHydrated } from '../_lib/use-hydrated';

export function TenantSwitcher({ tenants, current }: { tenants: { slug: string; name: string; role: string }[]; current: string }) {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const hydrated = useHydrated();
  if (tenants.length < 2) return <span>{tenants[0]?.name ?? current}</span>;
  return (
    <form
      method="post"
      className="inline"
      onSubmit={async (event) => {
        event.preventDefault();
        const tenant = String(new FormData(event.currentTarget).get('tenant') ?? '');
        setBusy(true);
        const result = await callApi('POST', '/api/v1/me/tenant', { tenant });
        setBusy(false);
        if (!result.ok) return setError(describeFailure(result.error));
        setError(null);
        router.refresh();
      }}
    >
      <label>
        <span className="muted">Tenant</span>
        <select name="tenant" defaultValue={current}>
          {tenants.map((t) => (
            <option key={t.slug} value={t.slug}>
              {t.name} ({t.role})
            </option>
          ))}
        </select>
      </label>
      <button type="submit" className="secondary" disabled={busy || !hydrated}>
        Switch
      </button>
      {error && (
        <span className="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}
