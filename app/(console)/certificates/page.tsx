import type { Metadata } from 'next';
import { can } from '@/server/auth/permissions';
import { requireConsolePrincipal } from '../../_lib/session';
import { CertificatesView } from './certificates-view';

export const metadata: Metadata = { title: 'Certificates' };

export default async function CertificatesPage() {
  const principal = await requireConsolePrincipal();
  return (
    <>
      <h1>Certificates</h1>
      <p className="subtitle">
        TLS certificates issued from the tenant&apos;s CA or imported, where the live route graph uses them, and the CAs. Updates live.
        {!can(principal.role, 'certificates.write') && ' Rotating needs the operator role or above.'}
      </p>
      <CertificatesView canRotate={can(principal.role, 'certificates.write')} />
    </>
  );
}
