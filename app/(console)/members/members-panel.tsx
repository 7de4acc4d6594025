'use client';

import { useRouter } from 'next/navigation';
import { useState } from 'react';
import type { MemberView } from '@/server/services/member.service';
import { callApi, describeFailure } from '../../_lib/api-client';
import { useHydrated } from '../../_lib/use-hydrated';
import { DataTable } from '../../_lib/data-table';

const ROLES = ['viewer', 'operator', 'approver', 'admin'] as const;

export function MembersPanel({ members, selfUserId }: { members: MemberView[]; selfUserId: string }) {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const hydrated = useHydrated();

  async function run(action: () => Promise<{ ok: boolean; error?: Parameters<typeof describeFailure>[0] }>, done: string) {
    setBusy(true);
    const r = await action();
    setBusy(false);
    if (!r.ok && r.error) {
      setNotice(null);
      return setError(describeFailure(r.error));
    }
    setError(null);
    setNotice(done);
    router.refresh();
  }

  return (
    <>
      <form
        method="post"
        className="inline card"
        aria-label="Add a member"
        onSubmit={async (event) => {
          event.preventDefault();
          const formEl = event.currentTarget;
          const form = new FormData(formEl);
          const password = String(form.get('password') ?? '');
          const username = String(form.get('username') ?? '');
          await run(
            () => callApi('POST', '/api/v1/members', { username, role: String(form.get('role')), ...(password ? { password } : {}) }),
            `${username} added.`,
          );
          formEl.reset();
        }}
      >
        <label>
          Username
          <input name="username" required maxLength={64} autoComplete="off" />
        </label>
        <label>
          Role
          <select name="role" defaultValue="viewer">
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <label>
          Password (new users only)
          <input name="password" type="password" minLength={12} maxLength={1024} autoComplete="new-password" />
        </label>
        <button type="submit" disabled={busy || !hydrated}>
          Add member
        </button>
      </form>
      <p role="status" aria-live="polite" className={error ? 'error' : 'ok'}>
        {error ?? notice}
      </p>
      <DataTable columns={['User', 'Role', <span key="actions" className="skip-link">Actions</span>]}>
        {members.map((m) => (
          <tr key={m.id}>
            <td>
              {m.user.displayName} <span className="muted mono">{m.user.username}</span>
              {m.user.id === selfUserId && <span className="badge">you</span>}
            </td>
            <td>
              <label>
                <span className="skip-link">Role of {m.user.username}</span>
                <select
                  defaultValue={m.role}
                  disabled={busy || !hydrated}
                  onChange={(e) => run(() => callApi('PATCH', `/api/v1/members/${m.id}`, { role: e.target.value }), `${m.user.username} is now ${e.target.value}.`)}
                >
                  {ROLES.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              </label>
            </td>
            <td>
              <button
                type="button"
                className="danger"
                disabled={busy || !hydrated}
                aria-label={`Remove ${m.user.username}`}
                onClick={() => {
                  if (window.confirm(`Remove ${m.user.username} from this tenant? Their sessions and tokens here end.`)) {
                    void run(() => callApi('DELETE', `/api/v1/members/${m.id}`), `${m.user.username} removed.`);
                  }
                }}
              >
                Remove
              </button>
            </td>
          </tr>
        ))}
      </DataTable>
    </>
  );
}
