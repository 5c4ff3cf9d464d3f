import type { Kysely, Migration } from 'kysely';
import { sql } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * Holds (two-phase movements, issue #12): money reserved on an account until it is
 * captured, voided or expires. A hold changes no balance; it lowers the available balance
 * while it is `pending` and unexpired. Status changes are conditional updates
 * (`where status = 'pending'`), so a hold leaves `pending` exactly once.
 */
export function holdsMigration(engine: Engine): Migration {
  const timestamp = engine === 'postgres' ? 'timestamptz' : 'text';
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('holds')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'bigint', (c) => c.notNull().references('accounts.id'))
        .addColumn('amount_minor', 'bigint', (c) => c.notNull())
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('captured_minor', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('description', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('capture_transaction_id', 'text')
        .addColumn('expires_at', timestamp, (c) => c.notNull())
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('updated_at', timestamp, (c) => c.notNull())
        .addCheckConstraint(
          'holds_status_check',
          sql`status in ('pending', 'captured', 'voided', 'expired')`,
        )
        .addCheckConstraint('holds_amount_check', sql`amount_minor > 0`)
        .addCheckConstraint(
          'holds_captured_check',
          sql`captured_minor >= 0 and captured_minor <= amount_minor`,
        )
        .execute();
      await db.schema
        .createIndex('holds_account_status_idx')
        .on('holds')
        .columns(['account_id', 'status'])
        .execute();
      await db.schema
        .createIndex('holds_status_expires_idx')
        .on('holds')
        .columns(['status', 'expires_at'])
        .execute();

      // Payments to and from other banks. An outbound payment owns a hold; the dispatcher
      // claims a payment by a conditional update of its lease, so one process submits it.
      await db.schema
        .createTable('payments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('account_id', 'bigint', (c) => c.notNull().references('accounts.id'))
        .addColumn('user_id', 'text', (c) => c.references('users.id'))
        .addColumn('amount_minor', 'bigint', (c) => c.notNull())
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('counterparty_name', 'text', (c) => c.notNull())
        .addColumn('counterparty_bank_code', 'text', (c) => c.notNull())
        .addColumn('counterparty_account', 'text', (c) => c.notNull())
        .addColumn('reference', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('status_history', 'text', (c) => c.notNull())
        .addColumn('hold_id', 'text', (c) => c.references('holds.id'))
        .addColumn('transaction_id', 'text')
        .addColumn('network_payment_id', 'text', (c) => c.unique())
        .addColumn('submit_attempts', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', timestamp)
        .addColumn('lease_until', timestamp)
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('updated_at', timestamp, (c) => c.notNull())
        .addCheckConstraint('payments_direction_check', sql`direction in ('outbound', 'inbound')`)
        .addCheckConstraint(
          'payments_status_check',
          sql`status in ('pending', 'submitted', 'settled', 'rejected', 'failed', 'returned', 'credited')`,
        )
        .addCheckConstraint('payments_amount_check', sql`amount_minor > 0`)
        .execute();
      await db.schema
        .createIndex('payments_account_idx')
        .on('payments')
        .columns(['account_id', 'created_at'])
        .execute();
      await db.schema
        .createIndex('payments_due_idx')
        .on('payments')
        .columns(['status', 'next_attempt_at'])
        .execute();
    },
  };
}
