import type { Metadata } from 'next';
import { getAppDb } from '@/server/app-db';
import { listTokens } from '@/server/services/token.service';
import { requireConsolePrincipal } from '../../_lib/session';
import { TokensPanel } from './tokens-panel';

export const metadata: Metadata = { title: 'API tokens' };

export default async function TokensPage() {
  const principal = await requireConsolePrincipal();
  const tokens = await listTokens(getAppDb(), principal);
  return (
    <>
      <h1>API tokens</h1>
      <p className="subtitle">
        Tokens act as you, with your role, in {principal.tenant.name} only. Use one with the CLI: <code>npm run cli -- login --url … --token …</code>
      </p>
      <TokensPanel tokens={tokens} />
    </>
  );
}
