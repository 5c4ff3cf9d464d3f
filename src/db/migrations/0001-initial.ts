import { type Kysely, type Migration, sql } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * The initial schema. Rules that money depends on live here as constraints, not only in
 * code: positive amounts, non-negative customer balances, foreign keys, unique account
 * numbers and idempotency keys, and append-only journal entries and postings.
 */
export function initialMigration(engine: Engine): Migration {
  const pgsql = engine === 'postgres';
  const int64 = pgsql ? 'bigint' : 'integer';
  const timestamp = pgsql ? 'timestamptz' : 'text';

  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('full_name', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('pin_hash', 'text')
        .addColumn('failed_pin_attempts', int64, (c) => c.notNull().defaultTo(0))
        .addColumn('locked_at', timestamp)
        .addColumn('lock_reason', 'text')
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('updated_at', timestamp, (c) => c.notNull())
        .addCheckConstraint('users_failed_pin_attempts_check', sql`failed_pin_attempts >= 0`)
        .execute();

      await db.schema
        .createTable('user_roles')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('user_roles_pkey', ['user_id', 'role'])
        .addCheckConstraint(
          'user_roles_role_check',
          sql`role in ('customer', 'teller', 'admin', 'auditor')`,
        )
        .execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('refresh_token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('expires_at', timestamp, (c) => c.notNull())
        .addColumn('revoked_at', timestamp)
        .execute();
      await db.schema.createIndex('sessions_user_idx').on('sessions').column('user_id').execute();

      await db.schema
        .createTable('accounts')
        .addColumn('id', int64, (c) =>
          pgsql ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey(),
        )
        .addColumn('account_number', 'text', (c) => c.notNull().unique())
        .addColumn('user_id', 'text', (c) => c.references('users.id'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('nickname', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('balance_minor', int64, (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addCheckConstraint('accounts_kind_check', sql`kind in ('customer', 'system')`)
        .addCheckConstraint('accounts_type_check', sql`type in ('checking', 'savings', 'cash')`)
        .addCheckConstraint('accounts_status_check', sql`status in ('active', 'frozen')`)
        .addCheckConstraint('accounts_currency_check', sql`length(currency) = 3`)
        // Customers owe nothing to the bank: no overdraft exists, so the database refuses
        // a negative customer balance even if the code above it is wrong.
        .addCheckConstraint(
          'accounts_customer_balance_check',
          sql`kind <> 'customer' or balance_minor >= 0`,
        )
        .addCheckConstraint(
          'accounts_owner_check',
          sql`(kind = 'customer' and user_id is not null and type <> 'cash')
            or (kind = 'system' and user_id is null and type = 'cash')`,
        )
        .execute();
      await db.schema.createIndex('accounts_user_idx').on('accounts').column('user_id').execute();

      await db.schema
        .createTable('journal_entries')
        .addColumn('id', int64, (c) =>
          pgsql ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey(),
        )
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('amount_minor', int64, (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('actor_user_id', 'text', (c) => c.references('users.id'))
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addCheckConstraint(
          'journal_entries_kind_check',
          sql`kind in ('deposit', 'withdrawal', 'transfer')`,
        )
        .addCheckConstraint('journal_entries_amount_check', sql`amount_minor > 0`)
        .execute();

      await db.schema
        .createTable('postings')
        .addColumn('id', int64, (c) =>
          pgsql ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey(),
        )
        .addColumn('entry_id', int64, (c) => c.notNull().references('journal_entries.id'))
        .addColumn('account_id', int64, (c) => c.notNull().references('accounts.id'))
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('amount_minor', int64, (c) => c.notNull())
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('balance_after_minor', int64, (c) => c.notNull())
        .addColumn('counterparty_account_id', int64, (c) => c.references('accounts.id'))
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addCheckConstraint('postings_direction_check', sql`direction in ('debit', 'credit')`)
        .addCheckConstraint('postings_amount_check', sql`amount_minor > 0`)
        .execute();
      // History pages walk one account's postings newest first.
      await db.schema
        .createIndex('postings_account_idx')
        .on('postings')
        .columns(['account_id', 'id'])
        .execute();
      await db.schema.createIndex('postings_entry_idx').on('postings').column('entry_id').execute();

      await db.schema
        .createTable('idempotency_keys')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_pkey', ['user_id', 'key'])
        .execute();

      // The journal is append-only: a correction is a new, reversing entry. The triggers
      // make an UPDATE or DELETE fail even when issued by hand.
      if (pgsql) {
        await sql`
          create function corebank_append_only() returns trigger language plpgsql as $$
          begin
            raise exception 'table % is append-only', tg_table_name;
          end
          $$`.execute(db);
        for (const table of ['journal_entries', 'postings']) {
          await sql`
            create trigger ${sql.raw(`${table}_append_only`)}
            before update or delete on ${sql.table(table)}
            for each row execute function corebank_append_only()`.execute(db);
          await sql`
            create trigger ${sql.raw(`${table}_no_truncate`)}
            before truncate on ${sql.table(table)}
            for each statement execute function corebank_append_only()`.execute(db);
        }
      } else {
        for (const table of ['journal_entries', 'postings']) {
          for (const event of ['update', 'delete']) {
            await sql`
              create trigger ${sql.raw(`${table}_no_${event}`)}
              before ${sql.raw(event)} on ${sql.table(table)}
              begin
                select raise(abort, ${sql.lit(`${table} is append-only`)});
              end`.execute(db);
          }
        }
      }
    },
  };
}
