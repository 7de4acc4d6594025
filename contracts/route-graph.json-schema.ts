/**
 * The published JSON Schema of the declarative route-graph file (`apply -f graph.yaml|json`), generated from
 * RouteGraphSchema with zod's `z.toJSONSchema` (input side: fields with defaults are optional). The file
 * contracts/route-graph.json-schema.json is kept equal to `routeGraphJsonSchema()` by
 * test/revisions-json-schema.test.ts; regenerate it with `tsx scripts/gen-route-graph-json-schema.ts`.
 */
import { z } from 'zod';
import { RouteGraphSchema } from './route-graph.schema';

export const ROUTE_GRAPH_JSON_SCHEMA_ID = 'https://proxyshard.dev/schemas/route-graph.json';

export function routeGraphJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(RouteGraphSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { ...schema, $id: ROUTE_GRAPH_JSON_SCHEMA_ID, title: 'ProxyShard route graph' };
}

/** The file's exact text. */
export function routeGraphJsonSchemaText(): string {
  return `${JSON.stringify(routeGraphJsonSchema(), null, 2)}\n`;
}
