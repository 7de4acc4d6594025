import type { Metadata } from 'next';
import { requireConsolePrincipal } from '../../_lib/session';
import { FleetView } from './fleet-view';

export const metadata: Metadata = { title: 'Fleet' };

export default async function FleetPage() {
  await requireConsolePrincipal();
  return (
    <>
      <h1>Fleet</h1>
      <p className="subtitle">Envoy proxies and XDP node agents, refreshed every second.</p>
      <FleetView />
    </>
  );
}
