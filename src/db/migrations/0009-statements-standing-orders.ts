import { type Kysely, type Migration, sql } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * Statements, balances in time and standing orders.
 *
 * - `postings_account_time_idx` (account, time, id) makes "the last posting of this account
 *   at or before an instant" one backward index probe, and lets a statement walk one month
 *   of an account in order without sorting, whatever the length of the history.
 * - `standing_orders` holds each order and its next due date; `standing_order_runs` one row
 *   per attempt at a due date. Its primary key (order, due date, attempt) is what makes a
 *   due date run at most once however many schedulers see it; the lease columns say which
 *   process is working on a pending run, and a lease that runs out (its process died) lets
 *   another take the run over. Dates are ISO `YYYY-MM-DD` text on both engines.
 */
export function statementsStandingOrdersMigration(engine: Engine): Migration {
  const pgsql = engine === 'postgres';
  const int64 = pgsql ? 'bigint' : 'integer';
  const timestamp = pgsql ? 'timestamptz' : 'text';
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createIndex('postings_account_time_idx')
        .on('postings')
        .columns(['account_id', 'created_at', 'id'])
        .execute();

      await db.schema
        .createTable('standing_orders')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('account_id', int64, (c) => c.notNull().references('accounts.id'))
        .addColumn('to_account_id', int64, (c) => c.notNull().references('accounts.id'))
        .addColumn('amount_minor', int64, (c) => c.notNull())
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('frequency', 'text', (c) => c.notNull())
        .addColumn('start_date', 'text', (c) => c.notNull())
        .addColumn('end_date', 'text')
        .addColumn('description', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('stop_reason', 'text')
        .addColumn('next_due_date', 'text')
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('updated_at', timestamp, (c) => c.notNull())
        .addCheckConstraint('standing_orders_amount_check', sql`amount_minor > 0`)
        .addCheckConstraint(
          'standing_orders_frequency_check',
          sql`frequency in ('daily', 'weekly', 'monthly')`,
        )
        .addCheckConstraint(
          'standing_orders_status_check',
          sql`status in ('active', 'cancelled', 'stopped', 'completed')`,
        )
        .addCheckConstraint(
          'standing_orders_dates_check',
          sql`end_date is null or end_date >= start_date`,
        )
        .execute();
      await db.schema
        .createIndex('standing_orders_due_idx')
        .on('standing_orders')
        .columns(['status', 'next_due_date'])
        .execute();
      await db.schema
        .createIndex('standing_orders_account_idx')
        .on('standing_orders')
        .columns(['account_id', 'created_at'])
        .execute();

      await db.schema
        .createTable('standing_order_runs')
        .addColumn('order_id', 'text', (c) => c.notNull().references('standing_orders.id'))
        .addColumn('due_date', 'text', (c) => c.notNull())
        .addColumn('attempt', int64, (c) => c.notNull())
        .addColumn('run_on', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('transaction_id', 'text')
        .addColumn('reason', 'text')
        .addColumn('detail', 'text')
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', timestamp)
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('completed_at', timestamp)
        .addPrimaryKeyConstraint('standing_order_runs_pkey', ['order_id', 'due_date', 'attempt'])
        .addCheckConstraint('standing_order_runs_attempt_check', sql`attempt in (1, 2)`)
        .addCheckConstraint(
          'standing_order_runs_status_check',
          sql`status in ('pending', 'done', 'failed')`,
        )
        .execute();
      await db.schema
        .createIndex('standing_order_runs_pending_idx')
        .on('standing_order_runs')
        .columns(['status', 'run_on'])
        .execute();
    },
  };
}
