/**
 * Rego for Monaco: a Monarch tokenizer (keywords, built-in namespaces, strings, raw strings, numbers,
 * comments, operators) and the language configuration (comments, brackets). Registered once per page.
 */
import type * as Monaco from 'monaco-editor/editor/editor.api';

export const REGO_LANGUAGE_ID = 'rego';

const KEYWORDS = ['package', 'import', 'as', 'default', 'else', 'not', 'with', 'some', 'every', 'in', 'if', 'contains'];
const CONSTANTS = ['true', 'false', 'null'];

export const regoMonarch: Monaco.languages.IMonarchLanguage = {
  defaultToken: '',
  tokenPostfix: '.rego',
  keywords: KEYWORDS,
  constants: CONSTANTS,
  roots: ['input', 'data'],
  operators: [':=', '=', '==', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/', '%', '&', '|'],
  symbols: /[=><!:&|+\-*/%]+/,
  escapes: /\\(?:[btnfr"\\/]|u[0-9A-Fa-f]{4})/,
  tokenizer: {
    root: [
      [/#.*$/, 'comment'],
      [/`/, { token: 'string.raw', next: '@rawstring' }],
      [/"/, { token: 'string.quote', next: '@string' }],
      [/\d+(\.\d+)?([eE][+-]?\d+)?/, 'number'],
      [
        /[a-zA-Z_][\w]*/,
        {
          cases: {
            '@keywords': 'keyword',
            '@constants': 'constant',
            '@roots': 'variable.predefined',
            '@default': 'identifier',
          },
        },
      ],
      [/[{}()[\]]/, '@brackets'],
      [/@symbols/, { cases: { '@operators': 'operator', '@default': '' } }],
      [/[;,.]/, 'delimiter'],
      [/\s+/, 'white'],
    ],
    string: [
      [/[^\\"]+/, 'string'],
      [/@escapes/, 'string.escape'],
      [/\\./, 'string.escape.invalid'],
      [/"/, { token: 'string.quote', next: '@pop' }],
    ],
    rawstring: [
      [/[^`]+/, 'string'],
      [/`/, { token: 'string.raw', next: '@pop' }],
    ],
  },
};

export const regoConfiguration: Monaco.languages.LanguageConfiguration = {
  comments: { lineComment: '#' },
  brackets: [
    ['{', '}'],
    ['[', ']'],
    ['(', ')'],
  ],
  autoClosingPairs: [
    { open: '{', close: '}' },
    { open: '[', close: ']' },
    { open: '(', close: ')' },
    { open: '"', close: '"', notIn: ['string'] },
    { open: '`', close: '`', notIn: ['string'] },
  ],
};

export function registerRego(monaco: typeof Monaco): void {
  if (monaco.languages.getLanguages().some((l) => l.id === REGO_LANGUAGE_ID)) return;
  monaco.languages.register({ id: REGO_LANGUAGE_ID, extensions: ['.rego'], aliases: ['Rego', 'rego'] });
  monaco.languages.setMonarchTokensProvider(REGO_LANGUAGE_ID, regoMonarch);
  monaco.languages.setLanguageConfiguration(REGO_LANGUAGE_ID, regoConfiguration);
}
