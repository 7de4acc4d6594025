/**
 * Route handlers stay thin: each `route.ts` export is built here from a declaration (route pattern,
 * permission, zod schemas) and one service call. In order, a request is:
 *   1. refused when it is a cross-site unsafe request with cookies (Origin ≠ Host)        403
 *   2. authenticated (bearer token or session cookie)                                     401
 *   3. checked against the permission table                                               403
 *   4. read: Content-Type (415), size (413, before parsing), JSON syntax (400)
 *   5. validated with zod strictObject schemas; every issue names its field               400
 *   6. handed to the service; AppErrors become `{ error: { code, message, issues?, eventId? } }`
 * Nothing is written before step 6, so bad input never changes state.
 * Every handler carries `meta` (route, method, access) so tests can enumerate endpoints and their rules.
 */
import type { z } from 'zod';
import { getAppDb } from '../app-db';
import { authenticateRequest } from '../auth/authenticate';
import type { Action } from '../auth/permissions';
import { requirePermission, type Principal } from '../auth/principal';
import type { Db } from '../db/client';
import { getEnv } from '../env';
import { AppError, describeError, unauthenticated } from '../errors';
import { getLogger } from '../log';
import { readJsonBody } from './body';
import { recordHttpRequest } from './metrics';
import { parseInput, queryObject } from './validate';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteMeta {
  /** The route pattern, e.g. `/api/v1/tokens/[id]` (also the metrics label). */
  route: string;
  method: HttpMethod;
  /** `public`: no credentials needed (the handler may still look at them); otherwise the permission checked. */
  access: 'public' | Action;
  /** Whether a JSON body is read (and validated). */
  body: boolean;
}

export type RouteParams = Record<string, string | string[] | undefined>;
export type RouteHandler = ((req: Request, ctx?: { params: Promise<RouteParams> }) => Promise<Response>) & { meta: RouteMeta };

type Infer<S> = S extends z.ZodType ? z.infer<S> : undefined;

export interface HandlerContext<B, Q, P> {
  req: Request;
  db: Db;
  principal: P;
  body: B;
  query: Q;
  params: Record<string, string>;
}

interface RouteDef<BS extends z.ZodType | undefined, QS extends z.ZodType | undefined> {
  route: string;
  method: HttpMethod;
  /** zod schema (strictObject) of the JSON body; without one, the body is not read. */
  body?: BS;
  /** zod schema (strictObject) of the query string; without one, query parameters are ignored. */
  query?: QS;
}

const UNSAFE = new Set<HttpMethod>(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A JSON response (no-store); use it from handlers for a status other than 200 or extra headers. */
export function jsonResponse(body: unknown, init: { status?: number; headers?: Record<string, string | string[]> } = {}): Response {
  const headers = new Headers({ 'cache-control': 'no-store' });
  for (const [k, v] of Object.entries(init.headers ?? {})) for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
  if (init.status === 204) return new Response(null, { status: 204, headers });
  return Response.json(body, { status: init.status ?? 200, headers });
}

/** Cookie-authenticated unsafe requests must come from our own origin (defence in depth next to SameSite=Lax). */
function checkSameOrigin(req: Request): void {
  const origin = req.headers.get('origin');
  if (!origin || req.headers.has('authorization')) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new AppError('forbidden', 'cross-site request refused (unreadable Origin)');
  }
  const allowed = [req.headers.get('host'), req.headers.get('x-forwarded-host'), new URL(req.url).host];
  if (!allowed.includes(host)) throw new AppError('forbidden', 'cross-site request refused (Origin does not match Host)');
}

async function stringParams(ctx: { params: Promise<RouteParams> } | undefined): Promise<Record<string, string>> {
  const raw = (await ctx?.params) ?? {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join('/') : v;
  return out;
}

function build<BS extends z.ZodType | undefined, QS extends z.ZodType | undefined, P>(
  def: RouteDef<BS, QS>,
  access: RouteMeta['access'],
  authorise: (principal: Principal | null) => P,
  handle: (ctx: HandlerContext<Infer<BS>, Infer<QS>, P>) => Promise<unknown>,
): RouteHandler {
  const handler = async (req: Request, ctx?: { params: Promise<RouteParams> }): Promise<Response> => {
    const started = process.hrtime.bigint();
    const log = getLogger();
    let response: Response;
    try {
      if (UNSAFE.has(def.method)) checkSameOrigin(req);
      const db = getAppDb();
      const principal = authorise(await authenticateRequest(db, req.headers));
      const params = await stringParams(ctx);
      const query = (def.query ? parseInput(def.query, queryObject(new URL(req.url).searchParams), 'query string') : undefined) as Infer<QS>;
      const body = (def.body ? parseInput(def.body, await readJsonBody(req, getEnv().MAX_BODY_BYTES), 'request body') : undefined) as Infer<BS>;
      const result = await handle({ req, db, principal, body, query, params });
      response = result instanceof Response ? result : jsonResponse(result);
    } catch (err) {
      const { status, body } = describeError(err, log);
      const headers: Record<string, string> = status === 401 ? { 'www-authenticate': 'Bearer realm="proxyshard"' } : {};
      response = jsonResponse(body, { status, headers });
      if (status < 500) log.debug({ route: def.route, method: def.method, status, code: body.error.code }, 'request refused');
    }
    recordHttpRequest(def.method, def.route, response.status, Number(process.hrtime.bigint() - started) / 1e9);
    return response;
  };
  return Object.assign(handler, { meta: { route: def.route, method: def.method, access, body: def.body !== undefined } });
}

/** An endpoint that needs a principal whose role allows `permission`. */
export function apiRoute<BS extends z.ZodType | undefined = undefined, QS extends z.ZodType | undefined = undefined>(
  def: RouteDef<BS, QS> & {
    permission: Action;
    handle: (ctx: HandlerContext<Infer<BS>, Infer<QS>, Principal>) => Promise<unknown>;
  },
): RouteHandler {
  return build(
    def,
    def.permission,
    (principal) => {
      if (!principal) throw unauthenticated();
      requirePermission(principal, def.permission);
      return principal;
    },
    def.handle,
  );
}

/** An endpoint anyone may call (sign-in, sign-out); the principal is passed when the caller has one. */
export function publicApiRoute<BS extends z.ZodType | undefined = undefined, QS extends z.ZodType | undefined = undefined>(
  def: RouteDef<BS, QS> & { handle: (ctx: HandlerContext<Infer<BS>, Infer<QS>, Principal | null>) => Promise<unknown> },
): RouteHandler {
  return build(def, 'public', (p) => p, def.handle);
}

/** A non-API endpoint (healthz, metrics): counted in metrics, errors mapped, nothing else. */
export function plainRoute(route: string, method: HttpMethod, handle: (req: Request) => Promise<Response>): RouteHandler {
  const handler = async (req: Request): Promise<Response> => {
    const started = process.hrtime.bigint();
    let response: Response;
    try {
      response = await handle(req);
    } catch (err) {
      const { status, body } = describeError(err, getLogger());
      response = jsonResponse(body, { status });
    }
    recordHttpRequest(method, route, response.status, Number(process.hrtime.bigint() - started) / 1e9);
    return response;
  };
  return Object.assign(handler, { meta: { route, method, access: 'public' as const, body: false } });
}
