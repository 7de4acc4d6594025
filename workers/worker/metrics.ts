/**
 * Prometheus metrics of the worker process (served on WORKER_HTTP_PORT /metrics): Node default metrics and
 * per-activity execution counters/durations, recorded by an activity interceptor.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface WorkerMetrics {
  registry: Registry;
  activityExecutions: Counter<'activity_type' | 'outcome'>;
  activityDuration: Histogram<'activity_type'>;
  /** Plug into WorkerOptions.interceptors.activity. */
  activityInterceptor: ActivityInterceptorsFactory;
}

/** How an activity attempt ended, as the `outcome` label. */
export function activityOutcome(err: unknown): 'completed' | 'failed' | 'failed_non_retryable' | 'cancelled' {
  if (err === undefined) return 'completed';
  if (err instanceof CancelledFailure) return 'cancelled';
  if (err instanceof ApplicationFailure && err.nonRetryable) return 'failed_non_retryable';
  return 'failed';
}

export function createWorkerMetrics(opts: { defaultMetrics?: boolean } = {}): WorkerMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const activityExecutions = new Counter({
    name: 'proxyshard_worker_activity_executions_total',
    help: 'Activity attempts run by this worker, by activity type and outcome (completed, failed, failed_non_retryable, cancelled).',
    labelNames: ['activity_type', 'outcome'] as const,
    registers: [registry],
  });
  const activityDuration = new Histogram({
    name: 'proxyshard_worker_activity_duration_seconds',
    help: 'Duration of activity attempts run by this worker.',
    labelNames: ['activity_type'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [registry],
  });
  const activityInterceptor: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      async execute(input, next) {
        const activityType = ctx.info.activityType;
        const stop = activityDuration.startTimer({ activity_type: activityType });
        try {
          const result = await next(input);
          activityExecutions.inc({ activity_type: activityType, outcome: 'completed' });
          return result;
        } catch (err) {
          activityExecutions.inc({ activity_type: activityType, outcome: activityOutcome(err) });
          throw err;
        } finally {
          stop();
        }
      },
    },
  });
  return { registry, activityExecutions, activityDuration, activityInterceptor };
}
