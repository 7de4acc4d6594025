/**
 * The OPA tooling adapter against the real `opa` CLI: diagnostics with file/row/col, fmt, per-test
 * results, Wasm build with entrypoints (evaluated with opa-wasm, including io.jwt.decode), timeouts, and
 * no temp dirs left behind.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { createOpaCli, parseDiagnostics } from '../server/opa/opa-cli.adapter';
import { createWasmEvaluator, decodeJwt, hostBuiltinNames, requiredBuiltins, sha256Hex } from '../server/opa/wasm-evaluator';

const opa = createOpaCli();

const GUARDRAIL = `package proxyshard.admission

deny contains msg if {
	some l in input.revision.listeners
	not l.tls
	msg := sprintf("listener %s must use TLS", [l.name])
}
`;

const GUARDRAIL_TESTS = `package proxyshard.admission

test_tls_listener_is_fine if {
	count(deny) == 0 with input as {"revision": {"listeners": [{"name": "a", "tls": {"certificate": "c"}}]}}
}

test_plain_listener_is_denied if {
	deny == {"listener a must use TLS"} with input as {"revision": {"listeners": [{"name": "a"}]}}
}

test_deliberately_wrong if {
	count(deny) == 0 with input as {"revision": {"listeners": [{"name": "a"}]}}
}
`;

const jwt = (claims: object) =>
  [{ alg: 'HS256', typ: 'JWT' }, claims].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.') + '.c2ln';

async function opaTempDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((n) => n.startsWith('ps-opa-'));
}

describe('opa CLI adapter', () => {
  it('reports parse errors with file, line and column', async () => {
    const r = await opa.check([{ file: 'guard.rego', source: 'package p\n\nallow if {\n  input.x ==\n}\n' }]);
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.deepEqual(r.diagnostics, [{ file: 'guard.rego', row: 5, col: 1, code: 'rego_parse_error', message: 'unexpected } token' }]);
  });

  it('reports type errors (unknown function) at the call', async () => {
    const r = await opa.check([{ file: 'p.rego', source: 'package p\n\nallow if { nope(1) }\n' }]);
    assert.ok(!r.ok);
    assert.equal(r.diagnostics.length, 1);
    assert.deepEqual({ ...r.diagnostics[0], message: undefined }, { file: 'p.rego', row: 3, col: 12, code: 'rego_type_error', message: undefined });
    assert.match(r.diagnostics[0]!.message, /undefined function nope/);
  });

  it('accepts a good module', async () => {
    assert.deepEqual(await opa.check([{ file: 'g.rego', source: GUARDRAIL }]), { ok: true });
  });

  it('formats, and reports where formatting failed', async () => {
    const ok = await opa.format({ file: 'a.rego', source: 'package a\nx:=1\n' });
    assert.deepEqual(ok, { ok: true, source: 'package a\n\nx := 1\n', changed: true });
    const same = await opa.format({ file: 'a.rego', source: 'package a\n\nx := 1\n' });
    assert.deepEqual(same, { ok: true, source: 'package a\n\nx := 1\n', changed: false });
    const bad = await opa.format({ file: 'b.rego', source: 'package b\n\nallow if {\n  input.x ==\n}\n' });
    assert.ok(!bad.ok);
    assert.equal(bad.diagnostics[0]!.file, 'b.rego');
    assert.ok(bad.diagnostics[0]!.row > 0 && bad.diagnostics[0]!.col > 0, JSON.stringify(bad.diagnostics));
  });

  it('runs tests and returns one result per test rule', async () => {
    const r = await opa.test([
      { file: 'guard.rego', source: GUARDRAIL },
      { file: 'guard_test.rego', source: GUARDRAIL_TESTS },
    ]);
    assert.ok(r.ok);
    const byName = Object.fromEntries(r.results.map((t) => [t.name, t]));
    assert.deepEqual(Object.keys(byName).sort(), ['test_deliberately_wrong', 'test_plain_listener_is_denied', 'test_tls_listener_is_fine']);
    assert.equal(byName.test_tls_listener_is_fine!.passed, true);
    assert.equal(byName.test_plain_listener_is_denied!.passed, true);
    assert.equal(byName.test_deliberately_wrong!.passed, false);
    assert.equal(byName.test_deliberately_wrong!.file, 'guard_test.rego');
    assert.equal(byName.test_deliberately_wrong!.row, 11);
    assert.equal(byName.test_deliberately_wrong!.package, 'data.proxyshard.admission');
  });

  it('gives tests the data document', async () => {
    const r = await opa.test(
      [{ file: 't_test.rego', source: 'package t\n\ntest_limit if { data.limits.max == 3 }\n' }],
      { limits: { max: 3 } },
    );
    assert.ok(r.ok);
    assert.deepEqual(r.results.map((t) => [t.name, t.passed]), [['test_limit', true]]);
  });

  it('reports compile errors of test runs as diagnostics', async () => {
    const r = await opa.test([{ file: 'x_test.rego', source: 'package x\n\ntest_a if { y }\n' }]);
    assert.ok(!r.ok);
    assert.equal(r.diagnostics[0]!.file, 'x_test.rego');
    assert.equal(r.diagnostics[0]!.row, 3);
  });

  it('builds Wasm with declared entrypoints that opa-wasm evaluates, io.jwt.decode included', async () => {
    const source = `package proxyshard.request

default allow := false

claims := payload if {
	[_, payload, _] := io.jwt.decode(bearer)
}

bearer := t if {
	v := input.attributes.request.http.headers.authorization
	startswith(v, "Bearer ")
	t := substring(v, count("Bearer "), -1)
}

allow if claims.role == data.roles.admin
`;
    const b = await opa.build([{ file: 'req.rego', source }], ['proxyshard/request/allow', 'proxyshard/request/claims']);
    assert.ok(b.ok, JSON.stringify(b));
    assert.deepEqual([...b.wasm.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d], 'a Wasm module');
    assert.deepEqual(b.entrypoints, ['proxyshard/request/allow', 'proxyshard/request/claims']);
    assert.deepEqual(await requiredBuiltins(b.wasm), ['io.jwt.decode']);
    assert.ok(hostBuiltinNames().has('io.jwt.decode'));

    const ev = createWasmEvaluator();
    const ref = { wasm: b.wasm, wasmSha256: sha256Hex(b.wasm), data: { roles: { admin: 'admin' } } };
    const req = (authorization?: string) => ({ attributes: { request: { http: { headers: authorization ? { authorization } : {} } } } });
    assert.deepEqual(await ev.evaluate(ref, 'proxyshard/request/claims', req(`Bearer ${jwt({ sub: 'alice', role: 'admin' })}`)), { sub: 'alice', role: 'admin' });
    assert.equal(await ev.evaluate(ref, 'proxyshard/request/allow', req(`Bearer ${jwt({ role: 'admin' })}`)), true);
    assert.equal(await ev.evaluate(ref, 'proxyshard/request/allow', req(`Bearer ${jwt({ role: 'dev' })}`)), false);
    assert.equal(await ev.evaluate(ref, 'proxyshard/request/allow', req('Bearer not.a.jwt')), false);
    assert.equal(await ev.evaluate(ref, 'proxyshard/request/claims', req('Bearer not.a.jwt')), undefined);
    assert.equal(await ev.evaluate(ref, 'proxyshard/request/allow', req()), false);
    // Same wasm, other data: another cache entry with its own data document.
    const other = { ...ref, data: { roles: { admin: 'dev' } } };
    assert.equal(await ev.evaluate(other, 'proxyshard/request/allow', req(`Bearer ${jwt({ role: 'dev' })}`)), true);
    assert.equal(ev.size(), 2);
    await assert.rejects(ev.evaluate({ ...ref, wasmSha256: '0'.repeat(64) }, 'proxyshard/request/allow', {}), /sha256 mismatch/);
  });

  it('refuses to build an unknown entrypoint', async () => {
    const b = await opa.build([{ file: 'a.rego', source: 'package a\n\nallow := true\n' }], ['a/nope']);
    assert.ok(!b.ok);
    assert.match(b.diagnostics[0]!.message, /entrypoint "a\/nope" does not refer to a rule/);
  });

  it('turns an overrun into a timeout diagnostic and kills opa', async () => {
    const slow = createOpaCli({ timeoutMs: 1 });
    const r = await slow.check([{ file: 'a.rego', source: GUARDRAIL }]);
    assert.ok(!r.ok);
    assert.equal(r.diagnostics[0]!.code, 'timeout');
  });

  it('leaves no temp dirs behind', async () => {
    const before = await opaTempDirs();
    await opa.check([{ file: 'a.rego', source: 'package a\n\nx := \n' }]);
    await opa.build([{ file: 'a.rego', source: GUARDRAIL }], ['proxyshard/admission/deny']);
    assert.deepEqual(await opaTempDirs(), before);
  });
});

describe('diagnostics parsing and JWT decoding', () => {
  it('parses the text form when there is no JSON', () => {
    assert.deepEqual(parseDiagnostics('error: load error: 1 error occurred during loading: bad.rego:5: rego_parse_error: unexpected } token\n'), [
      { file: 'bad.rego', row: 5, col: 0, code: 'rego_parse_error', message: 'unexpected } token' },
    ]);
    assert.deepEqual(parseDiagnostics('error: something else'), [{ file: '', row: 0, col: 0, code: 'error', message: 'something else' }]);
  });

  it('decodes like io.jwt.decode', () => {
    const [h, p, s] = decodeJwt(jwt({ a: 1 }))!;
    assert.deepEqual([h, p, s], [{ alg: 'HS256', typ: 'JWT' }, { a: 1 }, Buffer.from('sig').toString('hex')]);
    assert.equal(decodeJwt('a.b'), undefined);
    assert.equal(decodeJwt(`${Buffer.from('[1]').toString('base64url')}.e30.`), undefined);
    assert.equal(decodeJwt(42), undefined);
  });
});
