import type { Metadata } from 'next';
import { can } from '@/server/auth/permissions';
import { requireConsolePrincipal } from '../../_lib/session';
import { PlaybookRuns } from './playbook-runs';

export const metadata: Metadata = { title: 'Playbooks' };

export default async function PlaybooksPage() {
  const principal = await requireConsolePrincipal();
  return (
    <>
      <h1>Playbook runs</h1>
      <p className="subtitle">Failover and traffic-steering playbooks: every change waits for the proxies&apos; and agents&apos; ACK. The list updates live.</p>
      <PlaybookRuns canDecide={can(principal.role, 'approvals.decide')} canControl={can(principal.role, 'playbooks.write')} />
    </>
  );
}
