/**
 * The audit log: append-only (a database trigger refuses UPDATE, DELETE and TRUNCATE) and hash-chained
 * per tenant, so that a change made behind the trigger's back (a superuser disabling it) is detectable.
 *
 * Chain formula (per tenant, seq = 1, 2, 3, …):
 *   beforeDigest = sha256hex(canonicalJson(before))   or null when no `before` was given
 *   afterDigest  = sha256hex(canonicalJson(after))    or null when no `after` was given
 *   fields       = { tenantId, seq, at, actorType, actorId, actorName, action, targetType, targetId,
 *                    beforeDigest, afterDigest, details }
 *                  with `at` as an ISO 8601 UTC string with milliseconds (Date#toISOString) and `details`
 *                  the JSON object stored in the row
 *   hash         = sha256hex(prevHash + canonicalJson(fields))     (UTF-8; `+` is string concatenation)
 *   prevHash     = hash of entry seq-1, or GENESIS_HASH (64 "0") for seq 1
 * canonicalJson sorts object keys and has no whitespace (see canonical-json.ts). prevHash is always
 * 64 hex characters, so the concatenation is unambiguous.
 *
 * What the chain cannot show on its own: removal of the newest entries (the tail). Keep `headHash` from
 * verifyAuditChain somewhere else if that matters.
 */
import type { Principal } from '../auth/principal';
import { requirePermission } from '../auth/principal';
import {
  findAuditHead,
  insertAuditEntries,
  insertAuditEntry,
  listAuditEntries,
  lockAuditChain,
  readAuditEntriesAfter,
  type AuditEntry,
} from '../db/audit.repo';
import { inTransaction, type DbTx } from '../db/tx';
import { canonicalJson, digestJson, sha256Hex, toPlainJson, type Json } from './canonical-json';

export type { AuditEntry } from '../db/audit.repo';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditActor {
  type: 'user' | 'token' | 'system';
  id: string;
  name: string;
}

export interface AppendAuditInput {
  tenantId: string;
  actor: AuditActor;
  /** Dotted, lowercase: `auth.sign_in`, `token.create`, `revision.propose`, … */
  action: string;
  target: { type: string; id: string };
  /** The object before the change; only its digest is stored. */
  before?: unknown;
  /** The object after the change; only its digest is stored. */
  after?: unknown;
  /** Stored as JSON (Dates become ISO strings); keep secrets out. */
  details?: Record<string, unknown>;
}

export type HashedAuditFields = Omit<AuditEntry, 'prevHash' | 'hash'>;

/** The canonical JSON text that, prefixed with prevHash, is hashed into an entry's `hash`. */
export function auditHashPayload(entry: HashedAuditFields): string {
  return canonicalJson({
    tenantId: entry.tenantId,
    seq: entry.seq,
    at: entry.at.toISOString(),
    actorType: entry.actorType,
    actorId: entry.actorId,
    actorName: entry.actorName,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId,
    beforeDigest: entry.beforeDigest,
    afterDigest: entry.afterDigest,
    details: entry.details,
  });
}

/** hash = sha256hex(prevHash + canonicalJson(fields)). */
export function computeAuditHash(prevHash: string, entry: HashedAuditFields): string {
  return sha256Hex(prevHash + auditHashPayload(entry));
}

function checkAppendInput(input: AppendAuditInput): void {
  const problems: string[] = [];
  if (!input.tenantId) problems.push('tenantId is empty');
  if (!['user', 'token', 'system'].includes(input.actor.type)) problems.push(`actor.type ${String(input.actor.type)} is unknown`);
  if (!input.actor.id) problems.push('actor.id is empty');
  if (!/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/.test(input.action)) problems.push(`action "${input.action}" is not dotted lowercase`);
  if (!input.target.type || !input.target.id) problems.push('target.type and target.id are required');
  if (problems.length) throw new Error(`appendAudit: ${problems.join('; ')}`);
}

/**
 * Appends one entry to the tenant's chain and returns it. `tx` may be the Prisma client (a transaction is
 * opened here) or an interactive transaction of the caller, so that the entry commits or rolls back with
 * the change it records. Appends to one tenant are serialised with a transaction-scoped advisory lock; use
 * the default READ COMMITTED isolation for `tx`.
 */
export async function appendAudit(tx: DbTx, input: AppendAuditInput): Promise<AuditEntry> {
  const [entry] = await appendAuditEntries(tx, input.tenantId, [input]);
  return entry!;
}

/**
 * Appends several entries to one tenant's chain, in order, under one lock, with one read of the chain's
 * head and one insert (what a group commit of many transitions needs). Same rules as appendAudit.
 */
export async function appendAuditEntries(tx: DbTx, tenantId: string, inputs: readonly AppendAuditInput[]): Promise<AuditEntry[]> {
  for (const input of inputs) {
    checkAppendInput(input);
    if (input.tenantId !== tenantId) throw new Error(`appendAuditEntries: an entry of tenant ${input.tenantId} in a batch of ${tenantId}`);
  }
  if (inputs.length === 0) return [];
  return inTransaction(tx, async (t) => {
    await lockAuditChain(t, tenantId);
    const head = await findAuditHead(t, tenantId);
    let seq = head?.seq ?? 0;
    let prevHash = head?.hash ?? GENESIS_HASH;
    const at = new Date();
    const entries: AuditEntry[] = inputs.map((input) => {
      seq += 1;
      const fields: HashedAuditFields = {
        tenantId,
        seq,
        at,
        actorType: input.actor.type,
        actorId: input.actor.id,
        actorName: input.actor.name,
        action: input.action,
        targetType: input.target.type,
        targetId: input.target.id,
        beforeDigest: input.before === undefined ? null : digestJson(input.before),
        afterDigest: input.after === undefined ? null : digestJson(input.after),
        details: toPlainJson(input.details ?? {}),
      };
      const entry = { ...fields, prevHash, hash: computeAuditHash(prevHash, fields) };
      prevHash = entry.hash;
      return entry;
    });
    if (entries.length === 1) return [await insertAuditEntry(t, entries[0]!)];
    await insertAuditEntries(t, entries);
    return entries;
  });
}

export type AuditVerification =
  | { ok: true; entries: number; headHash: string }
  | { ok: false; entries: number; firstBrokenSeq: number; reason: string; entry: AuditEntryView | null };

const VERIFY_BATCH = 1000;

/**
 * Walks the tenant's chain from seq 1 and reports the first entry that does not fit: a missing or
 * unexpected seq (gap), a prevHash that is not the previous entry's hash (broken link), or a hash that does
 * not match the entry's fields (changed field). `entries` counts the entries checked before the break.
 */
export async function verifyAuditChain(db: DbTx, tenantId: string): Promise<AuditVerification> {
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let afterSeq = -2_147_483_648; // the smallest int4: rows with seq < 1 are reported, not skipped
  for (;;) {
    const batch = await readAuditEntriesAfter(db, tenantId, afterSeq, VERIFY_BATCH);
    for (const e of batch) {
      const checked = expectedSeq - 1;
      if (e.seq !== expectedSeq) {
        const reason =
          e.seq > expectedSeq
            ? `entry ${expectedSeq} is missing (the next entry has seq ${e.seq})`
            : `unexpected seq ${e.seq} where seq ${expectedSeq} was expected`;
        return { ok: false, entries: checked, firstBrokenSeq: e.seq > expectedSeq ? expectedSeq : e.seq, reason, entry: toAuditView(e) };
      }
      if (e.prevHash !== prevHash) {
        return {
          ok: false,
          entries: checked,
          firstBrokenSeq: e.seq,
          reason: `prevHash does not match the hash of entry ${e.seq - 1}`,
          entry: toAuditView(e),
        };
      }
      if (computeAuditHash(e.prevHash, e) !== e.hash) {
        return {
          ok: false,
          entries: checked,
          firstBrokenSeq: e.seq,
          reason: 'hash does not match the entry: a field was changed after it was written',
          entry: toAuditView(e),
        };
      }
      prevHash = e.hash;
      expectedSeq += 1;
      afterSeq = e.seq;
    }
    if (batch.length < VERIFY_BATCH) return { ok: true, entries: expectedSeq - 1, headHash: prevHash };
  }
}

/** An audit entry as the API shows it. */
export interface AuditEntryView {
  seq: number;
  at: string;
  actor: { type: string; id: string; name: string };
  action: string;
  target: { type: string; id: string };
  beforeDigest: string | null;
  afterDigest: string | null;
  details: Json;
  prevHash: string;
  hash: string;
}

export function toAuditView(e: AuditEntry): AuditEntryView {
  return {
    seq: e.seq,
    at: e.at.toISOString(),
    actor: { type: e.actorType, id: e.actorId, name: e.actorName },
    action: e.action,
    target: { type: e.targetType, id: e.targetId },
    beforeDigest: e.beforeDigest,
    afterDigest: e.afterDigest,
    details: e.details,
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

export interface AuditQuery {
  action?: string;
  actor?: string;
  targetType?: string;
  targetId?: string;
  /** Text in the action, actor name, target type or target id (any case). */
  q?: string;
  before?: number;
  limit?: number;
}

/** A page of the principal's tenant's audit log, newest first; pass `nextBefore` as `before` for the next page. */
export async function listAuditLog(
  db: DbTx,
  principal: Principal,
  query: AuditQuery,
): Promise<{ entries: AuditEntryView[]; nextBefore: number | null }> {
  requirePermission(principal, 'audit.read');
  const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
  const rows = await listAuditEntries(db, principal.tenant.id, {
    action: query.action,
    actor: query.actor,
    targetType: query.targetType,
    targetId: query.targetId,
    search: query.q,
    beforeSeq: query.before,
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  return { entries: page.map(toAuditView), nextBefore: rows.length > limit ? (page.at(-1)?.seq ?? null) : null };
}

/** verifyAuditChain for the principal's tenant. */
export async function verifyAuditLog(db: DbTx, principal: Principal): Promise<AuditVerification> {
  requirePermission(principal, 'audit.verify');
  return verifyAuditChain(db, principal.tenant.id);
}
