/**
 * How ProxyShard calls a tenant's Rego. Every policy version is compiled to its own Wasm module, so all
 * policies of a kind share one package name:
 *
 *   admission — `package proxyshard.admission`, evaluated on every proposed revision with
 *     input = { revision, diff, actor, tenant }  (core/policy/admission.ts builds it)
 *     deny             — a set of reasons (strings, or objects with `msg`); any reason refuses the revision
 *     require_approval — a set of reasons; any reason marks the revision as needing an approval
 *   Both rules are optional: an undefined rule counts as the empty set.
 *
 *   request — `package proxyshard.request`, evaluated by the ext_authz server for each request on a route
 *     bound to the policy, with an input shaped like the OPA-Envoy plugin's (core/policy/request.ts):
 *     input.attributes.request.http.{method, path, host, scheme, protocol, headers, …}, input.parsed_path,
 *     input.parsed_query, input.attributes.{source, destination}.address.socketAddress.{address, portValue},
 *     input.attributes.contextExtensions (policy, route, virtual_host).
 *     allow — a boolean, or an object { allowed, headers, response_headers_to_add, request_headers_to_remove,
 *             http_status, body } (OPA-Envoy's shape); undefined = deny.
 *
 * The policy's data document is the root of `data` (data.allowlist, data.limits, …); `io.jwt.decode` works in
 * Wasm (provided by the evaluator).
 */
export type PolicyKind = 'admission' | 'request';

export const ADMISSION_PACKAGE = 'proxyshard.admission';
export const REQUEST_PACKAGE = 'proxyshard.request';

export const ADMISSION_DENY_ENTRYPOINT = 'proxyshard/admission/deny';
export const ADMISSION_APPROVAL_ENTRYPOINT = 'proxyshard/admission/require_approval';
export const REQUEST_ALLOW_ENTRYPOINT = 'proxyshard/request/allow';

export function packageOfKind(kind: PolicyKind): string {
  return kind === 'admission' ? ADMISSION_PACKAGE : REQUEST_PACKAGE;
}

export function entrypointsOfKind(kind: PolicyKind): string[] {
  return kind === 'admission' ? [ADMISSION_DENY_ENTRYPOINT, ADMISSION_APPROVAL_ENTRYPOINT] : [REQUEST_ALLOW_ENTRYPOINT];
}

/** The package a module declares (first `package` line), or undefined. */
export function declaredPackage(source: string): string | undefined {
  const m = /^[ \t]*package[ \t]+([A-Za-z_][\w.]*)/m.exec(source);
  return m?.[1];
}

/** Test modules: file name ending in _test.rego (as `opa test` conventions go). */
export function isTestModule(file: string): boolean {
  return /_test\.rego$/.test(file);
}
