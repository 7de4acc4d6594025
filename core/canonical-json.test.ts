import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from './canonical-json';

test('key order does not change the canonical form', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'z' } }), '{"a":{"c":"z","d":[1,{"x":1,"y":2}]},"b":1}');
  assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
});

test('undefined members are dropped, values keep their types', () => {
  assert.equal(canonicalJson({ a: undefined, b: null, c: '1', d: 1 }), '{"b":null,"c":"1","d":1}');
  assert.notEqual(canonicalJson({ a: '1' }), canonicalJson({ a: 1 }));
});
