/**
 * How much the worker runs at once. Rollout activities mostly wait (for proxies' ACKs, bake timers are
 * workflow timers): one awaitRolloutServing per rollout step in flight holds an activity slot for as long as
 * the proxies take, so the SDK's default of 100 slots would cap concurrent rollouts at about 100 and queue
 * the rest's publishes behind them. The database work is group-committed per tenant (rollout.activities.ts),
 * so a few connections serve hundreds of rollouts.
 */
import type { WorkerOptions } from '@temporalio/worker';

export const WORKER_TUNING = {
  maxConcurrentActivityTaskExecutions: 1000,
  maxConcurrentWorkflowTaskExecutions: 100,
  maxConcurrentActivityTaskPolls: 10,
  maxConcurrentWorkflowTaskPolls: 10,
  maxCachedWorkflows: 1000,
} as const satisfies Partial<WorkerOptions>;

/** Connections of the worker's PostgreSQL pool. */
export const WORKER_DB_CONNECTIONS = 10;
