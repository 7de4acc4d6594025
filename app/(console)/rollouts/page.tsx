import type { Metadata } from 'next';
import { requireConsolePrincipal } from '../../_lib/session';
import { RolloutList } from './rollout-list';

export const metadata: Metadata = { title: 'Rollouts' };

export default async function RolloutsPage() {
  await requireConsolePrincipal();
  return (
    <>
      <h1>Rollouts</h1>
      <p className="subtitle">Canary rollouts: traffic shifts step by step, with analysis of Envoy&apos;s own stats and human approvals. The list updates live.</p>
      <RolloutList />
    </>
  );
}
