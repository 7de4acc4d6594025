/**
 * Differential test: for 300 generated requests, the decision of our Wasm evaluation (opa build -t wasm +
 * @open-policy-agent/opa-wasm + our io.jwt.decode) equals `opa eval` on the same policy, data and input.
 * One `opa eval` evaluates all inputs: a wrapper rule maps the policy over data.__difftest_cases with
 * `with input as …`. The inputs go through buildRequestInput (the ext_authz server's input builder).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REQUEST_ALLOW_ENTRYPOINT } from '../core/policy/conventions';
import { buildRequestInput, type CheckRequestLike } from '../core/policy/request';
import { createOpaCli } from '../server/opa/opa-cli.adapter';
import { createWasmEvaluator, sha256Hex } from '../server/opa/wasm-evaluator';

const POLICY = `package proxyshard.request

claims := payload if {
	auth := input.attributes.request.http.headers.authorization
	startswith(auth, "Bearer ")
	[_, payload, _] := io.jwt.decode(substring(auth, 7, -1))
}

method := input.attributes.request.http.method

default user := "anonymous"

user := claims.sub

expired if claims.exp < 1000

permitted if {
	method == "GET"
	input.parsed_path[0] == "public"
}

permitted if {
	claims.role in data.admin_roles
	not expired
}

permitted if {
	some t in input.parsed_query.token
	t == data.magic
}

permitted if {
	regex.match("^10\\\\.", input.attributes.source.address.socketAddress.address)
	startswith(input.attributes.request.http.path, "/internal")
}

permitted if lower(input.attributes.request.http.headers["x-team"]) in data.teams

permitted if {
	count(input.parsed_path) > 3
	input.parsed_path[3] == "ok"
}

status := 405 if method == "DELETE"
else := 401 if not claims
else := 403

allow := {"allowed": true, "headers": {"x-user": user}} if {
	permitted
} else := {"allowed": false, "http_status": status, "body": sprintf("%s %s denied", [method, input.attributes.request.http.path])}
`;

const WRAPPER = `package difftest

results := {sprintf("%d", [i]): r |
	some i, c in data.__difftest_cases
	r := data.proxyshard.request.allow with input as c
}
`;

const DATA = { admin_roles: ['admin', 'root'], teams: ['payments', 'search'], magic: 's3cr3t' };

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

function generate(n: number): CheckRequestLike[] {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'];
  const segments = ['public', 'api', 'internal', 'v1', 'ok', 'users', 'a%20b', 'caf%C3%A9', '', 'x'];
  const out: CheckRequestLike[] = [];
  for (let i = 0; i < n; i++) {
    const depth = 1 + Math.floor(r() * 5);
    let p = '';
    for (let d = 0; d < depth; d++) p += `/${pick(segments)}`;
    const q = r();
    if (q < 0.2) p += `?token=${pick(['s3cr3t', 'nope', ''])}`;
    else if (q < 0.3) p += `?token=a&token=${pick(['s3cr3t', 'b'])}&x`;
    else if (q < 0.35) p += '?a=1+2&b=%41';
    const headers: Record<string, string> = { ':authority': 'example.com', 'user-agent': 'difftest' };
    const h = r();
    if (h < 0.25) headers['x-team'] = pick(['Payments', 'search', 'SEARCH', 'marketing', '']);
    const a = r();
    if (a < 0.45) {
      const claims: Record<string, unknown> = { sub: pick(['alice', 'bob', 'carol']), role: pick(['admin', 'root', 'dev', 'viewer']) };
      if (r() < 0.3) claims.exp = pick([10, 999, 1000, 5000]);
      headers.authorization = `Bearer ${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}.${b64('sig')}`;
    } else if (a < 0.55) {
      headers.authorization = pick(['Bearer garbage', 'Bearer a.b.c', 'Basic dXNlcjpwYXNz', `Bearer ${b64([1])}.${b64({})}.x`, 'Bearer ']);
    }
    out.push({
      attributes: {
        source: { address: { socket_address: { address: pick(['10.1.2.3', '192.168.0.7', '10.0.0.1', '127.0.0.1']), port_value: 1000 + i } } },
        destination: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } },
        request: { http: { id: String(i), method: pick(methods), path: p, host: 'example.com', scheme: 'http', protocol: 'HTTP/1.1', headers } },
        context_extensions: { policy: 'diff', route: 'r' },
      },
    });
  }
  return out;
}

describe('differential: Wasm evaluation vs opa eval', () => {
  it('gives the same decision for 300 generated inputs', async () => {
    const opa = createOpaCli({ timeoutMs: 60_000 });
    const built = await opa.build([{ file: 'policy.rego', source: POLICY }], [REQUEST_ALLOW_ENTRYPOINT]);
    assert.ok(built.ok, JSON.stringify(built));
    const inputs = generate(300).map(buildRequestInput);

    const evaluator = createWasmEvaluator();
    const ref = { wasm: built.wasm, wasmSha256: sha256Hex(built.wasm), data: DATA };
    const ours: unknown[] = [];
    for (const input of inputs) ours.push(await evaluator.evaluate(ref, REQUEST_ALLOW_ENTRYPOINT, input));

    const dir = await mkdtemp(path.join(tmpdir(), 'ps-difftest-'));
    let theirs: Record<string, unknown>;
    try {
      await writeFile(path.join(dir, 'policy.rego'), POLICY);
      await writeFile(path.join(dir, 'wrapper.rego'), WRAPPER);
      await writeFile(path.join(dir, 'data.json'), JSON.stringify({ ...DATA, __difftest_cases: inputs }));
      const r = await opa.run(['eval', '--format', 'json', '-d', 'policy.rego', '-d', 'wrapper.rego', '-d', 'data.json', 'data.difftest.results'], dir, 60_000);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { result: { expressions: { value: Record<string, unknown> }[] }[] };
      theirs = out.result[0]!.expressions[0]!.value;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    let allowed = 0;
    const mismatches: string[] = [];
    inputs.forEach((input, i) => {
      const expected = theirs[String(i)];
      if (JSON.stringify(ours[i]) !== JSON.stringify(expected)) {
        mismatches.push(`#${i} ${input.attributes.request.http.method} ${input.attributes.request.http.path}: wasm=${JSON.stringify(ours[i])} opa=${JSON.stringify(expected)}`);
      }
      if ((expected as { allowed?: boolean } | undefined)?.allowed === true) allowed += 1;
    });
    assert.deepEqual(mismatches, []);
    assert.equal(Object.keys(theirs).length, 300, 'opa eval decided every input');
    // The generator exercises both outcomes and every deny status.
    assert.ok(allowed > 30 && allowed < 270, `allowed ${allowed} of 300`);
    const statuses = new Set(Object.values(theirs).map((v) => (v as { http_status?: number }).http_status));
    assert.deepEqual([...statuses].filter((s) => s !== undefined).sort(), [401, 403, 405]);
  });
});
