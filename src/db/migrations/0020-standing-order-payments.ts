import { type Kysely, type Migration, sql } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * Standing orders that pay another bank (issue #14): an order names either one of our
 * accounts (`to_account_id`) or a beneficiary at another bank (the three `beneficiary_*`
 * columns), never both and never neither (a check constraint). Each run of such an order
 * records the outbound payment it made (`standing_order_runs.payment_id`).
 *
 * PostgreSQL drops the NOT NULL of `to_account_id` in place. SQLite cannot change a
 * column's constraints, so the table is rebuilt the way SQLite documents it ("making other
 * kinds of table schema changes", https://www.sqlite.org/lang_altertable.html): foreign keys
 * off (outside any transaction, where the pragma takes effect), then in one transaction a
 * new table, the rows copied, the old table dropped, the new one renamed, its indexes
 * created again and `foreign_key_check` run, then foreign keys on again. The runs'
 * reference to `standing_orders` is by name, so it points at the new table.
 */
export function standingOrderPaymentsMigration(engine: Engine): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      if (engine === 'postgres') {
        await sql`alter table standing_orders alter column to_account_id drop not null`.execute(db);
        await db.schema
          .alterTable('standing_orders')
          .addColumn('beneficiary_name', 'text')
          .execute();
        await db.schema
          .alterTable('standing_orders')
          .addColumn('beneficiary_bank_code', 'text')
          .execute();
        await db.schema
          .alterTable('standing_orders')
          .addColumn('beneficiary_account', 'text')
          .execute();
        await sql`alter table standing_orders add constraint standing_orders_payee_check check (${PAYEE_CHECK})`.execute(
          db,
        );
      } else {
        await rebuildSqliteOrders(db);
      }
      await db.schema.alterTable('standing_order_runs').addColumn('payment_id', 'text').execute();
    },
  };
}

/** Exactly one payee: our account, or all three beneficiary fields. */
const PAYEE_CHECK = sql.raw(
  `(to_account_id is not null and beneficiary_name is null and beneficiary_bank_code is null and beneficiary_account is null)
   or (to_account_id is null and beneficiary_name is not null and beneficiary_bank_code is not null and beneficiary_account is not null)`,
);

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
async function rebuildSqliteOrders(db: Kysely<any>): Promise<void> {
  await sql`pragma foreign_keys = off`.execute(db);
  try {
    await db.transaction().execute(async (trx) => {
      await trx.schema
        .createTable('standing_orders_new')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id'))
        .addColumn('to_account_id', 'integer', (c) => c.references('accounts.id'))
        .addColumn('beneficiary_name', 'text')
        .addColumn('beneficiary_bank_code', 'text')
        .addColumn('beneficiary_account', 'text')
        .addColumn('amount_minor', 'integer', (c) => c.notNull())
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('frequency', 'text', (c) => c.notNull())
        .addColumn('start_date', 'text', (c) => c.notNull())
        .addColumn('end_date', 'text')
        .addColumn('description', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('stop_reason', 'text')
        .addColumn('next_due_date', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
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
        .addCheckConstraint('standing_orders_payee_check', PAYEE_CHECK)
        .execute();
      const columns = sql.raw(
        'id, user_id, account_id, to_account_id, amount_minor, currency, frequency, start_date, end_date, description, status, stop_reason, next_due_date, created_at, updated_at',
      );
      await sql`insert into standing_orders_new (${columns}) select ${columns} from standing_orders`.execute(
        trx,
      );
      await trx.schema.dropTable('standing_orders').execute();
      await trx.schema.alterTable('standing_orders_new').renameTo('standing_orders').execute();
      await trx.schema
        .createIndex('standing_orders_due_idx')
        .on('standing_orders')
        .columns(['status', 'next_due_date'])
        .execute();
      await trx.schema
        .createIndex('standing_orders_account_idx')
        .on('standing_orders')
        .columns(['account_id', 'created_at'])
        .execute();
      const broken = await sql`pragma foreign_key_check`.execute(trx);
      if (broken.rows.length > 0) {
        throw new Error(`standing_orders rebuild broke ${broken.rows.length} foreign keys`);
      }
    });
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
  }
}
