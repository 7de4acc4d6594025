/**
 * Canonical JSON: object keys sorted by UTF-16 code unit order (JavaScript's default sort), no whitespace,
 * strings and numbers as JSON.stringify writes them, properties whose value is undefined left out (as
 * JSON.stringify does). The same value always gives the same text, whatever order its keys were built in,
 * which makes it suitable for hashing.
 */
import { createHash } from 'node:crypto';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot represent ${value}`);
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
      const toJSON = (value as { toJSON?: () => unknown }).toJSON;
      if (typeof toJSON === 'function') return canonicalJson(toJSON.call(value));
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined && typeof v !== 'function')
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot represent a ${typeof value}`);
  }
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** SHA-256 (hex) of the canonical JSON of `value`. */
export function digestJson(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/** `value` as plain JSON (Dates become ISO strings, undefined properties disappear): what a jsonb column stores. */
export function toPlainJson(value: unknown): Json {
  if (value === undefined) return null;
  return JSON.parse(canonicalJson(value)) as Json;
}
