/**
 * The audit hash formula, pinned: hash = sha256hex(prevHash + canonicalJson(fields)).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { GENESIS_HASH, auditHashPayload, computeAuditHash, type HashedAuditFields } from './audit.service';
import { canonicalJson, digestJson, toPlainJson } from './canonical-json';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

const entry: HashedAuditFields = {
  tenantId: '0b9f6c9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b',
  seq: 1,
  at: new Date('2026-01-02T03:04:05.678Z'),
  actorType: 'user',
  actorId: 'u-1',
  actorName: 'alice',
  action: 'token.create',
  targetType: 'api_token',
  targetId: 't-1',
  beforeDigest: null,
  afterDigest: 'ab',
  details: { name: 'ci', flags: [true, null, 1.5] },
};

test('the hashed payload is the canonical JSON of the entry fields, keys sorted, at as ISO string', () => {
  assert.equal(
    auditHashPayload(entry),
    '{"action":"token.create","actorId":"u-1","actorName":"alice","actorType":"user","afterDigest":"ab",' +
      '"at":"2026-01-02T03:04:05.678Z","beforeDigest":null,"details":{"flags":[true,null,1.5],"name":"ci"},' +
      '"seq":1,"targetId":"t-1","targetType":"api_token","tenantId":"0b9f6c9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"}',
  );
});

test('hash = sha256hex(prevHash + payload); the genesis prevHash is 64 zeros', () => {
  assert.equal(GENESIS_HASH, '0'.repeat(64));
  assert.equal(computeAuditHash(GENESIS_HASH, entry), sha256(GENESIS_HASH + auditHashPayload(entry)));
  const second = { ...entry, seq: 2 };
  const prev = computeAuditHash(GENESIS_HASH, entry);
  assert.equal(computeAuditHash(prev, second), sha256(prev + auditHashPayload(second)));
});

test('changing any single field, or the previous hash, changes the hash', () => {
  const base = computeAuditHash(GENESIS_HASH, entry);
  const changes: Partial<HashedAuditFields>[] = [
    { tenantId: 'other' },
    { seq: 2 },
    { at: new Date('2026-01-02T03:04:05.679Z') },
    { actorType: 'token' },
    { actorId: 'u-2' },
    { actorName: 'mallory' },
    { action: 'token.revoke' },
    { targetType: 'user' },
    { targetId: 't-2' },
    { beforeDigest: 'cd' },
    { afterDigest: null },
    { details: { name: 'ci', flags: [true, null, 1.5], extra: 0 } },
  ];
  for (const change of changes) assert.notEqual(computeAuditHash(GENESIS_HASH, { ...entry, ...change }), base, JSON.stringify(change));
  assert.notEqual(computeAuditHash('1'.repeat(64), entry), base);
});

test('key order does not matter (jsonb reorders keys on the way back)', () => {
  const reordered = { ...entry, details: { name: 'ci', flags: [true, null, 1.5] } };
  const swapped = { ...entry, details: Object.fromEntries(Object.entries(reordered.details as object).reverse()) };
  assert.equal(computeAuditHash(GENESIS_HASH, swapped as HashedAuditFields), computeAuditHash(GENESIS_HASH, entry));
});

test('canonical JSON: sorted keys, no whitespace, undefined dropped, non-finite numbers refused', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, 'x'], c: undefined } }), '{"a":{"d":[1,"x"]},"b":1}');
  assert.equal(canonicalJson([undefined]), '[null]');
  assert.equal(canonicalJson('é"\n'), JSON.stringify('é"\n'));
  assert.throws(() => canonicalJson({ n: Number.NaN }), /cannot represent/);
  assert.throws(() => canonicalJson({ n: Infinity }), /cannot represent/);
  assert.equal(digestJson({ a: 1, b: 2 }), digestJson({ b: 2, a: 1 }));
  assert.deepEqual(toPlainJson({ at: new Date('2026-01-01T00:00:00.000Z'), gone: undefined }), { at: '2026-01-01T00:00:00.000Z' });
});
