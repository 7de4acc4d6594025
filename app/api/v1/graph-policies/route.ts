import { GraphPolicyStatusQuerySchema } from '@/contracts/policy.schema';
import { getEnv } from '@/server/env';
import { apiRoute } from '@/server/http/api-route';
import { getGraphPolicyStatus } from '@/server/services/graph-policies.service';

/**
 * What the graph editor draws beside the route graph: the tenant's request policies with their sampled
 * allowed/denied decision counts, and its XDP rule sets (desired and newer unpublished versions per node
 * group) with the counters the agents report.
 */
export const GET = apiRoute({
  route: '/api/v1/graph-policies',
  method: 'GET',
  permission: 'policies.read',
  query: GraphPolicyStatusQuerySchema,
  handle: async ({ db, principal, query }) => getGraphPolicyStatus(db, principal, { ...query, decisionLogSampleRate: getEnv().EXTAUTHZ_DECISION_LOG_SAMPLE_RATE }),
});
