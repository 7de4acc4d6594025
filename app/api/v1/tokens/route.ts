import { CreateTokenBodySchema, ListTokensQuerySchema } from '@/contracts/api-v1.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { createToken, listTokens } from '@/server/services/token.service';

export const GET = apiRoute({
  route: '/api/v1/tokens',
  method: 'GET',
  permission: 'tokens.read',
  query: ListTokensQuerySchema,
  handle: async ({ db, principal, query }) => ({ tokens: await listTokens(db, principal, { all: query.all === 'true' }) }),
});

/** Creates a token for the caller in the current tenant; the response is the only time `secret` is shown. */
export const POST = apiRoute({
  route: '/api/v1/tokens',
  method: 'POST',
  permission: 'tokens.create',
  body: CreateTokenBodySchema,
  handle: async ({ db, principal, body }) => jsonResponse(await createToken(db, principal, body), { status: 201 }),
});
