/** How workflows report their activities' failures. Deterministic helpers only. */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

/**
 * An activity's ApplicationFailure (NACK, agent rejection, rejected publish…) is rethrown as the workflow's
 * own non-retryable ApplicationFailure with the same type, message and details, so callers see it directly
 * as WorkflowFailedError.cause; anything else is rethrown unchanged.
 */
export function surfaced(err: unknown): unknown {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure) || cause === err) return err;
  return ApplicationFailure.create({
    type: cause.type ?? undefined,
    message: cause.message,
    nonRetryable: true,
    details: cause.details ?? [],
    cause: err instanceof Error ? err : undefined,
  });
}

/** The innermost message of an activity failure. */
export function errorText(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return errorText(err.cause);
  return err instanceof Error ? err.message : String(err);
}
