import { defineConfig } from 'prisma/config';

// Used by `prisma generate` only. Migrations are generated and applied offline by scripts/db
// with the Wasm schema engine, because the CLI's migrate needs a native engine download.
export default defineConfig({
  schema: 'prisma',
  migrations: { path: 'prisma/migrations' },
});
