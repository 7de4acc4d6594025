import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { checkRe2Syntax } from './re2-syntax';

const VALID = [
  '',
  'abc',
  '^/items/[0-9]+$',
  '(?i)abc',
  '(?i:abc)|(?-s:x.)',
  '(?P<id>\\d+)/(?P<rest>.*)',
  '(?<id>\\d+)',
  '\\Aabc\\z',
  '\\bword\\B',
  '[[:alpha:]][[:^digit:]]',
  '\\pL\\p{Greek}\\PN\\p{^Lu}',
  '[\\p{L}\\d_-]+',
  '\\x41\\x{1F600}\\101\\0',
  '\\Q.*+?\\E',
  'a{2}b{2,}c{2,5}d{0}',
  'a{,5}', // not a repetition: literal "{,5}"
  'x*?y+?z??',
  '[]a]',
  '[^]a]',
  '[a-]',
  '\\.\\*\\/\\-\\_',
  '^$',
  '(a|b|)',
  'caf\u00e9|\ud83d\ude00',
];

const INVALID: [string, RegExp][] = [
  ['(?=x)', /unsupported Perl syntax/],
  ['(?!x)', /unsupported Perl syntax/],
  ['(?<=x)y', /unsupported Perl syntax/],
  ['(?<!x)y', /unsupported Perl syntax/],
  ['(a)\\1', /invalid escape sequence/],
  ['\\k<name>', /invalid escape sequence/],
  ['\\u0041', /invalid escape sequence/],
  ['\\e', /invalid escape sequence/],
  ['\\Z', /invalid escape sequence/],
  ['\\8', /invalid escape sequence/],
  ['abc\\', /trailing \\/],
  ['(abc', /missing \)/],
  ['abc)', /unexpected \)/],
  ['[abc', /missing closing \]/],
  ['[z-a]', /invalid character class range/],
  ['[[:nope:]]', /invalid character class range/],
  ['\\p{Nope}', /invalid character class range/],
  ['*a', /missing argument to repetition operator/],
  ['a|*', /missing argument to repetition operator/],
  ['a**', /bad repetition operator/],
  ['a++', /bad repetition operator/],
  ['a{1001}', /bad repetition operator/],
  ['a{5,2}', /bad repetition operator/],
  ['(a{100}){100}', /bad repetition operator/],
  ['(?P<n>a)(?P<n>b)', /duplicate capture group name/],
  ['(?P<>a)', /invalid named capture group/],
  ['(?P=n)', /invalid named capture group|unsupported Perl syntax/],
  ['(?x)a', /unsupported Perl syntax/],
  ['(?i-)a', /unsupported Perl syntax/],
  ['[\\b]', /invalid escape sequence/],
  ['\\x{110000}', /invalid escape sequence/],
  ['\\xZZ', /invalid escape sequence/],
  ['lone \ud800 surrogate', /invalid UTF-8/],
];

describe('checkRe2Syntax', () => {
  for (const pattern of VALID) {
    it(`accepts ${JSON.stringify(pattern)}`, () => assert.equal(checkRe2Syntax(pattern), undefined));
  }
  for (const [pattern, message] of INVALID) {
    it(`rejects ${JSON.stringify(pattern)}`, () => {
      const problem = checkRe2Syntax(pattern);
      assert.ok(problem !== undefined, 'expected a syntax error');
      assert.match(problem, message);
    });
  }

  // Cross-check with the real RE2 (compiled to Wasm; it ships with @grpc/grpc-js-xds). Its JS wrapper rewrites
  // \u, \c and (?< before handing the pattern to RE2, so those patterns are left out; its RE2 is from 2021.
  it('agrees with RE2 itself (re2-wasm) on every table entry it can judge', () => {
    const require = createRequire(import.meta.url);
    const { RE2 } = require('re2-wasm') as { RE2: new (pattern: string, flags: string) => unknown };
    const judgeable = (p: string) => !/\\u|\\c|\(\?</.test(p) && !/[\ud800-\udfff]/.test(p) && !p.includes('/');
    const disagreements: string[] = [];
    for (const pattern of [...VALID, ...INVALID.map(([p]) => p)].filter(judgeable)) {
      let re2Ok = true;
      try {
        new RE2(pattern, 'u');
      } catch {
        re2Ok = false;
      }
      const oursOk = checkRe2Syntax(pattern) === undefined;
      if (re2Ok !== oursOk) disagreements.push(`${JSON.stringify(pattern)}: RE2 ${re2Ok ? 'accepts' : 'rejects'}, we ${oursOk ? 'accept' : 'reject'}`);
    }
    assert.deepEqual(disagreements, []);
  });
});
