import { RevisionsQuerySchema } from '@/contracts/api-v1.schema';
import { CreateRevisionBodySchema } from '@/contracts/route-graph-api.schema';
import { apiRoute, jsonResponse } from '@/server/http/api-route';
import { listTenantRevisions } from '@/server/services/revision-read.service';
import { createRevision, revisionCaller } from '@/server/services/revision.service';

export const GET = apiRoute({
  route: '/api/v1/revisions',
  method: 'GET',
  permission: 'revisions.read',
  query: RevisionsQuerySchema,
  handle: ({ db, principal, query }) => listTenantRevisions(db, principal, query),
});

export const POST = apiRoute({
  route: '/api/v1/revisions',
  method: 'POST',
  permission: 'revisions.write',
  body: CreateRevisionBodySchema,
  handle: async ({ db, principal, body }) =>
    jsonResponse({ revision: await createRevision(db, revisionCaller(principal, 'revisions.write'), body) }, { status: 201 }),
});
