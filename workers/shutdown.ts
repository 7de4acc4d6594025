import type { Logger } from 'pino';

/**
 * SIGINT/SIGTERM: run the steps one after the other, then exit 0 (1 when a step fails). A second signal
 * exits 1 at once. Returns a flag that health checks can read.
 */
export function stopOnSignals(log: Logger, steps: (() => Promise<unknown>)[]): { readonly stopping: boolean } {
  const state = { stopping: false };
  const shutdown = (signal: NodeJS.Signals) => {
    if (state.stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    state.stopping = true;
    log.info({ signal }, 'shutting down');
    steps
      .reduce<Promise<unknown>>((chain, step) => chain.then(step), Promise.resolve())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'unclean shutdown');
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  return state;
}
