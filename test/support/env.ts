/**
 * Test infrastructure handed down by scripts/test.ts (which starts one PostgreSQL server and one Temporal
 * dev server for the whole run). A test file run on its own starts what it needs itself.
 */
export interface TestInfra {
  /** Admin URL of the test PostgreSQL server (database `postgres`). */
  pgAdminUrl?: string;
  /** Name of a database with all migrations applied, used as CREATE DATABASE … TEMPLATE. */
  pgTemplate?: string;
  temporalAddress?: string;
}

export function testInfra(): TestInfra {
  return {
    pgAdminUrl: process.env.PS_TEST_PG_ADMIN_URL || undefined,
    pgTemplate: process.env.PS_TEST_PG_TEMPLATE || undefined,
    temporalAddress: process.env.PS_TEST_TEMPORAL_ADDRESS || undefined,
  };
}
