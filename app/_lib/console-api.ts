/**
 * Calls to endpoints that colleagues are still adding: like callApi, plus whether the endpoint exists at all
 * (404 page or 405 from Next.js), so screens can say "not available yet" instead of failing obscurely.
 */
import { callApi, describeFailure, type ApiFailure } from './api-client';

export type ConsoleResult<T> = { ok: true; data: T } | { ok: false; missing: boolean; error: ApiFailure };

export async function callConsoleApi<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<ConsoleResult<T>> {
  const r = await callApi<T>(method, path, body);
  if (r.ok) return r;
  const missing = /\((404|405)\)$/.test(r.error.message) && (r.error.code === 'internal' || r.error.code === 'not_found');
  return { ok: false, missing, error: r.error };
}

/** The message of a failure, or "… is not available yet" for an endpoint the server does not have. */
export function describeConsoleFailure(r: { missing: boolean; error: ApiFailure }, what: string, endpoint: string): string {
  return r.missing ? `${what} is not available yet: this server has no ${endpoint} endpoint.` : describeFailure(r.error);
}

/** Endpoint paths the console uses, in one place. */
export const API = {
  revisions: '/api/v1/revisions',
  revision: (id: string) => `/api/v1/revisions/${encodeURIComponent(id)}`,
  validateRevision: '/api/v1/revisions/validate',
  applyRevision: (id: string) => `/api/v1/revisions/${encodeURIComponent(id)}/apply`,
  revisionDiff: (id: string, against?: string) => `/api/v1/revisions/${encodeURIComponent(id)}/diff${against ? `?against=${encodeURIComponent(against)}` : ''}`,
  revisionPlan: (id: string) => `/api/v1/revisions/${encodeURIComponent(id)}/plan`,
  proxies: '/api/v1/proxies',
  agents: '/api/v1/agents',
  rollouts: '/api/v1/rollouts',
  rollout: (id: string) => `/api/v1/rollouts/${encodeURIComponent(id)}`,
  rolloutAction: (id: string, action: string) => `/api/v1/rollouts/${encodeURIComponent(id)}/${action}`,
  policies: '/api/v1/policies',
  policy: (name: string) => `/api/v1/policies/${encodeURIComponent(name)}`,
  policyCheck: '/api/v1/policies/check',
  policyFormat: '/api/v1/policies/format',
  policyTest: '/api/v1/policies/test',
  policyEvaluate: '/api/v1/policies/evaluate',
  policyDecisions: '/api/v1/policies/decisions',
  graphPolicies: '/api/v1/graph-policies',
  xdpPolicies: '/api/v1/xdp-policies',
  publishXdpPolicy: (id: string) => `/api/v1/xdp-policies/${encodeURIComponent(id)}/publish`,
} as const;
