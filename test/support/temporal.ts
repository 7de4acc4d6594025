/**
 * Temporal for tests: the dev server started by scripts/test.ts (PS_TEST_TEMPORAL_ADDRESS), or, when a test
 * file runs on its own, a headless in-memory dev server started here (tools/bin/temporal). Plus the
 * workflow bundle, built once per test process.
 */
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, makeTelemetryFilterString, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { freePort } from '../../scripts/lib/ports';
import { getEnv } from '../../server/env';
import { setAppTemporal } from '../../server/temporal/app-temporal';
import { startTemporalDevServer } from '../../server/temporal-dev';
import { testInfra } from './env';

export interface TestTemporal {
  address: string;
  namespace: string;
  stop(): Promise<void>;
}

export async function getTestTemporal(): Promise<TestTemporal> {
  const namespace = getEnv().TEMPORAL_NAMESPACE;
  const address = testInfra().temporalAddress;
  if (address) return { address, namespace, stop: async () => {} };
  const port = await freePort();
  const server = await startTemporalDevServer({
    port,
    uiPort: undefined,
    namespace,
    dbFile: undefined,
    httpPort: await freePort(),
    metricsPort: await freePort(),
    log: () => {},
  });
  return { address: server.address, namespace, stop: () => server.stop() };
}

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/** The webpack bundle of a workflows module (default: workflows/index.ts), cached per path. */
export function workflowBundle(workflowsPath = WORKFLOWS_PATH): Promise<WorkflowBundleWithSourceMap> {
  let bundle = bundles.get(workflowsPath);
  if (!bundle) {
    bundle = bundleWorkflowCode({ workflowsPath, logger: quietLogger });
    bundles.set(workflowsPath, bundle);
  }
  return bundle;
}

const noop = () => {};
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };

/** A unique task queue per test, so tests never pick up each other's tasks. */
export function uniqueTaskQueue(name: string): string {
  return `test-${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

let runtimeInstalled = false;

/** Temporal SDK logs at ERROR only (expected workflow failures log at WARN) (call before the first Worker or NativeConnection). */
export function installQuietTemporalRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
    });
  } catch {
    // already installed by another module of this process
  }
}

/**
 * A Temporal worker running the real workflows with the publish activities, on a fresh task queue, and the
 * web app's Temporal client pointed at it (setAppTemporal): what REST apply needs in a test.
 */
export async function startAppPublishWorker(opts: { name: string; activities: object }): Promise<{ stop(): Promise<void> }> {
  installQuietTemporalRuntime();
  const temporal = await getTestTemporal();
  const native = await NativeConnection.connect({ address: temporal.address });
  const connection = await Connection.connect({ address: temporal.address });
  const taskQueue = uniqueTaskQueue(opts.name);
  const worker = await Worker.create({ connection: native, namespace: temporal.namespace, taskQueue, workflowBundle: await workflowBundle(), activities: opts.activities });
  const run = worker.run();
  setAppTemporal({ client: new Client({ connection, namespace: temporal.namespace }), connection, taskQueue });
  return {
    stop: async () => {
      setAppTemporal(undefined);
      worker.shutdown();
      await run;
      await connection.close();
      await native.close();
      await temporal.stop();
    },
  };
}
