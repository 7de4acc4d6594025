'use client';

import { useActionState } from 'react';
import { signInAction, type SignInState } from './actions';

const initial: SignInState = { error: null, username: '' };

export function SignInForm() {
  const [state, formAction, pending] = useActionState(signInAction, initial);
  return (
    <form className="stack" action={formAction} aria-describedby={state.error ? 'sign-in-error' : undefined}>
      <label>
        Username
        <input name="username" autoComplete="username" required autoFocus maxLength={128} defaultValue={state.username} key={state.username} />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete="current-password" required maxLength={1024} />
      </label>
      <p id="sign-in-error" className="error" role="alert" aria-live="assertive">
        {state.error}
      </p>
      <button type="submit" disabled={pending}>
        {pending ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
