import { type Kysely, type Migration, sql } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * PostgreSQL checks the ledger's references once per statement instead of once per row
 * (issue #17, item 4; docs/decisions/0026-ledger-reference-checks.md).
 *
 * A foreign key runs one lookup of the referenced row per inserted row and per key, through
 * the SPI, about 10 µs each: a batch of 64 transfers (64 entries, 128 postings) made 448 of
 * them, three quarters of the time of its inserts. The four foreign keys on the write path
 * (a posting's entry, account and counterparty; an entry's acting user) are replaced by two
 * statement-level triggers that see every inserted row at once (a transition table) and
 * check them with one set-based query per referenced table. What a foreign key guaranteed
 * still holds:
 * - a reference to nothing is refused, with SQLSTATE 23503 (foreign_key_violation);
 * - the referenced accounts and users are locked FOR KEY SHARE, as a foreign key locks
 *   them, so no concurrent transaction can delete them or change their key before this one
 *   commits (a row the transaction has locked already, as the money batch has, costs no new
 *   lock); journal entries need no lock, being append-only (migration 0001);
 * - an account or user the ledger refers to cannot be deleted or renumbered (a row trigger
 *   on each; entries and postings are append-only already, migration 0001).
 * Every other foreign key stays: they guard tables written once per user action, not per
 * posting. SQLite keeps its foreign keys: it checks them in-process through the parent's
 * primary key, with no per-row round trip to remove.
 */
export function ledgerReferenceChecksMigration(engine: Engine): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      if (engine !== 'postgres') return;
      await sql`
        alter table postings
          drop constraint postings_entry_id_fkey,
          drop constraint postings_account_id_fkey,
          drop constraint postings_counterparty_account_id_fkey`.execute(db);
      await sql`
        alter table journal_entries drop constraint journal_entries_actor_user_id_fkey`.execute(db);
      await sql`
        create function corebank_postings_references() returns trigger language plpgsql as $$
        declare
          account_ids bigint[];
          entry_ids bigint[];
          present integer;
          missing bigint;
        begin
          select array_agg(distinct id) into account_ids from (
            select account_id as id from inserted
            union all
            select counterparty_account_id from inserted where counterparty_account_id is not null
          ) referenced;
          select count(*) into present from (
            select 1 from accounts where id = any(account_ids) order by id for key share
          ) locked;
          if present <> cardinality(account_ids) then
            select r.ref into missing from unnest(account_ids) as r(ref)
              where not exists (select 1 from accounts a where a.id = r.ref) limit 1;
            raise exception 'a posting refers to nothing: account %', missing
              using errcode = 'foreign_key_violation', table = 'postings';
          end if;
          select array_agg(distinct entry_id) into entry_ids from inserted;
          select count(*) into present from journal_entries where id = any(entry_ids);
          if present <> cardinality(entry_ids) then
            select r.ref into missing from unnest(entry_ids) as r(ref)
              where not exists (select 1 from journal_entries e where e.id = r.ref) limit 1;
            raise exception 'a posting refers to nothing: journal entry %', missing
              using errcode = 'foreign_key_violation', table = 'postings';
          end if;
          return null;
        end
        $$`.execute(db);
      await sql`
        create trigger postings_references
        after insert on postings
        referencing new table as inserted
        for each statement execute function corebank_postings_references()`.execute(db);
      await sql`
        create function corebank_entries_references() returns trigger language plpgsql as $$
        declare
          user_ids text[];
          present integer;
          missing text;
        begin
          select array_agg(distinct actor_user_id) into user_ids
            from inserted where actor_user_id is not null;
          if user_ids is null then
            return null;
          end if;
          select count(*) into present from (
            select 1 from users where id = any(user_ids) order by id for key share
          ) locked;
          if present <> cardinality(user_ids) then
            select r.ref into missing from unnest(user_ids) as r(ref)
              where not exists (select 1 from users u where u.id = r.ref) limit 1;
            raise exception 'a journal entry refers to no user: actor %', missing
              using errcode = 'foreign_key_violation', table = 'journal_entries';
          end if;
          return null;
        end
        $$`.execute(db);
      await sql`
        create trigger journal_entries_references
        after insert on journal_entries
        referencing new table as inserted
        for each statement execute function corebank_entries_references()`.execute(db);
      // The other half of a foreign key: what the ledger refers to stays. Nothing in
      // Corebank deletes an account or a user, so this only ever stops a hand-made mistake.
      await sql`
        create function corebank_referenced_by_ledger() returns trigger language plpgsql as $$
        begin
          if tg_op = 'UPDATE' and new.id = old.id then
            return new;
          end if;
          if tg_table_name = 'accounts' then
            if exists (select 1 from postings where account_id = old.id)
               or exists (select 1 from postings where counterparty_account_id = old.id) then
              raise exception 'account % is referenced by the ledger', old.id
                using errcode = 'foreign_key_violation', table = 'accounts';
            end if;
          elsif exists (select 1 from journal_entries where actor_user_id = old.id) then
            raise exception 'user % is referenced by the ledger', old.id
              using errcode = 'foreign_key_violation', table = 'users';
          end if;
          return case when tg_op = 'DELETE' then old else new end;
        end
        $$`.execute(db);
      for (const table of ['accounts', 'users']) {
        await sql`
          create trigger ${sql.raw(`${table}_referenced_by_ledger`)}
          before delete or update of id on ${sql.table(table)}
          for each row execute function corebank_referenced_by_ledger()`.execute(db);
      }
    },
  };
}
