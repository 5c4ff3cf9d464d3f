import { type Kysely, type Migration, sql } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * Controls (issue #13): per-user daily outgoing limits, maker-checker approvals and the
 * links between a transaction and its reversal.
 *
 * - `user_limits` holds an admin's limit for one user and currency; without a row the
 *   configured default applies (`DAILY_OUTGOING_LIMIT`).
 * - `approvals`: one row per request; `status` moves from `pending` to `approved` or
 *   `rejected` exactly once (the decision is a conditional update on `status = 'pending'`).
 * - `reversals`: its primary key on the original entry is what makes a transaction
 *   reversible at most once, whatever runs in parallel.
 */
export function controlsMigration(engine: Engine): Migration {
  const pgsql = engine === 'postgres';
  const int64 = pgsql ? 'bigint' : 'integer';
  const timestamp = pgsql ? 'timestamptz' : 'text';
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('user_limits')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('daily_outgoing_minor', int64, (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('updated_at', timestamp, (c) => c.notNull())
        .addPrimaryKeyConstraint('user_limits_pkey', ['user_id', 'currency'])
        .addCheckConstraint('user_limits_amount_check', sql`daily_outgoing_minor >= 0`)
        .execute();

      await db.schema
        .createTable('approvals')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('requested_by', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('reason', 'text')
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('subject_key', 'text', (c) => c.notNull())
        .addColumn('decided_by', 'text', (c) => c.references('users.id'))
        .addColumn('decision_reason', 'text')
        .addColumn('result', 'text')
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('decided_at', timestamp)
        .addCheckConstraint('approvals_kind_check', sql`kind in ('reversal', 'large_deposit')`)
        .addCheckConstraint(
          'approvals_status_check',
          sql`status in ('pending', 'approved', 'rejected')`,
        )
        .execute();
      await db.schema
        .createIndex('approvals_status_idx')
        .on('approvals')
        .columns(['status', 'created_at'])
        .execute();
      await db.schema
        .createIndex('approvals_subject_idx')
        .on('approvals')
        .columns(['subject_key', 'status'])
        .execute();

      await db.schema
        .createTable('reversals')
        .addColumn('original_entry_id', int64, (c) =>
          c.primaryKey().references('journal_entries.id'),
        )
        .addColumn('reversal_entry_id', int64, (c) =>
          c.notNull().unique().references('journal_entries.id'),
        )
        .addColumn('approval_id', 'text', (c) => c.notNull().references('approvals.id'))
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .execute();
    },
  };
}
