/**
 * The published JSON Schema of the declarative route-graph file stays in sync with RouteGraphSchema, and
 * describes what the validator accepts (a fixture graph has only properties the schema lists).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { routeGraphJsonSchema, routeGraphJsonSchemaText } from '../contracts/route-graph.json-schema';
import { repoRoot } from '../server/env';

describe('contracts/route-graph.json-schema.json', () => {
  it('equals the schema generated from RouteGraphSchema (regenerate: tsx scripts/gen-route-graph-json-schema.ts)', () => {
    const file = readFileSync(join(repoRoot, 'contracts', 'route-graph.json-schema.json'), 'utf8');
    assert.equal(file, routeGraphJsonSchemaText());
  });

  it('describes the top-level objects, strictly, with defaults optional', () => {
    const s = routeGraphJsonSchema() as { properties: Record<string, unknown>; additionalProperties: boolean; required?: string[] };
    assert.deepEqual(Object.keys(s.properties).sort(), ['clusters', 'listeners', 'nodeGroups', 'routes', 'virtualHosts']);
    assert.equal(s.additionalProperties, false);
    assert.deepEqual(s.required ?? [], []);
  });
});
