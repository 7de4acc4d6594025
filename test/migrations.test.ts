/**
 * The committed migrations are the schema: a database migrated from them matches schema.prisma exactly
 * (no drift), the migrations folder is not behind schema.prisma, and a change made behind Prisma's back
 * is reported as drift.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { diffDatabaseToSchema, diffMigrationsToSchema, isEmptyDiff, applyMigrations } from '../server/db/schema-engine';
import { createTestDatabase, type TestDatabase } from './support/db';

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase();
});
after(async () => {
  await t.drop();
});

async function sql(query: string): Promise<void> {
  const c = new pg.Client({ connectionString: t.adminUrl });
  await c.connect();
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

test('the migrated database matches schema.prisma (no drift)', async () => {
  const diff = await diffDatabaseToSchema(t.url);
  assert.ok(isEmptyDiff(diff), `unexpected drift:\n${diff}`);
});

test('the migrations folder is not behind schema.prisma', async () => {
  const diff = await diffMigrationsToSchema(t.url);
  assert.ok(isEmptyDiff(diff), `schema.prisma has changes without a migration (npm run db -- create <name>):\n${diff}`);
});

test('applying migrations twice is a no-op', async () => {
  assert.deepEqual(await applyMigrations(t.url), []);
});

test('a column added behind Prisma’s back is reported as drift', async () => {
  await sql('ALTER TABLE "Tenant" ADD COLUMN "sneaky" integer');
  try {
    const diff = await diffDatabaseToSchema(t.url);
    assert.match(diff, /DROP COLUMN "sneaky"/);
  } finally {
    await sql('ALTER TABLE "Tenant" DROP COLUMN "sneaky"');
  }
  assert.ok(isEmptyDiff(await diffDatabaseToSchema(t.url)));
});

test('the audit log refuses UPDATE, DELETE and TRUNCATE in the database itself', async () => {
  await sql(`INSERT INTO "Tenant"(id, slug, name) VALUES ('00000000-0000-0000-0000-0000000000aa', 'mig-test', 'm')`);
  await sql(`INSERT INTO "AuditEntry"("tenantId", seq, at, "actorType", "actorId", "actorName", action, "targetType", "targetId", details, "prevHash", hash)
             VALUES ('00000000-0000-0000-0000-0000000000aa', 1, now(), 'system', 's', 's', 'x', 't', 't', '{}', '', 'h')`);
  await assert.rejects(sql(`UPDATE "AuditEntry" SET action = 'y'`), /append-only: UPDATE refused/);
  await assert.rejects(sql(`DELETE FROM "AuditEntry"`), /append-only: DELETE refused/);
  await assert.rejects(sql(`TRUNCATE "AuditEntry"`), /append-only: TRUNCATE refused/);
});
