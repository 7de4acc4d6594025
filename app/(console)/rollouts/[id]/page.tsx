import type { Metadata } from 'next';
import Link from 'next/link';
import { can } from '@/server/auth/permissions';
import { requireConsolePrincipal } from '../../../_lib/session';
import { RolloutDetailView } from './rollout-detail';

export const metadata: Metadata = { title: 'Rollout' };

export default async function RolloutPage({ params }: { params: Promise<{ id: string }> }) {
  const principal = await requireConsolePrincipal();
  const { id } = await params;
  return (
    <>
      <p>
        <Link href="/rollouts">← Rollouts</Link>
      </p>
      <RolloutDetailView id={id} canDecide={can(principal.role, 'approvals.decide')} canControl={can(principal.role, 'rollouts.write')} />
    </>
  );
}
