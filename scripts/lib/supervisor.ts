/**
 * Runs child processes with prefixed, coloured log lines and stops them in reverse start order.
 * If a required child exits on its own, the whole stack is stopped (so a crash is never silent).
 */
import { spawn, type ChildProcess } from 'node:child_process';

const COLORS = [36, 35, 33, 32, 34, 91, 96, 95];

export interface Service {
  name: string;
  stop(): Promise<void>;
}

export class Supervisor {
  private readonly services: Service[] = [];
  private colorIndex = 0;
  private stopping = false;
  readonly width = 9;

  constructor(private readonly onFatal: (reason: string) => void) {}

  prefix(name: string): (line: string) => void {
    const color = COLORS[this.colorIndex++ % COLORS.length];
    const tag = process.stdout.isTTY ? `\x1b[${color}m${name.padEnd(this.width)}\x1b[0m│` : `${name.padEnd(this.width)}|`;
    return (line: string) => {
      for (const l of line.split('\n')) if (l.trim() !== '') process.stdout.write(`${tag} ${l}\n`);
    };
  }

  /** Registers something started in-process (database, Temporal) so that shutdown stops it. */
  add(service: Service): void {
    this.services.push(service);
  }

  /** Spawns a child with prefixed output. */
  spawn(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
    const log = this.prefix(name);
    // Its own process group: a terminal's Ctrl-C reaches only `npm start`, which stops children in order;
    // stopping signals the whole group, so grandchildren (Next.js workers) stop too.
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pipe = (stream: NodeJS.ReadableStream | null) => {
      let buf = '';
      stream?.on('data', (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines) log(l);
      });
      stream?.on('end', () => buf && log(buf));
    };
    pipe(child.stdout);
    pipe(child.stderr);
    let exited = false;
    child.on('exit', (code, signal) => {
      exited = true;
      if (!this.stopping) {
        log(`exited (${code ?? signal})`);
        this.onFatal(`${name} exited unexpectedly (${code ?? signal})`);
      }
    });
    this.add({
      name,
      stop: () =>
        new Promise<void>((resolve) => {
          if (exited || child.exitCode !== null) return resolve();
          const signalGroup = (sig: NodeJS.Signals) => {
            try {
              if (child.pid) process.kill(-child.pid, sig);
            } catch {
              child.kill(sig);
            }
          };
          const timer = setTimeout(() => signalGroup('SIGKILL'), 10_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          signalGroup('SIGTERM');
        }),
    });
    return child;
  }

  async stopAll(log: (l: string) => void): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const s of [...this.services].reverse()) {
      log(`stopping ${s.name}`);
      await s.stop().catch((e) => log(`${s.name}: ${e instanceof Error ? e.message : String(e)}`));
    }
  }
}
