import { type Kysely, type Migration, sql } from 'kysely';
import type { Engine } from '../database.ts';

/** The message a trigger raises when an insert would pass a per-user row limit. */
export const ACCOUNT_LIMIT_MARKER = 'corebank:account_limit_reached';

/**
 * Security round two (issue #10).
 *
 * - `users.failed_auth_attempts`: wrong passwords and one-time codes in a row by someone
 *   who already holds a session or the password (PIN change, password change, MFA changes,
 *   staff step-up codes, login codes). Like wrong PINs, enough of them lock the user.
 * - The per-customer account limit (10) is enforced by the database itself. The service's
 *   count-then-insert is a race on PostgreSQL (40 parallel requests opened 12 accounts); the
 *   trigger first locks the owner's row, so concurrent inserts for one customer queue and
 *   each counts what the others committed. SQLite has one writer at a time, so counting in
 *   the trigger is already exact there. The number is written here on purpose: a migration
 *   is frozen, and raising the limit is a new migration.
 */
export function securityMigration(engine: Engine): Migration {
  const pgsql = engine === 'postgres';
  const int64 = pgsql ? 'bigint' : 'integer';
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .alterTable('users')
        .addColumn('failed_auth_attempts', int64, (c) => c.notNull().defaultTo(0))
        .execute();
      if (pgsql) {
        await sql`
          create function corebank_account_limit() returns trigger language plpgsql as $$
          begin
            if new.kind = 'customer' and new.user_id is not null then
              perform 1 from users where id = new.user_id for no key update;
              if (select count(*) from accounts
                  where user_id = new.user_id and kind = 'customer') >= 10 then
                raise exception ${sql.lit(ACCOUNT_LIMIT_MARKER)};
              end if;
            end if;
            return new;
          end
          $$`.execute(db);
        await sql`
          create trigger accounts_limit_per_user
          before insert on accounts
          for each row execute function corebank_account_limit()`.execute(db);
      } else {
        await sql`
          create trigger accounts_limit_per_user
          before insert on accounts
          when new.kind = 'customer' and new.user_id is not null
          begin
            select raise(abort, ${sql.lit(ACCOUNT_LIMIT_MARKER)})
            where (select count(*) from accounts
                   where user_id = new.user_id and kind = 'customer') >= 10;
          end`.execute(db);
      }
    },
  };
}
