/**
 * The `notify` activity: delivers a notification to the tenant's webhook endpoints
 * (server/services/notification.service.ts). Idempotent per dedupe key and endpoint; an endpoint that fails makes
 * the activity fail with a retryable error (Temporal's retry policy backs off), bad input is non-retryable.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { NotifyActivities, NotifyInput, NotifyResult } from '../contracts/notify.schema';
import type { Db } from '../server/db/client';
import { isAppError } from '../server/errors';
import { deliverNotification, type DeliverOptions } from '../server/services/notification.service';

export interface NotifyActivityDeps {
  db: Db;
  deliver?: DeliverOptions;
}

export function createNotifyActivities(deps: NotifyActivityDeps): NotifyActivities {
  return {
    async notify(input: NotifyInput): Promise<NotifyResult> {
      try {
        return await deliverNotification(deps.db, input, deps.deliver);
      } catch (err) {
        if (isAppError(err)) throw ApplicationFailure.nonRetryable(err.message, 'InvalidNotification', err.issues);
        throw err;
      }
    },
  };
}
