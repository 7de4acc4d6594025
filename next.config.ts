import type { NextConfig } from 'next';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

const config: NextConfig = {
  // The repository is the root (there may be other lockfiles further up).
  turbopack: { root },
  outputFileTracingRoot: root,
  // Loaded by Node at run time instead of bundled: native addons, Prisma's runtime, prom-client.
  serverExternalPackages: ['@node-rs/argon2', '@prisma/client', '@prisma/adapter-pg', 'pg', 'pino', 'prom-client'],
  poweredByHeader: false,
  // The console is served on http://127.0.0.1:<WEB_PORT>; without this, `next dev` refuses its dev resources
  // (HMR, chunks) to that origin and client components never hydrate.
  allowedDevOrigins: ['127.0.0.1'],
};

export default config;
