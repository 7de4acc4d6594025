'use client';

import { useRouter } from 'next/navigation';
import { useState } from 'react';
import type { ApiTokenView } from '@/server/services/token.service';
import { callApi, describeFailure } from '../../_lib/api-client';
import { formatTime } from '../../_lib/format';
import { useHydrated } from '../../_lib/use-hydrated';
import { DataTable } from '../../_lib/data-table';

export function TokensPanel({ tokens }: { tokens: ApiTokenView[] }) {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const hydrated = useHydrated();

  async function revoke(t: ApiTokenView) {
    if (!window.confirm(`Revoke token "${t.name}"? Anything using it stops working.`)) return;
    setBusy(true);
    const r = await callApi('DELETE', `/api/v1/tokens/${t.id}`);
    setBusy(false);
    if (!r.ok) return setError(describeFailure(r.error));
    setError(null);
    router.refresh();
  }

  return (
    <>
      <form
        method="post"
        className="inline card"
        aria-label="Create a token"
        onSubmit={async (event) => {
          event.preventDefault();
          const formEl = event.currentTarget;
          const form = new FormData(formEl);
          const days = String(form.get('expiresInDays') ?? '');
          setBusy(true);
          const r = await callApi<{ token: ApiTokenView; secret: string }>('POST', '/api/v1/tokens', {
            name: String(form.get('name') ?? ''),
            ...(days ? { expiresInDays: Number(days) } : {}),
          });
          setBusy(false);
          if (!r.ok) return setError(describeFailure(r.error));
          setError(null);
          setCreated({ name: r.data.token.name, secret: r.data.secret });
          formEl.reset();
          router.refresh();
        }}
      >
        <label>
          Name
          <input name="name" required maxLength={64} placeholder="laptop-cli" />
        </label>
        <label>
          Expires in (days, optional)
          <input name="expiresInDays" type="number" min={1} max={3650} inputMode="numeric" />
        </label>
        <button type="submit" disabled={busy || !hydrated}>
          Create token
        </button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {created && (
        <div className="card" role="status" aria-live="polite">
          <p>
            <strong>Token “{created.name}” created.</strong> Copy it now: it is shown only once.
          </p>
          <p>
            <code className="secret" aria-label="New token">
              {created.secret}
            </code>
          </p>
          <button type="button" className="secondary" onClick={() => setCreated(null)}>
            I have stored it
          </button>
        </div>
      )}
      {tokens.length === 0 ? (
        <p className="muted">No tokens yet.</p>
      ) : (
        <DataTable columns={['Name', 'Prefix', 'Status', 'Created', 'Expires', 'Last used', <span key="actions" className="skip-link">Actions</span>]}>
          {tokens.map((t) => (
            <tr key={t.id}>
              <td>{t.name}</td>
              <td className="mono">ps_{t.prefix}_…</td>
              <td>
                <span className={`badge ${t.status}`}>{t.status}</span>
              </td>
              <td>{formatTime(t.createdAt)}</td>
              <td>{t.expiresAt ? formatTime(t.expiresAt) : 'never'}</td>
              <td>{formatTime(t.lastUsedAt)}</td>
              <td>
                {t.status === 'active' && (
                  <button type="button" className="danger" disabled={busy || !hydrated} onClick={() => revoke(t)} aria-label={`Revoke token ${t.name}`}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </>
  );
}
