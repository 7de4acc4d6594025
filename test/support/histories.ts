/**
 * Recorded workflow histories (test/histories/*.json) for replay tests. A test records a history only when
 * PS_RECORD_HISTORIES=1, e.g. after an intentional, versioned change of workflow code:
 *   PS_RECORD_HISTORIES=1 npm test -- test/publish-workflow.test.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = fileURLToPath(new URL('../histories', import.meta.url));

export function recordingHistories(): boolean {
  return process.env.PS_RECORD_HISTORIES === '1';
}

/** Writes the handle's full event history to test/histories/<name>.json (when recording is on). */
export async function maybeRecordHistory(handle: WorkflowHandle, name: string): Promise<string | undefined> {
  if (!recordingHistories()) return undefined;
  const history = await handle.fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  const file = join(HISTORIES_DIR, `${name}.json`);
  // The proto3 JSON form written by the Temporal CLI and UI (what runReplayHistory parses).
  writeFileSync(file, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`);
  return file;
}
