import { type Kysely, type Migration, sql } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * PostgreSQL reads and locks everything a money batch needs in one round trip (issue #17,
 * item 4; docs/decisions/0027-batch-read-function.md): `corebank_read_batch`, a function
 * taking arrays, runs the batch's five reads in the order the engine always ran them, as
 * separate statements inside the server, and answers one JSON document.
 *
 * The reads cannot be folded into one SQL statement instead. Under READ COMMITTED a
 * statement that waits for a row lock re-checks only the locked row; its other reads keep
 * the snapshot taken before the wait, so a hold, an idempotency key or a limit committed by
 * the transaction it waited for would be missed. Inside a VOLATILE function each statement
 * takes a new snapshot, exactly as separate statements from the client did, so every read
 * after a lock sees what the lock's previous holder committed.
 *
 * Order (the global lock order of docs/decisions/0007-group-commit.md): the acting users,
 * locked in ascending id; their own limits; their idempotency keys; the accounts, locked in
 * ascending id; the pending holds on those accounts (unexpired at `p_now`); the named holds.
 * 64-bit integers travel as text (a JSON number would lose precision past 2^53), and
 * timestamps in the same ISO form the driver gives the application (`…T…Z`, milliseconds).
 * SQLite has no round trips to save and keeps its separate statements.
 */
export function batchReadFunctionMigration(engine: Engine): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      if (engine !== 'postgres') return;
      await sql`
        create function corebank_iso(t timestamptz) returns text
        language sql immutable strict parallel safe as $$
          select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        $$`.execute(db);
      await sql`
        create function corebank_read_batch(
          p_user_ids text[],
          p_key_users text[],
          p_keys text[],
          p_account_numbers text[],
          p_hold_ids text[],
          p_now timestamptz
        ) returns jsonb language plpgsql volatile as $$
        declare
          v_users jsonb;
          v_limits jsonb;
          v_keys jsonb;
          v_accounts jsonb;
          v_account_ids bigint[];
          v_pending jsonb;
          v_holds jsonb;
        begin
          select coalesce(jsonb_agg(jsonb_build_object(
              'id', u.id,
              'pin_hash', u.pin_hash,
              'failed_pin_attempts', u.failed_pin_attempts::text,
              'locked', u.locked_at is not null) order by u.id), '[]'::jsonb)
            into v_users
            from (select id, pin_hash, failed_pin_attempts, locked_at from users
                  where id = any(p_user_ids) order by id for no key update) u;

          select coalesce(jsonb_agg(jsonb_build_object(
              'user_id', l.user_id,
              'currency', l.currency,
              'daily_outgoing_minor', l.daily_outgoing_minor::text)), '[]'::jsonb)
            into v_limits
            from user_limits l where l.user_id = any(p_user_ids);

          select coalesce(jsonb_agg(jsonb_build_object(
              'user_id', k.user_id,
              'key', k.key,
              'request_hash', k.request_hash,
              'outcome', k.outcome)), '[]'::jsonb)
            into v_keys
            from idempotency_keys k
            join unnest(p_key_users, p_keys) as q(user_id, key)
              on k.user_id = q.user_id and k.key = q.key;

          select coalesce(jsonb_agg(jsonb_build_object(
              'id', a.id::text,
              'account_number', a.account_number,
              'user_id', a.user_id,
              'kind', a.kind,
              'type', a.type,
              'currency', a.currency,
              'nickname', a.nickname,
              'status', a.status,
              'balance_minor', a.balance_minor::text,
              'created_at', corebank_iso(a.created_at)) order by a.id), '[]'::jsonb),
            coalesce(array_agg(a.id order by a.id), '{}')
            into v_accounts, v_account_ids
            from (select id, account_number, user_id, kind, type, currency, nickname, status,
                         balance_minor, created_at
                  from accounts where account_number = any(p_account_numbers)
                  order by id for no key update) a;

          select coalesce(jsonb_agg(jsonb_build_object(
              'account_id', s.account_id::text,
              'total', s.total::text)), '[]'::jsonb)
            into v_pending
            from (select h.account_id, sum(h.amount_minor) as total from holds h
                  where h.account_id = any(v_account_ids)
                    and h.status = 'pending' and h.expires_at > p_now
                  group by h.account_id) s;

          select coalesce(jsonb_agg(jsonb_build_object(
              'id', h.id,
              'account_id', h.account_id::text,
              'account_number', a.account_number,
              'amount_minor', h.amount_minor::text,
              'currency', h.currency,
              'status', h.status,
              'captured_minor', h.captured_minor::text,
              'description', h.description,
              'expires_at', corebank_iso(h.expires_at),
              'created_at', corebank_iso(h.created_at),
              'updated_at', corebank_iso(h.updated_at),
              'capture_transaction_id', h.capture_transaction_id)), '[]'::jsonb)
            into v_holds
            from holds h join accounts a on a.id = h.account_id
            where h.id = any(p_hold_ids);

          return jsonb_build_object(
            'users', v_users,
            'limits', v_limits,
            'keys', v_keys,
            'accounts', v_accounts,
            'pending', v_pending,
            'holds', v_holds);
        end
        $$`.execute(db);
    },
  };
}
