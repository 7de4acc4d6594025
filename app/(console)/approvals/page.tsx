import type { Metadata } from 'next';
import { can } from '@/server/auth/permissions';
import { requireConsolePrincipal } from '../../_lib/session';
import { RolloutList } from '../rollouts/rollout-list';

export const metadata: Metadata = { title: 'Approvals' };

export default async function ApprovalsPage() {
  const principal = await requireConsolePrincipal();
  return (
    <>
      <h1>Approvals</h1>
      <p className="subtitle">
        Rollouts waiting at an approval step. Open one to approve or reject it
        {can(principal.role, 'approvals.decide') ? '.' : ' (your role cannot decide: ask an approver or admin).'}
      </p>
      <RolloutList onlyAwaitingApproval />
    </>
  );
}
