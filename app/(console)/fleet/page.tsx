import type { Metadata } from 'next';
import { requireConsolePrincipal } from '../../_lib/session';
import { FleetView } from './fleet-view';

export const metadata: Metadata = { title: 'Fleet' };

export default async function FleetPage() {
  await requireConsolePrincipal();
  return (
    <>
      <h1>Fleet</h1>
      <p className="subtitle">Envoy proxies (xDS sync state per type) and XDP node agents, updated live.</p>
      <FleetView />
    </>
  );
}
