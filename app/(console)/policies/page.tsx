import type { Metadata } from 'next';
import { getAppDb } from '@/server/app-db';
import { can } from '@/server/auth/permissions';
import { isAppError } from '@/server/errors';
import { getPolicyFor, getPolicyVersionFor, listPoliciesFor } from '@/server/services/policy-api.service';
import { listLiveRoutes } from '@/server/services/route.service';
import { requireConsolePrincipal } from '../../_lib/session';
import { PolicyWorkbench, type PolicySummary, type LoadedPolicy } from './policy-workbench';

export const metadata: Metadata = { title: 'Policies' };

export default async function PoliciesPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const principal = await requireConsolePrincipal();
  const raw = await searchParams;
  const db = getAppDb();
  const policies = await listPoliciesFor(db, principal);
  const name = typeof raw.name === 'string' ? raw.name : undefined;
  let loaded: LoadedPolicy | null = null;
  let loadError: string | null = null;
  if (name) {
    try {
      const { policy, versions } = await getPolicyFor(db, principal, name);
      const live = versions.find((v) => v.id === policy.liveVersionId) ?? versions[0];
      const full = live ? await getPolicyVersionFor(db, principal, policy.name, String(live.number)) : null;
      loaded = {
        name: policy.name,
        kind: policy.kind,
        description: policy.description,
        liveVersion: versions.find((v) => v.id === policy.liveVersionId)?.number ?? null,
        versions: versions.map((v) => ({ number: v.number, status: v.status, createdBy: v.createdBy, createdAt: v.createdAt.toISOString(), live: v.id === policy.liveVersionId })),
        modules: full?.modules ?? [],
        data: full?.data ?? {},
        shownVersion: full?.number ?? null,
      };
    } catch (err) {
      if (isAppError(err) && err.code === 'not_found') loadError = `There is no policy called "${name}" in ${principal.tenant.name}. Create it below.`;
      else throw err;
    }
  }
  const { revision, routes } = await listLiveRoutes(db, principal);
  const summaries: PolicySummary[] = policies.map((p) => ({ name: p.name, kind: p.kind, live: p.liveVersionId !== null }));
  return (
    <>
      <h1>Policies</h1>
      <p className="subtitle">Rego guardrails (admission) and request policies (ext_authz), checked, tested and compiled to Wasm by OPA.</p>
      {loadError && (
        <p className="error" role="alert">
          {loadError}
        </p>
      )}
      <PolicyWorkbench
        key={loaded ? `${loaded.name}@${loaded.shownVersion}` : (name ?? 'new')}
        policies={summaries}
        loaded={loaded}
        newName={loaded ? null : (name ?? null)}
        canWrite={can(principal.role, 'policies.write')}
        canBind={can(principal.role, 'revisions.write')}
        liveRevision={revision ? { id: revision.id, number: revision.number } : null}
        routeNames={[...new Set(routes.map((r) => r.name))]}
      />
    </>
  );
}
