// ESLint flat config for the whole repository: `npx eslint .` (also run by test/static-checks.test.ts).
//   - typescript-eslint recommended (syntax only, not type-aware, to stay fast);
//   - Next.js rules (core web vitals) for app/ only;
//   - import boundaries between folders (docs: /work/shared/STYLE.md "Layout"), with
//     @typescript-eslint/no-restricted-imports. test/lint-boundaries.test.ts proves every boundary fires.
// Tests (*.test.ts[x]) are exempt from the boundaries: they may import node:test, fixtures and drivers.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import nextCoreWebVitals from 'eslint-config-next/core-web-vitals';
import tseslint from 'typescript-eslint';

// ---- building blocks ---------------------------------------------------------------------------------------

const TOP_FOLDERS = ['core', 'contracts', 'server', 'app', 'workflows', 'workers', 'agents', 'prisma', 'scripts', 'test', 'bench', 'tools'];

/**
 * A relative (`../server/x`, `../../server`) or aliased (`@/server/x`) import of a top-level folder.
 * Imports that stay inside the folder (`./x`, `../x` within core/) do not match.
 */
const folderRegex = (folders) => `^(?:(?:\\.\\./)+|@/)(?:${folders.join('|')})(?:/|$)`;
const folders = (names, message, extra = {}) => ({ regex: folderRegex(names), message, ...extra });

/** Node built-ins: `node:*` plus the bare names (exact names only, so `./url` or `../events` stay allowed). */
const nodeBuiltinNames = [...new Set(builtinModules.filter((m) => !m.startsWith('_') && !m.startsWith('node:')))];
const nodeBuiltins = (message) => ({
  paths: nodeBuiltinNames.map((name) => ({ name, message })),
  patterns: [{ group: ['node:*'], message }],
});

const rule = ({ paths = [], patterns = [] }) => ['error', { paths, patterns }];
const merge = (...parts) => ({
  paths: parts.flatMap((p) => p.paths ?? []),
  patterns: parts.flatMap((p) => p.patterns ?? []),
});

const TESTS = ['**/*.test.ts', '**/*.test.tsx', '**/*.test.mts'];

// ---- boundaries ---------------------------------------------------------------------------------------------

const WORKFLOW_MSG = 'workflows/ is deterministic Temporal code: import only contracts/, core/ and @temporalio/workflow (STYLE.md)';
const workflowsBoundary = merge(nodeBuiltins(WORKFLOW_MSG), {
  patterns: [
    folders(['server', 'workers', 'app', 'agents', 'prisma', 'scripts'], WORKFLOW_MSG),
    { group: ['@prisma/*', '@grpc/*', 'pg', 'pg/*', 'pg-*'], message: WORKFLOW_MSG },
    { group: ['@temporalio/*', '!@temporalio/workflow', '!@temporalio/common'], message: `${WORKFLOW_MSG}; activities are typed through contracts` },
  ],
});

const CORE_MSG = 'core/ is pure TypeScript without I/O: import only core/ (and `import type` from contracts/) (STYLE.md)';
const coreBoundary = {
  patterns: [
    // Any package, Node built-in or alias: core depends on nothing outside itself.
    { regex: '^[^.]', message: CORE_MSG },
    folders(TOP_FOLDERS.filter((f) => f !== 'core' && f !== 'contracts'), CORE_MSG),
    // core/xds may need the shapes of contracts (RouteGraph…); types only, never runtime code or zod.
    folders(['contracts'], CORE_MSG, { allowTypeImports: true }),
  ],
};

const CONTRACTS_MSG = 'contracts/ holds zod schemas and types: import only core/, contracts/ and zod (STYLE.md)';
const contractsBoundary = {
  patterns: [
    { regex: '^(?!zod(?:/|$))[^.]', message: CONTRACTS_MSG },
    folders(TOP_FOLDERS.filter((f) => f !== 'core' && f !== 'contracts'), CONTRACTS_MSG),
  ],
};

const APP_MSG = 'app/ calls server/ services and contracts/: no workers/, no database drivers (STYLE.md)';
const appBoundary = {
  patterns: [
    folders(['workers', 'agents', 'prisma'], APP_MSG),
    { regex: '^(?:(?:\\.\\./)+|@/)server/db/generated(?:/|$)', message: APP_MSG },
    { group: ['@prisma/*', 'pg', 'pg/*'], message: APP_MSG },
  ],
};

const SERVER_MSG = 'server/ imports core/ and contracts/ (and its own modules), never app/, workers/ or workflows/ (STYLE.md)';
const serverBoundary = { patterns: [folders(['app', 'workers', 'workflows', 'agents'], SERVER_MSG)] };

const WORKERS_MSG = 'workers/ may import everything but app/ (STYLE.md)';
const workersBoundary = { patterns: [folders(['app'], WORKERS_MSG)] };

const AGENTS_MSG = 'agents/ import only contracts/ and core/ among the project folders (STYLE.md)';
const agentsBoundary = {
  patterns: [
    folders(['server', 'workers', 'workflows', 'app', 'prisma'], AGENTS_MSG),
    { group: ['@prisma/*', 'pg', 'pg/*'], message: AGENTS_MSG },
  ],
};

const boundary = (name, files, options) => ({
  name: `proxyshard/boundaries/${name}`,
  files,
  ignores: TESTS,
  rules: {
    'no-restricted-imports': 'off',
    '@typescript-eslint/no-restricted-imports': rule(options),
  },
});

// ---- config -------------------------------------------------------------------------------------------------

const SOURCES = ['**/*.{ts,tsx,mts,cts,js,mjs,cjs,jsx}'];
const APP = ['app/**/*.{ts,tsx,js,jsx,mjs}'];

export default tseslint.config(
  {
    name: 'proxyshard/ignores',
    ignores: [
      '**/node_modules/**',
      '.next/**',
      'server/db/generated/**',
      'tools/**',
      '.venv/**',
      '.data/**',
      'next-env.d.ts',
      'test-results/**',
      'bench/results/**',
    ],
  },
  { name: 'proxyshard/js', files: SOURCES, ...js.configs.recommended },
  ...tseslint.configs.recommended.map((c) => ({ ...c, files: c.files ?? SOURCES })),
  {
    name: 'proxyshard/typescript',
    files: SOURCES,
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Node and the browser are both targets; `no-undef` is TypeScript's job.
      'no-undef': 'off',
    },
  },
  // Next.js rules, scoped to the web app (they assume React and the Next router).
  ...nextCoreWebVitals.map((c) => (c.ignores && Object.keys(c).length === 1 ? c : { ...c, files: APP })),
  boundary('workflows', ['workflows/**'], workflowsBoundary),
  boundary('core', ['core/**'], coreBoundary),
  boundary('contracts', ['contracts/**'], contractsBoundary),
  boundary('app', ['app/**'], appBoundary),
  boundary('server', ['server/**'], serverBoundary),
  boundary('workers', ['workers/**'], workersBoundary),
  boundary('agents', ['agents/**'], agentsBoundary),
);
