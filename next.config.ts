import type { NextConfig } from 'next';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getEnv } from './server/env';

const root = dirname(fileURLToPath(import.meta.url));
const distDir = getEnv().NEXT_DIST_DIR;

const config: NextConfig = {
  // Tests use `.next/test`, so their `next dev` runs beside a developer's (Next allows one per folder). Next
  // lists each build folder's type paths in tsconfig.json; both folders are listed there already.
  distDir,
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
