/**
 * `validateRouteGraph(input)`: RouteGraphSchema (zod) plus the semantic rules of core/route-graph/validate.ts
 * (references, duplicates, port clashes, RE2 regexes, weights, …), every issue with a field path like
 * `routes[3].action.clusters[1].weight`. Lives here because core/ does not import zod.
 */
import { validateRouteGraphWith, type ValidationResult } from '../core/route-graph/validate';
import { RouteGraphSchema } from './route-graph.schema';

export type { ValidationIssue, ValidationResult } from '../core/route-graph/validate';

export function validateRouteGraph(input: unknown): ValidationResult {
  return validateRouteGraphWith(RouteGraphSchema, input);
}
