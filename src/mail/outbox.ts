import crypto from 'node:crypto';
import type { Db, Trx } from '../db/database.ts';

/** All SQL of the e-mail outbox. */

export interface OutgoingEmail {
  recipient: string;
  subject: string;
  bodyText: string;
}

export interface ClaimedEmail extends OutgoingEmail {
  id: bigint;
  attempts: number;
}

/** Queues a message inside the caller's transaction: it exists only if the action commits. */
export async function enqueueEmail(trx: Trx, email: OutgoingEmail, now: string): Promise<void> {
  await trx
    .insertInto('email_outbox')
    .values({
      recipient: email.recipient,
      subject: email.subject,
      body_text: email.bodyText,
      created_at: now,
      attempts: 0n,
      next_attempt_at: now,
      claim_token: null,
      claimed_until: null,
      sent_at: null,
      failed_at: null,
      last_error: null,
    })
    .execute();
}

/**
 * Claims up to `limit` due messages for `leaseMs`: a lease rather than a lock, so several
 * server processes can share the outbox without a transaction held open across SMTP, and a
 * sender that dies mid-way only delays its messages until the lease runs out.
 */
export async function claimDueEmails(
  db: Db,
  limit: number,
  leaseMs: number,
  now: Date,
): Promise<ClaimedEmail[]> {
  const nowIso = now.toISOString();
  const claim = crypto.randomUUID();
  await db
    .updateTable('email_outbox')
    .set({ claim_token: claim, claimed_until: new Date(now.getTime() + leaseMs).toISOString() })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('email_outbox')
        .select('id')
        .where('sent_at', 'is', null)
        .where('failed_at', 'is', null)
        .where('next_attempt_at', '<=', nowIso)
        .where((w) => w.or([w('claimed_until', 'is', null), w('claimed_until', '<', nowIso)]))
        .orderBy('id')
        .limit(limit),
    )
    .where((w) => w.or([w('claimed_until', 'is', null), w('claimed_until', '<', nowIso)]))
    .execute();
  const rows = await db
    .selectFrom('email_outbox')
    .select(['id', 'recipient', 'subject', 'body_text', 'attempts'])
    .where('claim_token', '=', claim)
    .orderBy('id')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    recipient: row.recipient,
    subject: row.subject,
    bodyText: row.body_text,
    attempts: Number(row.attempts),
  }));
}

/**
 * Marks a message delivered and blanks its body: a reset message carries a live token, and
 * once it has left there is no reason to keep a copy where a database leak would expose it.
 */
export async function markEmailSent(db: Db, id: bigint, now: string): Promise<void> {
  await db
    .updateTable('email_outbox')
    .set({ sent_at: now, body_text: '', claim_token: null, claimed_until: null, last_error: null })
    .where('id', '=', id)
    .execute();
}

export async function markEmailFailed(
  db: Db,
  id: bigint,
  attempts: number,
  error: string,
  nextAttemptAt: string | null,
  now: string,
): Promise<void> {
  await db
    .updateTable('email_outbox')
    .set({
      attempts: BigInt(attempts),
      last_error: error.slice(0, 500),
      claim_token: null,
      claimed_until: null,
      ...(nextAttemptAt === null
        ? { failed_at: now, body_text: '' }
        : { next_attempt_at: nextAttemptAt }),
    })
    .where('id', '=', id)
    .execute();
}
