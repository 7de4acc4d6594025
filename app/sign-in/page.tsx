import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { getConsolePrincipal } from '../_lib/session';
import { SignInForm } from './sign-in-form';

export const metadata: Metadata = { title: 'Sign in' };

export default async function SignInPage() {
  if (await getConsolePrincipal()) redirect('/');
  return (
    <main className="center">
      <div className="card">
        <h1>Sign in to ProxyShard</h1>
        <p className="subtitle">Control plane for your Envoy fleet.</p>
        <SignInForm />
      </div>
    </main>
  );
}
