import crypto from 'node:crypto';
import type { Db, Engine, Trx } from '../db/database.ts';

/** Every kind of audited event, named `area.verb` in the past tense. */
export const AUDIT_ACTIONS = [
  'auth.login',
  'auth.logout',
  'auth.refresh_reused',
  'auth.password_changed',
  'auth.password_reset_requested',
  'auth.password_reset',
  'auth.pin_changed',
  'auth.mfa_enabled',
  'auth.mfa_disabled',
  'auth.mfa_recovery_codes_renewed',
  'auth.session_ended',
  'user.created',
  'user.locked',
  'user.unlocked',
  'user.roles_changed',
  'account.frozen',
  'account.unfrozen',
  'money.staff_deposit',
  'money.staff_withdrawal',
  'webhook.endpoint_created',
  'webhook.endpoint_deleted',
  'money.staff_hold_placed',
  'money.staff_hold_captured',
  'money.staff_hold_voided',
  'money.reversal',
  'limits.changed',
  'approval.requested',
  'approval.approved',
  'approval.rejected',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type AuditOutcome = 'success' | 'failure' | 'denied';

export interface AuditEvent {
  /** Who acted; null for an anonymous caller (a failed login names no one). */
  actorUserId: string | null;
  action: AuditAction;
  /** What was acted on: `user:<id>`, `account:<number>`, `username:<name>`, … */
  target: string | null;
  outcome: AuditOutcome;
  /** Client address as Fastify resolved it (trusted proxies applied). */
  ip: string | null;
  /** Small, non-secret facts (never a password, PIN, token or code). */
  details?: Readonly<Record<string, string | number | boolean | null>>;
}

export interface AuditRecord {
  id: bigint;
  at: string;
  actorUserId: string | null;
  action: string;
  target: string | null;
  outcome: AuditOutcome;
  ip: string | null;
  details: string | null;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = 'genesis';

/**
 * The hash of one event: SHA-256 over the previous event's hash and this event's fields.
 * Changing any field of any event, deleting one, or reordering them changes every hash
 * after it, so `audit verify` finds the first row that no longer fits.
 */
export function auditHash(
  prevHash: string,
  row: Pick<AuditRecord, 'at' | 'actorUserId' | 'action' | 'target' | 'outcome' | 'ip' | 'details'>,
): string {
  const canonical = JSON.stringify([
    row.at,
    row.actorUserId,
    row.action,
    row.target,
    row.outcome,
    row.ip,
    row.details,
  ]);
  return crypto.createHash('sha256').update(`${prevHash}\n${canonical}`).digest('hex');
}

/**
 * Appends an event inside the caller's transaction, so the event commits (or not) with the
 * action it describes. The chain head row is locked first, which orders concurrent appends
 * on PostgreSQL; SQLite serialises writers already.
 */
/**
 * Control characters (newlines, ANSI escapes, C1 controls) and directional overrides are
 * written as `\uXXXX`: an attacker-chosen username must not forge lines or colours in a
 * terminal or a log viewer that shows the trail.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function encodeAuditText(value: string): string {
  return value.replace(
    UNSAFE_TEXT,
    (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

function encodeDetails(
  details: Readonly<Record<string, string | number | boolean | null>>,
): Record<string, string | number | boolean | null> {
  return Object.fromEntries(
    Object.entries(details).map(([key, value]) => [
      encodeAuditText(key),
      typeof value === 'string' ? encodeAuditText(value) : value,
    ]),
  );
}

export async function appendAudit(
  trx: Trx,
  engine: Engine,
  event: AuditEvent,
  at: string = new Date().toISOString(),
): Promise<void> {
  const head = await trx
    .selectFrom('audit_head')
    .select(['last_hash', 'length'])
    .where('id', '=', 1n)
    .$if(engine === 'postgres', (q) => q.forUpdate())
    .executeTakeFirstOrThrow();
  const details = event.details === undefined ? null : JSON.stringify(encodeDetails(event.details));
  const row = {
    at,
    actorUserId: event.actorUserId,
    action: event.action,
    target: event.target === null ? null : encodeAuditText(event.target),
    outcome: event.outcome,
    ip: event.ip,
    details,
  };
  const hash = auditHash(head.last_hash, row);
  await trx
    .insertInto('audit_events')
    .values({
      at,
      actor_user_id: row.actorUserId,
      action: row.action,
      target: row.target,
      outcome: row.outcome,
      ip: row.ip,
      details,
      prev_hash: head.last_hash,
      hash,
    })
    .execute();
  await trx
    .updateTable('audit_head')
    .set({ last_hash: hash, length: head.length + 1n })
    .where('id', '=', 1n)
    .execute();
}

/** Appends an event in a transaction of its own (for events with no other write). */
export async function recordAudit(db: Db, engine: Engine, event: AuditEvent): Promise<void> {
  await db.transaction().execute((trx) => appendAudit(trx, engine, event));
}

export type AuditVerifyResult =
  | { ok: true; length: bigint }
  | { ok: false; problem: string; length: bigint };

const VERIFY_PAGE = 1000;

/** Recomputes the whole chain from the table and compares it with the stored head. */
export async function verifyAudit(db: Db): Promise<AuditVerifyResult> {
  let prev = GENESIS_HASH;
  let seen = 0n;
  let afterId = 0n;
  for (;;) {
    const rows = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(VERIFY_PAGE)
      .execute();
    for (const row of rows) {
      if (row.prev_hash !== prev) {
        return {
          ok: false,
          problem: `audit event ${row.id} does not follow the event before it: an event was deleted or reordered`,
          length: seen,
        };
      }
      const expected = auditHash(prev, {
        at: row.at,
        actorUserId: row.actor_user_id,
        action: row.action,
        target: row.target,
        outcome: row.outcome,
        ip: row.ip,
        details: row.details,
      });
      if (expected !== row.hash) {
        return {
          ok: false,
          problem: `audit event ${row.id} was altered after it was written`,
          length: seen,
        };
      }
      prev = row.hash;
      seen += 1n;
      afterId = row.id;
    }
    if (rows.length < VERIFY_PAGE) break;
  }
  const head = await db
    .selectFrom('audit_head')
    .select(['last_hash', 'length'])
    .where('id', '=', 1n)
    .executeTakeFirst();
  if (head === undefined || head.last_hash !== prev || head.length !== seen) {
    return {
      ok: false,
      problem: `the audit trail ends at event ${afterId} but its head records ${head?.length ?? 'no'} events: the newest events were deleted`,
      length: seen,
    };
  }
  return { ok: true, length: seen };
}
