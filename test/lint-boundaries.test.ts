/**
 * The folder boundaries of eslint.config.mjs (STYLE.md "Layout") fire on what they forbid and stay quiet on
 * what they allow: each case lints a one-line snippet as if it were a file in that folder.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ESLint } from 'eslint';
import { repoRoot } from '../server/env';

const RULE = '@typescript-eslint/no-restricted-imports';

let eslint: ESLint;
before(() => {
  eslint = new ESLint({ cwd: repoRoot, overrideConfigFile: join(repoRoot, 'eslint.config.mjs') });
});

async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\n`, { filePath: join(repoRoot, file) });
  assert.ok(result, 'no lint result');
  const fatal = result.messages.filter((m) => m.fatal);
  assert.deepEqual(fatal, [], `${file}: parse error`);
  return result.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
}

interface Cases {
  file: string;
  forbidden: string[];
  allowed: string[];
}

function boundary({ file, forbidden, allowed }: Cases): void {
  for (const code of forbidden) {
    test(`${file}: forbids ${code}`, async () => {
      const messages = await restricted(file, code);
      assert.equal(messages.length, 1, `expected ${RULE} to report \`${code}\` in ${file}, got ${JSON.stringify(messages)}`);
      assert.match(messages[0] ?? '', /STYLE\.md/);
    });
  }
  for (const code of allowed) {
    test(`${file}: allows ${code}`, async () => {
      assert.deepEqual(await restricted(file, code), [], `\`${code}\` should be allowed in ${file}`);
    });
  }
}

describe('workflows/ boundary', () => {
  boundary({
    file: 'workflows/x.workflow.ts',
    forbidden: [
      "import { readFileSync } from 'node:fs';",
      "import path from 'path';",
      "import { randomUUID } from 'crypto';",
      "import { readFile } from 'fs/promises';",
      "import { setTimeout as wait } from 'timers/promises';",
      "import { PrismaClient } from '@prisma/client';",
      "import { PrismaPg } from '@prisma/adapter-pg';",
      "import { createDb } from '../server/db/client';",
      "import { getEnv } from '@/server/env';",
      "import { createPublishActivities } from '../workers/publish.activities';",
      "import type { PublishActivityDeps } from '../workers/publish.activities';",
      "import * as grpc from '@grpc/grpc-js';",
      "import pg from 'pg';",
      "import { Client } from '@temporalio/client';",
      "import { Context } from '@temporalio/activity';",
    ],
    allowed: [
      "import { proxyActivities, sleep } from '@temporalio/workflow';",
      "import { ApplicationFailure } from '@temporalio/common';",
      "import type { PublishActivities } from '../contracts/workflows.schema';",
      "import { contentHash } from '../core/xds/snapshot';",
      "import { helper } from './helpers';",
      // Local files that share a name with a Node built-in are not built-ins.
      "import { parseUrl } from './url';",
    ],
  });
});

describe('core/ boundary', () => {
  boundary({
    file: 'core/xds/x.ts',
    forbidden: [
      "import { z } from 'zod';",
      "import { createHash } from 'node:crypto';",
      "import { createHash } from 'crypto';",
      "import { PrismaClient } from '@prisma/client';",
      "import pg from 'pg';",
      "import * as grpc from '@grpc/grpc-js';",
      "import { getEnv } from '../../server/env';",
      "import { createPublishActivities } from '../../workers/publish.activities';",
      "import Page from '../../app/page';",
      "import { publishRevisionWorkflow } from '../../workflows/index';",
      // Runtime values of contracts (zod schemas) would pull zod into core.
      "import { RouteGraphSchema } from '../../contracts/route-graph.schema';",
    ],
    allowed: [
      "import type { RouteGraph } from '../../contracts/route-graph.schema';",
      "import { sha256Hex } from '../hash/sha256';",
      "import { contentHash } from './snapshot';",
    ],
  });
});

describe('contracts/ boundary', () => {
  boundary({
    file: 'contracts/x.schema.ts',
    forbidden: [
      "import { pino } from 'pino';",
      "import { randomUUID } from 'node:crypto';",
      "import { getEnv } from '../server/env';",
      "import { createPublishActivities } from '../workers/publish.activities';",
      "import { publishRevisionWorkflow } from '../workflows/index';",
      "import { PrismaClient } from '@prisma/client';",
    ],
    allowed: [
      "import { z } from 'zod';",
      "import { z } from 'zod/v4';",
      "import { contentHash } from '../core/xds/snapshot';",
      "import { RouteGraphSchema } from './route-graph.schema';",
    ],
  });
});

describe('app/ boundary', () => {
  boundary({
    file: 'app/x/page.tsx',
    forbidden: [
      "import { createPublishActivities } from '../../workers/publish.activities';",
      "import { PrismaClient } from '@prisma/client';",
      "import pg from 'pg';",
      "import { PrismaClient } from '../../server/db/generated/client';",
    ],
    allowed: [
      "import { startPublishRevision } from '../../server/temporal/client';",
      "import type { PublishStatus } from '../../contracts/workflows.schema';",
      "import { useState } from 'react';",
    ],
  });
});

describe('server/ boundary', () => {
  boundary({
    file: 'server/services/x.service.ts',
    forbidden: [
      "import Page from '../../app/page';",
      "import { createPublishActivities } from '../../workers/publish.activities';",
      "import { publishStatusQuery } from '../../workflows/publish-revision.workflow';",
    ],
    allowed: [
      "import { readFile } from 'node:fs/promises';",
      "import { PrismaClient } from '@prisma/client';",
      "import { PublishRevisionInputSchema } from '../../contracts/workflows.schema';",
      "import { contentHash } from '../../core/xds/snapshot';",
      "import { createDb } from '../db/client';",
    ],
  });
});

describe('workers/ and agents/ boundaries', () => {
  boundary({
    file: 'workers/x.activities.ts',
    forbidden: ["import Page from '../app/page';"],
    allowed: ["import { createDb } from '../server/db/client';", "import { readFile } from 'node:fs/promises';"],
  });
  boundary({
    file: 'agents/src/x.ts',
    forbidden: ["import { getEnv } from '../../server/env';", "import { PrismaClient } from '@prisma/client';"],
    allowed: ["import type { XdpBundle } from '../../contracts/xdp.schema';", "import { open } from 'node:fs/promises';"],
  });
});

describe('tests are exempt', () => {
  boundary({
    file: 'workflows/x.workflow.test.ts',
    forbidden: [],
    allowed: ["import { test } from 'node:test';", "import { Worker } from '@temporalio/worker';"],
  });
});
