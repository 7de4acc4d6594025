'use client';

import { useState } from 'react';
import { callApi, describeFailure } from '../../_lib/api-client';
import { useHydrated } from '../../_lib/use-hydrated';

type Verification =
  | { ok: true; entries: number; headHash: string }
  | { ok: false; entries: number; firstBrokenSeq: number; reason: string; entry: { action: string; actor: { name: string }; at: string } | null };

export function VerifyChainButton() {
  const [busy, setBusy] = useState(false);
  const hydrated = useHydrated();
  const [result, setResult] = useState<{ kind: 'ok' | 'broken' | 'error'; text: string } | null>(null);
  return (
    <div>
      <button
        type="button"
        disabled={busy || !hydrated}
        onClick={async () => {
          setBusy(true);
          const r = await callApi<Verification>('POST', '/api/v1/audit/verify');
          setBusy(false);
          if (!r.ok) return setResult({ kind: 'error', text: describeFailure(r.error) });
          const v = r.data;
          setResult(
            v.ok
              ? { kind: 'ok', text: `Chain intact: ${v.entries} entries verified (head ${v.headHash.slice(0, 16)}…).` }
              : {
                  kind: 'broken',
                  text: `Chain broken at seq ${v.firstBrokenSeq}: ${v.reason}.${v.entry ? ` Entry: ${v.entry.action} by ${v.entry.actor.name} at ${v.entry.at}.` : ''} ${v.entries} entries before it verified.`,
                },
          );
        }}
      >
        {busy ? 'Verifying…' : 'Verify chain'}
      </button>
      <p role="status" aria-live="polite" className={result?.kind === 'ok' ? 'ok' : result ? 'error' : undefined}>
        {result?.text}
      </p>
    </div>
  );
}
