/**
 * Browser-side calls to the REST API (same origin, session cookie). Returns the parsed body or the API's
 * error, never throws for HTTP errors.
 */
export interface ApiFailure {
  code: string;
  message: string;
  issues?: { path: string; message: string }[];
  eventId?: string;
}

export type ApiResult<T> = { ok: true; data: T } | { ok: false; error: ApiFailure };

export async function callApi<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<ApiResult<T>> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, error: { code: 'network', message: 'the server could not be reached' } };
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    return { ok: false, error: { code: 'internal', message: `unexpected response (${res.status})` } };
  }
  if (!res.ok) {
    const error = (json as { error?: ApiFailure } | null)?.error;
    return { ok: false, error: error ?? { code: 'internal', message: `request failed (${res.status})` } };
  }
  return { ok: true, data: json as T };
}

/** One line for an API failure, with field issues and the event id when there are any. */
export function describeFailure(e: ApiFailure): string {
  const issues = e.issues?.length ? ` (${e.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')})` : '';
  return `${e.message}${issues}${e.eventId ? ` — event ${e.eventId}` : ''}`;
}
