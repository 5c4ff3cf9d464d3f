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
    },
  };
}
