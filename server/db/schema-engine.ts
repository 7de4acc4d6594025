/**
 * Offline migrations: Prisma's Wasm schema engine (pinned exactly to the engine version of the `prisma`
 * package) driven through the pg driver adapter. The Prisma CLI's `migrate` would download a native
 * engine, which cannot be fetched here; this path needs nothing but npm packages.
 * The engine keeps Prisma's own `_prisma_migrations` table, so the history stays compatible with
 * `prisma migrate deploy` wherever a native engine is available.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum } from '@prisma/driver-adapter-utils';
import { repoRoot } from '../env';

/** The Prisma schema is every `*.prisma` file in this folder (Prisma multi-file schema). */
export const schemaDir = resolve(repoRoot, 'prisma');
export const migrationsDir = resolve(repoRoot, 'prisma/migrations');

const noFilters = { externalTables: [] as string[], externalEnums: [] as string[] };

type WasmSchemaEngine = {
  applyMigrations(input: unknown): Promise<{ appliedMigrationNames: string[] }>;
  diff(input: unknown): Promise<{ exitCode: number; stdout?: string | null }>;
  free?(): void;
};

type EngineModule = {
  __wbg_set_wasm(exports: WebAssembly.Exports): void;
  SchemaEngine: { new: (options: unknown, log: (msg: string) => void, adapter: object) => Promise<WasmSchemaEngine> };
};

let enginePromise: Promise<EngineModule> | undefined;

/** The package ships a bundler-style ES module that imports `.wasm`; Node needs it instantiated by hand. */
/** The engine reports Rust panics through this global before throwing; keep the text for the error. */
const panicRegistry = { message: '', set_message(m: string) { this.message = m; } };

function loadEngineModule(): Promise<EngineModule> {
  enginePromise ??= (async () => {
    (globalThis as { PRISMA_WASM_PANIC_REGISTRY?: typeof panicRegistry }).PRISMA_WASM_PANIC_REGISTRY = panicRegistry;
    const bg = (await import('@prisma/schema-engine-wasm/schema_engine_bg')) as unknown as EngineModule;
    const require = createRequire(import.meta.url);
    const wasmFile = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg').replace(/\.js$/, '.wasm');
    const { instance } = await WebAssembly.instantiate(readFileSync(wasmFile), {
      './schema_engine_bg.js': bg as unknown as WebAssembly.ModuleImports,
    });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start?: () => void }).__wbindgen_start?.();
    return bg;
  })();
  return enginePromise;
}

export interface MigrationList {
  baseDir: string;
  lockfile: { path: string; content: string | null };
  shadowDbInitScript: string;
  migrationDirectories: { path: string; migrationFile: { path: string; content: { tag: 'ok'; value: string } | { tag: 'error'; value: string } } }[];
}

export function readMigrationsList(dir = migrationsDir): MigrationList {
  const lockPath = join(dir, 'migration_lock.toml');
  const dirs = existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()
    : [];
  return {
    baseDir: dir,
    lockfile: { path: 'migration_lock.toml', content: existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : null },
    shadowDbInitScript: '',
    migrationDirectories: dirs.map((name) => {
      const file = join(dir, name, 'migration.sql');
      return {
        path: name,
        migrationFile: {
          path: 'migration.sql',
          content: existsSync(file) ? { tag: 'ok', value: readFileSync(file, 'utf8') } : { tag: 'error', value: `missing ${file}` },
        },
      };
    }),
  };
}

export function schemaFiles(): { path: string; content: string }[] {
  return readdirSync(schemaDir)
    .filter((f) => f.endsWith('.prisma'))
    .sort()
    .map((f) => ({ path: join(schemaDir, f), content: readFileSync(join(schemaDir, f), 'utf8') }));
}

const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

type QueryResult = { fields: { dataTypeID: number }[]; rows: unknown[][] };
type Queryable = {
  performIO(query: unknown): Promise<QueryResult>;
  queryRaw(query: unknown): Promise<{ columnTypes: number[]; rows: unknown[][] }>;
  executeScript?(script: string): Promise<void>;
  underlyingDriver?(): { query(sql: string): Promise<unknown> };
  startTransaction?: (...a: unknown[]) => Promise<object>;
  onError(error: unknown): never;
};

/**
 * Two gaps of @prisma/adapter-pg 7.10 when it serves the schema engine are closed here:
 * - `executeScript` splits a script on every ";", which breaks dollar-quoted function bodies in
 *   migrations; the whole script is sent instead as one simple-protocol query (PostgreSQL runs a
 *   multi-statement string in one implicit transaction, so a failing migration leaves nothing behind).
 * - The engine's catalog queries select columns of PostgreSQL's internal one-byte `"char"` type
 *   (`pg_class.relkind`, `pg_constraint.contype`), which the adapter does not map ("Column type 'char'
 *   could not be deserialized"). They are reported with the driver-adapter column type `Character`, which
 *   is what the engine reads them as; node-postgres already parses the values as one-character strings.
 */
function patchAdapter<T extends object>(queryable: T): T {
  const q = queryable as unknown as Queryable;
  const driver = q.underlyingDriver?.();
  if (q.executeScript && driver) {
    q.executeScript = async (script) => {
      try {
        await driver.query(script);
      } catch (err) {
        q.onError(err);
      }
    };
  }
  // Which columns of a result were "char", keyed by the rows array that queryRaw passes through.
  const charColumns = new WeakMap<unknown[][], number[]>();
  const performIO = q.performIO.bind(q);
  q.performIO = async (query) => {
    const result = await performIO(query);
    const chars: number[] = [];
    result.fields.forEach((f, i) => {
      if (f.dataTypeID === PG_CHAR_OID) {
        f.dataTypeID = PG_TEXT_OID;
        chars.push(i);
      }
    });
    if (chars.length) charColumns.set(result.rows, chars);
    return result;
  };
  const queryRaw = q.queryRaw.bind(q);
  q.queryRaw = async (query) => {
    const result = await queryRaw(query);
    for (const i of charColumns.get(result.rows) ?? []) result.columnTypes[i] = ColumnTypeEnum.Character;
    return result;
  };
  if (q.startTransaction) {
    const start = q.startTransaction.bind(q);
    q.startTransaction = async (...args) => patchAdapter(await start(...args));
  }
  return queryable;
}

/** Runs `fn` with a schema engine connected to `databaseUrl`, always releasing the connection pool. */
export async function withSchemaEngine<T>(databaseUrl: string, fn: (engine: WasmSchemaEngine) => Promise<T>): Promise<T> {
  const mod = await loadEngineModule();
  // Explicit fields, not `connectionString`: node-postgres lets a connection string override `database`,
  // which would point the adapter's shadow database at the real one.
  const config = parseIntoClientConfig(databaseUrl);
  const factory = new PrismaPg({ ...config, max: 2 });
  const pools: { dispose(): Promise<void> }[] = [];
  // Track the connections the engine opens so that they are closed afterwards.
  const tracked = {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => {
      const a = patchAdapter(await factory.connect());
      pools.push(a);
      return a;
    },
    // The adapter's own shadow database drops the database before closing its pool, which PostgreSQL
    // refuses ("being accessed by other users"); this one closes the pool first.
    connectToShadowDb: async () => {
      const main = await factory.connect();
      const name = `prisma_migrate_shadow_db_${randomUUID()}`;
      await main.executeScript(`CREATE DATABASE "${name}"`);
      const shadow = patchAdapter(await new PrismaPg({ ...config, database: name, max: 2 }).connect());
      const release = shadow.dispose.bind(shadow);
      let disposed = false;
      shadow.dispose = async () => {
        if (disposed) return;
        disposed = true;
        await release();
        await main.executeScript(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await main.dispose();
      };
      pools.push(shadow);
      return shadow;
    },
  };
  const files = schemaFiles();
  const engine = await mod.SchemaEngine.new(
    { datamodels: files.map((f) => [f.path, f.content]) },
    () => {},
    bindMigrationAwareSqlAdapterFactory(tracked as unknown as PrismaPg),
  );
  try {
    return await fn(engine);
  } catch (err) {
    if (panicRegistry.message) {
      const message = panicRegistry.message;
      panicRegistry.message = '';
      throw new Error(`Prisma schema engine panicked: ${message}`, { cause: err });
    }
    throw err;
  } finally {
    engine.free?.();
    await Promise.allSettled(pools.map((p) => p.dispose()));
  }
}

/** Applies every committed migration not yet applied; returns the names applied now. */
export async function applyMigrations(databaseUrl: string): Promise<string[]> {
  return withSchemaEngine(databaseUrl, async (engine) => {
    const out = await engine.applyMigrations({ migrationsList: readMigrationsList(), filters: noFilters });
    return out.appliedMigrationNames;
  });
}

/**
 * SQL that would bring a database built from the committed migrations to `schema.prisma`
 * (empty when they agree). Uses a throw-away shadow database on the same server.
 */
export async function diffMigrationsToSchema(databaseUrl: string): Promise<string> {
  return withSchemaEngine(databaseUrl, async (engine) => {
    const out = await engine.diff({
      from: { tag: 'migrations', ...readMigrationsList() },
      to: { tag: 'schemaDatamodel', files: schemaFiles() },
      script: true,
      exitCode: null,
      filters: noFilters,
    });
    return out.stdout ?? '';
  });
}

/** SQL that would bring the live database at `databaseUrl` to `schema.prisma` (empty = no drift). */
export async function diffDatabaseToSchema(databaseUrl: string): Promise<string> {
  return withSchemaEngine(databaseUrl, async (engine) => {
    const out = await engine.diff({
      from: { tag: 'schemaDatasource', files: schemaFiles(), configDir: repoRoot },
      to: { tag: 'schemaDatamodel', files: schemaFiles() },
      script: true,
      exitCode: null,
      filters: noFilters,
    });
    return out.stdout ?? '';
  });
}

/** True when a diff script contains statements (the engine prints a comment for an empty diff). */
export function isEmptyDiff(sql: string): boolean {
  return sql
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('--')).length === 0;
}
