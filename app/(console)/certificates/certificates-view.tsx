'use client';

import { useState } from 'react';
import type { CaView, CertificateView } from '@/contracts/certificate.schema';
import { callConsoleApi, describeConsoleFailure } from '../../_lib/console-api';
import { formatTime } from '../../_lib/format';
import { LiveStatus } from '../../_lib/live-status';
import { useLiveData } from '../../_lib/use-live-data';
import { DataTable } from '../../_lib/data-table';

const CERTS = '/api/v1/certificates';
const CAS = '/api/v1/cas';

function expiryText(c: CertificateView): { text: string; cls: string } {
  if (c.status !== 'active') return { text: c.status, cls: c.status === 'superseded' ? '' : 'failed' };
  const days = Math.floor(c.secondsUntilExpiry / 86_400);
  if (c.secondsUntilExpiry <= 0) return { text: 'expired', cls: 'failed' };
  if (Date.parse(c.renewAt) <= Date.now()) return { text: `renewal due (${days} d left)`, cls: 'stale' };
  return { text: `active (${days} d left)`, cls: 'active' };
}

export function CertificatesView({ canRotate }: { canRotate: boolean }) {
  const certs = useLiveData<{ certificates: CertificateView[] }>(CERTS, ['certificates']);
  const cas = useLiveData<{ cas: CaView[] }>(CAS, ['certificates']);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const rotate = async (c: CertificateView) => {
    setBusy(c.id);
    const r = await callConsoleApi<unknown>('POST', `${CERTS}/${encodeURIComponent(c.id)}/rotate`, {});
    setBusy(null);
    setMessage(
      r.ok
        ? { kind: 'ok', text: `Rotation of ${c.name} started: a new certificate appears here once it is issued and served.` }
        : { kind: 'error', text: describeConsoleFailure(r, 'Rotation', 'POST /api/v1/certificates/{id}/rotate') },
    );
  };

  const active = certs.result?.ok ? certs.result.data.certificates : [];
  return (
    <>
      <LiveStatus state={certs.live} updatedAt={certs.updatedAt} />
      {message && (
        <p className={message.kind === 'error' ? 'error' : 'ok'} role="alert">
          {message.text}
        </p>
      )}
      <section className="card" aria-labelledby="certs-h">
        <h2 id="certs-h" className="panel-title">
          Certificates
        </h2>
        {!certs.result ? (
          <p className="muted">Loading…</p>
        ) : !certs.result.ok ? (
          <p className="error" role="alert">
            {describeConsoleFailure(certs.result, 'Certificates', 'GET /api/v1/certificates')}
          </p>
        ) : active.length === 0 ? (
          <p className="muted">
            No certificates yet. Issue one with <code>npm run cli -- certs issue &lt;name&gt; --cn &lt;CN&gt;</code> or <code>POST /api/v1/certificates</code>, then reference its
            name from a listener or cluster in the graph.
          </p>
        ) : (
          <DataTable columns={['Name', 'Subject', 'Status', 'Expires', 'Used by', canRotate && 'Actions']}>
            {active.map((c) => {
              const e = expiryText(c);
              const users = [...c.usedBy.listeners.map((l) => `listener ${l}`), ...c.usedBy.clusters.map((k) => `cluster ${k}`)];
              return (
                <tr key={c.id}>
                  <td>
                    {c.name}
                    <div className="small muted">
                      {c.usage} · {c.source} · serial <span className="mono">{c.serial.slice(0, 16)}</span>
                    </div>
                  </td>
                  <td className="small">
                    {c.commonName}
                    {c.dnsNames.length > 0 && <div className="muted">{c.dnsNames.join(', ')}</div>}
                  </td>
                  <td>
                    <span className={`badge ${e.cls}`}>{e.text}</span>
                    {c.revocationReason && <div className="small muted">{c.revocationReason}</div>}
                  </td>
                  <td className="small">
                    {formatTime(c.notAfter)}
                    <div className="muted">renew from {formatTime(c.renewAt)}</div>
                  </td>
                  <td className="small">{users.length === 0 ? <span className="muted">not referenced by the live graph</span> : users.join(', ')}</td>
                  {canRotate && (
                    <td>
                      {c.status === 'active' && c.source === 'builtin' && (
                        <button type="button" className="secondary" disabled={busy !== null} onClick={() => void rotate(c)} aria-label={`Rotate ${c.name} now`}>
                          {busy === c.id ? 'Rotating…' : 'Rotate now'}
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              );
            })}
          </DataTable>
        )}
      </section>
      <section className="card" aria-labelledby="cas-h">
        <h2 id="cas-h" className="panel-title">
          Certificate authorities
        </h2>
        {!cas.result ? (
          <p className="muted">Loading…</p>
        ) : !cas.result.ok ? (
          <p className="error" role="alert">
            {describeConsoleFailure(cas.result, 'CAs', 'GET /api/v1/cas')}
          </p>
        ) : cas.result.data.cas.length === 0 ? (
          <p className="muted">No CA yet: the tenant&apos;s CA is created when the first certificate is issued.</p>
        ) : (
          <DataTable columns={['Subject', 'Kind', 'Status', 'Valid until', 'CRL']}>
            {cas.result.data.cas.map((ca) => (
              <tr key={ca.id}>
                <td className="small">{ca.subject}</td>
                <td>
                  {ca.kind}
                  {!ca.keyOnline && <div className="small muted">key offline</div>}
                </td>
                <td>
                  <span className={`badge ${ca.status === 'active' ? 'active' : ca.status === 'retiring' ? 'stale' : ''}`}>{ca.status}</span>
                </td>
                <td className="small">{formatTime(ca.notAfter)}</td>
                <td className="small">
                  <a href={ca.crlPath}>CRL #{ca.crlNumber}</a>
                  {ca.crlNextUpdate && <div className="muted">next {formatTime(ca.crlNextUpdate)}</div>}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>
    </>
  );
}
