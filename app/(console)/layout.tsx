import type { ReactNode } from 'react';
import { can } from '@/server/auth/permissions';
import { getAppDb } from '@/server/app-db';
import { describeMe } from '@/server/services/auth.service';
import { requireConsolePrincipal } from '../_lib/session';
import { NavLinks } from './nav-links';
import { SignOutButton } from './sign-out-button';
import { TenantSwitcher } from './tenant-switcher';

export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  const principal = await requireConsolePrincipal();
  const me = await describeMe(getAppDb(), principal);
  const links = [
    { href: '/', label: 'Routes' },
    { href: '/graph', label: 'Graph editor' },
    { href: '/revisions', label: 'Revisions' },
    { href: '/policies', label: 'Policies' },
    { href: '/rollouts', label: 'Rollouts' },
    { href: '/playbooks', label: 'Playbooks' },
    { href: '/approvals', label: 'Approvals' },
    { href: '/fleet', label: 'Fleet' },
    { href: '/certificates', label: 'Certificates' },
    { href: '/audit', label: 'Audit' },
    { href: '/tokens', label: 'Tokens' },
    ...(can(principal.role, 'members.read') ? [{ href: '/members', label: 'Members' }] : []),
  ];
  return (
    <div className="shell">
      <a className="skip-link" href="#content">
        Skip to content
      </a>
      <aside className="sidebar">
        <div className="brand">ProxyShard</div>
        <nav className="nav" aria-label="Main">
          <NavLinks links={links} />
        </nav>
      </aside>
      <div className="main">
        <header className="topbar">
          <TenantSwitcher tenants={me.tenants.map((t) => ({ slug: t.slug, name: t.name, role: t.role }))} current={me.tenant.slug} />
          <span>
            {me.user.displayName} <span className="badge">{me.role}</span>
          </span>
          <SignOutButton />
        </header>
        <main id="content" tabIndex={-1}>
          {children}
        </main>
      </div>
    </div>
  );
}
