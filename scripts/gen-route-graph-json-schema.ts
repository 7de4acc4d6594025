/** Writes contracts/route-graph.json-schema.json from RouteGraphSchema (see contracts/route-graph.json-schema.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { routeGraphJsonSchemaText } from '../contracts/route-graph.json-schema';
import { repoRoot } from '../server/env';

const file = join(repoRoot, 'contracts', 'route-graph.json-schema.json');
writeFileSync(file, routeGraphJsonSchemaText());
console.log(`wrote ${file}`);
