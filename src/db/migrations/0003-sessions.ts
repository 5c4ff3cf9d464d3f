import { type Kysely, type Migration, sql } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * Sessions become rotating refresh-token families, and password resets get their tables.
 *
 * - `sessions.family_id` names the login a session descends from (a login's first session
 *   is its own family); `parent_id` is the session it was rotated from. Rotation marks the
 *   old row `spent_at` and inserts a child, so presenting a spent refresh token again is
 *   recognisable as theft and revokes the whole family (`revoked_reason` says why).
 * - `password_reset_tokens` holds only SHA-256 hashes of single-use, short-lived tokens.
 * - `email_outbox` is written in the same transaction as the action that sends mail, and
 *   an in-process sender delivers it, so mail is neither lost nor sent for a rolled-back
 *   action, and SMTP latency never shows in a response time.
 */
export function sessionsMigration(engine: Engine): Migration {
  const pgsql = engine === 'postgres';
  const int64 = pgsql ? 'bigint' : 'integer';
  const timestamp = pgsql ? 'timestamptz' : 'text';
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('sessions').addColumn('family_id', 'text').execute();
      await db.schema.alterTable('sessions').addColumn('parent_id', 'text').execute();
      await db.schema.alterTable('sessions').addColumn('spent_at', timestamp).execute();
      await db.schema.alterTable('sessions').addColumn('revoked_reason', 'text').execute();
      // Sessions from before this migration are each a family of their own.
      await db
        .updateTable('sessions')
        .set({ family_id: sql.ref('id') })
        .execute();
      await db.schema
        .createIndex('sessions_family_idx')
        .on('sessions')
        .column('family_id')
        .execute();

      await db.schema
        .createTable('password_reset_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('expires_at', timestamp, (c) => c.notNull())
        .addColumn('used_at', timestamp)
        .execute();
      await db.schema
        .createIndex('password_reset_tokens_user_idx')
        .on('password_reset_tokens')
        .column('user_id')
        .execute();

      await db.schema
        .createTable('email_outbox')
        .addColumn('id', int64, (c) =>
          pgsql ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey(),
        )
        .addColumn('recipient', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('body_text', 'text', (c) => c.notNull())
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('attempts', int64, (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', timestamp, (c) => c.notNull())
        .addColumn('claim_token', 'text')
        .addColumn('claimed_until', timestamp)
        .addColumn('sent_at', timestamp)
        .addColumn('failed_at', timestamp)
        .addColumn('last_error', 'text')
        .addCheckConstraint('email_outbox_attempts_check', sql`attempts >= 0`)
        .execute();
      await db.schema
        .createIndex('email_outbox_pending_idx')
        .on('email_outbox')
        .columns(['sent_at', 'failed_at', 'next_attempt_at'])
        .execute();
    },
  };
}
