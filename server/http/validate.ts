/**
 * zod results as AppError issues with readable field paths (`routes[3].weightedClusters[1].weight`).
 */
import type { z } from 'zod';
import { AppError, type Issue } from '../errors';

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** One issue per problem; an unknown key becomes its own issue at its own path. */
export function toIssues(error: z.ZodError): Issue[] {
  const issues: Issue[] = [];
  for (const i of error.issues) {
    if (i.code === 'unrecognized_keys') {
      for (const key of i.keys) issues.push({ path: formatPath([...i.path, key]), message: 'unknown field' });
    } else if (i.code === 'invalid_type' && /received undefined$/.test(i.message)) {
      issues.push({ path: formatPath(i.path), message: `required (${i.expected})` });
    } else {
      issues.push({ path: formatPath(i.path), message: i.message });
    }
  }
  return issues;
}

/** The first five issues, unknown fields first (a misspelt field explains the "required" issue next to it). */
function summarise(issues: Issue[]): string {
  const ordered = [...issues.filter((i) => i.message === 'unknown field'), ...issues.filter((i) => i.message !== 'unknown field')];
  const shown = ordered.slice(0, 5).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  return shown.join('; ') + (issues.length > 5 ? `; and ${issues.length - 5} more` : '');
}

/** The parsed value, or a `bad_request` AppError whose issues name each field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = toIssues(result.error);
  throw new AppError('bad_request', `invalid ${what}: ${summarise(issues)}`, issues);
}

/** Query parameters as an object (a repeated name keeps its first value) for parseInput. */
export function queryObject(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of params) if (!(k in out)) out[k] = v;
  return out;
}
