import { execFileSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../server/env';
import { schemaFiles } from '../../server/db/schema-engine';

/**
 * Generates the Prisma client when schema.prisma is newer than it. The CLI wants a schema-engine binary
 * on disk even though `generate` never runs it; pointing it at an existing file keeps it offline.
 */
export function ensurePrismaClient(): void {
  const marker = join(repoRoot, 'server/db/generated/client.ts');
  const newestSchema = Math.max(...schemaFiles().map((f) => statSync(f.path).mtimeMs));
  if (existsSync(marker) && statSync(marker).mtimeMs >= newestSchema) return;
  const placeholder = join(repoRoot, 'node_modules/.cache/prisma-no-schema-engine');
  if (!existsSync(placeholder)) {
    execFileSync('mkdir', ['-p', join(repoRoot, 'node_modules/.cache')]);
    writeFileSync(placeholder, '');
  }
  execFileSync(join(repoRoot, 'node_modules/.bin/prisma'), ['generate'], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: placeholder, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' },
  });
}
