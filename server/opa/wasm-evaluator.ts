/**
 * PolicyEvaluator (core/policy/ports.ts) on @open-policy-agent/opa-wasm. A loaded policy (Wasm instance +
 * its data document) is cached by the sha256 of its Wasm and the digest of its data, so hot paths (ext_authz)
 * never reload; the cache is bounded (least recently used out).
 *
 * Built-ins: opa-wasm implements many built-ins inside the Wasm module and some in JavaScript; `io.jwt.decode`
 * is neither (verified with opa-wasm 1.10: "not implemented: built-in function io.jwt.decode"), so it is
 * provided here with OPA's semantics: [header, payload, signature as hex]; a malformed token makes the call
 * undefined, as in OPA (non-strict built-in errors). `requiredBuiltins` lists what a module needs, so a
 * policy using a built-in nothing implements can be refused when it is created, not when a request arrives.
 */
import { createHash } from 'node:crypto';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import type { CompiledPolicyRef, PolicyEvaluator } from '../../core/policy/ports';

/** Built-ins we provide to the Wasm module in JavaScript. */
export const CUSTOM_BUILTINS: Record<string, (...args: unknown[]) => unknown> = {
  'io.jwt.decode': (token: unknown) => decodeJwt(token),
};

/** OPA's io.jwt.decode: [header, payload, signature hex], or undefined for a malformed token. */
export function decodeJwt(token: unknown): [unknown, unknown, string] | undefined {
  if (typeof token !== 'string') return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, p, s] = parts as [string, string, string];
  const b64url = /^[A-Za-z0-9_-]*={0,2}$/;
  if (!b64url.test(h) || !b64url.test(p) || !b64url.test(s)) return undefined;
  try {
    const header: unknown = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    if (typeof header !== 'object' || header === null || Array.isArray(header)) return undefined;
    // A nested JWT (cty: JWT) decodes its payload again, as OPA does.
    if ((header as { cty?: unknown }).cty === 'JWT') {
      return decodeJwt(Buffer.from(p, 'base64url').toString('utf8'));
    }
    const payload: unknown = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
    return [header, payload, Buffer.from(s, 'base64url').toString('hex')];
  } catch {
    return undefined;
  }
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The parts of opa-wasm 1.10's LoadedPolicy (src/opa.js) the fast path below uses. */
interface LoadedPolicyInternals {
  minorVersion: number;
  mem: WebAssembly.Memory;
  wasmInstance: WebAssembly.Instance;
  dataAddr: number;
  dataHeapPtr: number;
  entrypoints: Record<string, number>;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();
const WASM_PAGE = 64 * 1024;
/** Result sets common enough to skip TextDecoder + JSON.parse (what opa_eval writes, byte for byte). */
const COMMON_RESULT_SETS: { bytes: Uint8Array; value: () => unknown }[] = [
  { bytes: utf8Encoder.encode('[{"result":true}]'), value: () => [{ result: true }] },
  { bytes: utf8Encoder.encode('[{"result":false}]'), value: () => [{ result: false }] },
  { bytes: utf8Encoder.encode('[]'), value: () => [] },
];

const views = new WeakMap<LoadedPolicy, { exports: Record<string, (...a: number[]) => number>; view: Uint8Array }>();

/**
 * LoadedPolicy.evaluate without its copies: opa-wasm stringifies the input, encodes it into a fresh
 * Uint8Array, copies that into the module's memory and decodes + parses the result set every time. Here the
 * JSON text is encoded straight into the module's memory (TextEncoder.encodeInto) at the same place
 * (`dataHeapPtr`, ABI 1.2's opa_eval), and the few common result sets are recognised by their bytes. Same
 * inputs, same calls into the module, same result set; modules older than ABI 1.2 take opa-wasm's own path.
 * wasm-evaluator.test.ts and the differential test (test/policy-differential.test.ts) hold it to `opa eval`.
 */
function evaluateResultSet(policy: LoadedPolicy, entrypoint: string, input: unknown): unknown {
  const p = policy as unknown as LoadedPolicyInternals;
  if (!(p.minorVersion >= 2) || typeof p.dataHeapPtr !== 'number') return policy.evaluate(input, entrypoint);
  if (!Object.prototype.hasOwnProperty.call(p.entrypoints, entrypoint)) throw new Error(`entrypoint ${entrypoint} is not valid in this instance`);
  const id = p.entrypoints[entrypoint]!;
  let state = views.get(policy);
  if (state === undefined) {
    state = { exports: p.wasmInstance.exports as Record<string, (...a: number[]) => number>, view: new Uint8Array(p.mem.buffer) };
    views.set(policy, state);
  }
  const addr = p.dataHeapPtr;
  let len = 0;
  // As opa-wasm: a falsy input is no input.
  if (input) {
    const json = JSON.stringify(input);
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    const missing = addr + json.length * 3 - p.mem.buffer.byteLength;
    if (missing > 0) p.mem.grow(Math.ceil(missing / WASM_PAGE));
    if (state.view.buffer !== p.mem.buffer) state.view = new Uint8Array(p.mem.buffer);
    len = utf8Encoder.encodeInto(json, state.view.subarray(addr)).written;
  }
  const ret = state.exports.opa_eval!(0, id, p.dataAddr, len === 0 ? 0 : addr, len, addr + len, 0);
  // opa_eval may have grown the memory.
  if (state.view.buffer !== p.mem.buffer) state.view = new Uint8Array(p.mem.buffer);
  const view = state.view;
  let end = ret;
  while (view[end] !== 0) end += 1;
  for (const common of COMMON_RESULT_SETS) {
    if (sameBytes(view, ret, end, common.bytes)) return common.value();
  }
  return JSON.parse(utf8Decoder.decode(view.subarray(ret, end)));
}

function sameBytes(view: Uint8Array, start: number, end: number, bytes: Uint8Array): boolean {
  if (end - start !== bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (view[start + i] !== bytes[i]) return false;
  return true;
}

export interface WasmEvaluatorOptions {
  /** Loaded policies kept; default 64. */
  maxPolicies?: number;
}

export interface WasmEvaluator extends PolicyEvaluator {
  /** The loaded policy for `ref`, loading it (and setting its data) if needed. */
  load(ref: CompiledPolicyRef): Promise<LoadedPolicy>;
  /** Synchronous evaluation of an already loaded policy (hot path). */
  evaluateLoaded(policy: LoadedPolicy, entrypoint: string, input: unknown): unknown;
  size(): number;
}

export function createWasmEvaluator(opts: WasmEvaluatorOptions = {}): WasmEvaluator {
  const max = opts.maxPolicies ?? 64;
  const cache = new Map<string, Promise<LoadedPolicy>>();

  const load = (ref: CompiledPolicyRef): Promise<LoadedPolicy> => {
    const key = `${ref.wasmSha256}:${sha256Hex(JSON.stringify(ref.data ?? {}))}`;
    let entry = cache.get(key);
    if (entry !== undefined) {
      cache.delete(key);
      cache.set(key, entry);
      return entry;
    }
    entry = (async () => {
      const actual = sha256Hex(ref.wasm);
      if (actual !== ref.wasmSha256) throw new Error(`policy wasm sha256 mismatch: expected ${ref.wasmSha256}, got ${actual}`);
      const policy = await loadPolicy(ref.wasm as Uint8Array<ArrayBuffer>, undefined, CUSTOM_BUILTINS);
      policy.setData((ref.data ?? {}) as object);
      return policy;
    })();
    entry.catch(() => cache.delete(key));
    cache.set(key, entry);
    while (cache.size > max) cache.delete(cache.keys().next().value!);
    return entry;
  };

  const evaluateLoaded = (policy: LoadedPolicy, entrypoint: string, input: unknown): unknown => {
    const rs = evaluateResultSet(policy, entrypoint, input) as { result?: unknown }[] | undefined;
    // A result set: [] when the rule is undefined, [{ result }] otherwise.
    if (!Array.isArray(rs) || rs.length === 0) return undefined;
    return rs[0]?.result;
  };

  return {
    load,
    evaluateLoaded,
    size: () => cache.size,
    evaluate: async (ref, entrypoint, input) => evaluateLoaded(await load(ref), entrypoint, input),
  };
}

/**
 * The built-ins a compiled module imports from its host (names), read from the module's `builtins` export.
 * Those not implemented by opa-wasm's JavaScript built-ins or CUSTOM_BUILTINS fail at evaluation time.
 */
export async function requiredBuiltins(wasm: Uint8Array): Promise<string[]> {
  const policy = await loadPolicy(wasm as Uint8Array<ArrayBuffer>, undefined, CUSTOM_BUILTINS);
  const exports = (policy as unknown as { wasmInstance: WebAssembly.Instance }).wasmInstance.exports as Record<string, (...a: number[]) => number>;
  const mem = (policy as unknown as { mem: WebAssembly.Memory }).mem;
  const addr = exports.opa_json_dump!(exports.builtins!());
  const bytes = new Uint8Array(mem.buffer);
  let end = addr;
  while (bytes[end] !== 0) end += 1;
  const parsed = JSON.parse(Buffer.from(bytes.subarray(addr, end)).toString('utf8')) as Record<string, number>;
  return Object.keys(parsed).sort();
}

/**
 * The built-ins opa-wasm 1.10 implements in JavaScript (its src/builtins table). The package's `exports`
 * hide that file, and resolving it by path breaks once Next.js bundles this module for route handlers, so the
 * names are listed here; wasm-evaluator.test.ts compares the list with the installed package, so an upgrade
 * that changes the table fails that test instead of silently refusing (or admitting) policies.
 */
export const OPA_WASM_JS_BUILTINS: readonly string[] = ['json.is_valid', 'regex.split', 'sprintf', 'yaml.is_valid', 'yaml.marshal', 'yaml.unmarshal'];

/** Built-ins the evaluator can run that the Wasm module itself does not implement. */
export function hostBuiltinNames(): Set<string> {
  return new Set([...OPA_WASM_JS_BUILTINS, ...Object.keys(CUSTOM_BUILTINS)]);
}
