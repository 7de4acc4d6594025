import type { Metadata } from 'next';
import { notFound } from 'next/navigation';
import { getAppDb } from '@/server/app-db';
import { can } from '@/server/auth/permissions';
import { listTenantMembers } from '@/server/services/member.service';
import { requireConsolePrincipal } from '../../_lib/session';
import { MembersPanel } from './members-panel';

export const metadata: Metadata = { title: 'Members' };

export default async function MembersPage() {
  const principal = await requireConsolePrincipal();
  if (!can(principal.role, 'members.read')) notFound();
  const members = await listTenantMembers(getAppDb(), principal);
  return (
    <>
      <h1>Members</h1>
      <p className="subtitle">Who may do what in {principal.tenant.name}. Viewers read; operators change routes; approvers also approve; admins also manage members.</p>
      <MembersPanel members={members} selfUserId={principal.user.id} />
    </>
  );
}
