// @ts-check
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

/**
 * Next loads this file with plain Node before any of our TypeScript, so it cannot use server/env.ts.
 * NEXT_DIST_DIR is validated there (`.next` or a folder below it) by every script that starts Next
 * (scripts/start.ts, the tests, bench/ui-graph.ts) before it spawns `next`.
 * @type {import('next').NextConfig}
 */
const config = {
  // Tests use `.next/test`, so their `next dev` runs beside a developer's (Next allows one per folder). Next
  // lists each build folder's type paths in tsconfig.json; both folders are listed there already.
  distDir: process.env.NEXT_DIST_DIR || '.next',
  // The repository is the root (there may be other lockfiles further up).
  turbopack: { root },
  outputFileTracingRoot: root,
  // Loaded by Node at run time instead of bundled: native addons, Prisma's runtime, prom-client.
  // @open-policy-agent/opa-wasm: CommonJS that requires its built-ins table at run time (policy playground, admission).
  serverExternalPackages: ['@node-rs/argon2', '@prisma/client', '@prisma/adapter-pg', 'pg', 'pino', 'prom-client', '@open-policy-agent/opa-wasm'],
  poweredByHeader: false,
  // The console is served on http://127.0.0.1:<WEB_PORT>; without this, `next dev` refuses its dev resources
  // (HMR, chunks) to that origin and client components never hydrate.
  allowedDevOrigins: ['127.0.0.1'],
};

export default config;
