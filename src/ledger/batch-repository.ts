import { type RawBuilder, sql } from 'kysely';
import type { DailyOutgoing } from '../controls/limits.ts';
import type { Engine, Trx } from '../db/database.ts';
import type { JournalEntriesTable, PostingsTable } from '../db/schema.ts';
import type { CloudEvent } from '../events/outbox.ts';

/**
 * The SQL of the batched money path: each function reads or writes the rows of a whole
 * batch of commands in one statement, so a batch costs a fixed number of round trips
 * whatever its size. Every function needs the batch's transaction.
 */

export interface UserGate {
  id: string;
  pinHash: string | null;
  failedPinAttempts: number;
  locked: boolean;
  /**
   * Daily outgoing limits and today's use per currency (src/controls/limits.ts), read under
   * the user's lock by `readBatch`; running: accepted outgoing commands add to it.
   */
  dailyOutgoing?: Map<string, DailyOutgoing>;
}

/**
 * Reads the acting users and, on PostgreSQL, locks their rows in ascending id order for the
 * rest of the transaction. All of one user's money commands therefore run one batch at a
 * time, which keeps the PIN attempt counter exact and makes an idempotency key's first use
 * visible to its retries. `FOR NO KEY UPDATE` still lets other rows reference the user.
 */
export async function lockUserGates(
  trx: Trx,
  engine: Engine,
  userIds: readonly string[],
): Promise<Map<string, UserGate>> {
  const rows = await trx
    .selectFrom('users')
    .select(['id', 'pin_hash', 'failed_pin_attempts', 'locked_at'])
    .where('id', 'in', [...userIds])
    .orderBy('id')
    .$if(engine === 'postgres', (q) => q.forNoKeyUpdate())
    .execute();
  return new Map(
    rows.map((row) => [
      row.id,
      {
        id: row.id,
        pinHash: row.pin_hash,
        failedPinAttempts: Number(row.failed_pin_attempts),
        locked: row.locked_at !== null,
      },
    ]),
  );
}

export interface PinState {
  userId: string;
  failedPinAttempts: number;
  /** Set when this batch locked the user. */
  lockedAt: string | null;
}

/** Returns the number of user rows updated. */
export async function savePinStates(
  trx: Trx,
  states: readonly PinState[],
  now: string,
): Promise<bigint> {
  let updated = 0n;
  for (const state of states) {
    const result = await trx
      .updateTable('users')
      .set({
        failed_pin_attempts: BigInt(state.failedPinAttempts),
        updated_at: now,
        ...(state.lockedAt === null
          ? {}
          : { locked_at: state.lockedAt, lock_reason: 'too many wrong transaction PINs' }),
      })
      .where('id', '=', state.userId)
      .executeTakeFirst();
    updated += result.numUpdatedRows;
  }
  return updated;
}

export function idempotencyMapKey(userId: string, key: string): string {
  return `${userId}\u0000${key}`;
}

export interface StoredKey {
  requestHash: string;
  outcome: string;
}

export async function findIdempotencyKeys(
  trx: Trx,
  pairs: ReadonlyArray<{ userId: string; key: string }>,
): Promise<Map<string, StoredKey>> {
  const found = new Map<string, StoredKey>();
  if (pairs.length === 0) return found;
  const rows = await trx
    .selectFrom('idempotency_keys')
    .select(['user_id', 'key', 'request_hash', 'outcome'])
    .where((eb) =>
      eb.or(
        pairs.map((pair) => eb.and([eb('user_id', '=', pair.userId), eb('key', '=', pair.key)])),
      ),
    )
    .execute();
  for (const row of rows) {
    found.set(idempotencyMapKey(row.user_id, row.key), {
      requestHash: row.request_hash,
      outcome: row.outcome,
    });
  }
  return found;
}

/**
 * Reserves ids for the batch's entries and postings, after its locks are held. Ids are then
 * assigned in the order the commands were applied, so within one account a later posting
 * always has a higher id: history pages and the balance-after chain follow commit order.
 */
export async function allocateIds(
  trx: Trx,
  engine: Engine,
  entryCount: number,
  postingCount: number,
): Promise<{ entryIds: bigint[]; postingIds: bigint[] }> {
  if (engine === 'postgres') {
    // One round trip for both sequences (issue #17): the batch holds its locks meanwhile.
    const result = await sql<{ entries: Array<bigint | string>; postings: Array<bigint | string> }>`
      select
        array(select nextval(pg_get_serial_sequence('journal_entries', 'id'))
          from generate_series(1, ${entryCount})) as entries,
        array(select nextval(pg_get_serial_sequence('postings', 'id'))
          from generate_series(1, ${postingCount})) as postings`.execute(trx);
    const row = result.rows[0];
    if (row === undefined) throw new Error('no ids were allocated');
    const ascending = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
    return {
      entryIds: row.entries.map((id) => BigInt(id)).sort(ascending),
      postingIds: row.postings.map((id) => BigInt(id)).sort(ascending),
    };
  }
  // SQLite runs one writer at a time (BEGIN IMMEDIATE), so the next ids are simply max + 1.
  const maxima = await sql<{ entry: bigint; posting: bigint }>`
    select
      (select coalesce(max(id), 0) from journal_entries) as entry,
      (select coalesce(max(id), 0) from postings) as posting`.execute(trx);
  const first = maxima.rows[0] ?? { entry: 0n, posting: 0n };
  return {
    entryIds: Array.from({ length: entryCount }, (_, i) => first.entry + BigInt(i + 1)),
    postingIds: Array.from({ length: postingCount }, (_, i) => first.posting + BigInt(i + 1)),
  };
}

export interface EntryRow {
  id: bigint;
  kind: JournalEntriesTable['kind'];
  currency: string;
  amountMinor: bigint;
  description: string | null;
  actorUserId: string;
  createdAt: string;
}

export interface PostingRow {
  id: bigint;
  entryId: bigint;
  accountId: bigint;
  direction: PostingsTable['direction'];
  amountMinor: bigint;
  currency: string;
  balanceAfterMinor: bigint;
  counterpartyAccountId: bigint;
  createdAt: string;
}

/** Rows per INSERT statement: well under both engines' limits on bound parameters. */
const ROWS_PER_STATEMENT = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += ROWS_PER_STATEMENT) {
    result.push(items.slice(i, i + ROWS_PER_STATEMENT));
  }
  return result;
}

/** PostgreSQL identity columns are GENERATED ALWAYS; ids reserved above must be forced in. */
function overriding(engine: Engine) {
  return engine === 'postgres' ? sql`overriding system value` : sql``;
}

/** Each write below returns the number of rows it touched, for the persist step to check. */
function affected(result: { numAffectedRows?: bigint }): bigint {
  return result.numAffectedRows ?? 0n;
}

/** Inserts rows in chunks, one multi-row statement each; returns the rows inserted. */
async function insertChunks<T>(
  trx: Trx,
  rows: readonly T[],
  statement: (chunk: T[]) => RawBuilder<unknown>,
): Promise<bigint> {
  let inserted = 0n;
  for (const chunk of chunks(rows)) inserted += affected(await statement(chunk).execute(trx));
  return inserted;
}

export function insertEntries(
  trx: Trx,
  engine: Engine,
  entries: readonly EntryRow[],
): Promise<bigint> {
  return insertChunks(
    trx,
    entries,
    (chunk) => sql`
      insert into journal_entries
        (id, kind, currency, amount_minor, description, actor_user_id, created_at)
      ${overriding(engine)}
      values ${sql.join(
        chunk.map(
          (e) =>
            sql`(${e.id}, ${e.kind}, ${e.currency}, ${e.amountMinor}, ${e.description}, ${e.actorUserId}, ${e.createdAt})`,
        ),
      )}`,
  );
}

export function insertPostings(
  trx: Trx,
  engine: Engine,
  postings: readonly PostingRow[],
): Promise<bigint> {
  return insertChunks(
    trx,
    postings,
    (chunk) => sql`
      insert into postings
        (id, entry_id, account_id, direction, amount_minor, currency, balance_after_minor,
         counterparty_account_id, created_at)
      ${overriding(engine)}
      values ${sql.join(
        chunk.map(
          (p) =>
            sql`(${p.id}, ${p.entryId}, ${p.accountId}, ${p.direction}, ${p.amountMinor}, ${p.currency}, ${p.balanceAfterMinor}, ${p.counterpartyAccountId}, ${p.createdAt})`,
        ),
      )}`,
  );
}

export async function setBalances(
  trx: Trx,
  engine: Engine,
  balances: ReadonlyArray<{ accountId: bigint; balanceMinor: bigint }>,
): Promise<bigint> {
  let updated = 0n;
  if (engine === 'sqlite') {
    // SQLite names the columns of a VALUES list column1, column2, … and takes no casts.
    for (const chunk of chunks(balances)) {
      const values = chunk.map((b) => sql`(${b.accountId}, ${b.balanceMinor})`);
      updated += affected(
        await sql`
          update accounts set balance_minor = v.column2
          from (values ${sql.join(values)}) as v
          where accounts.id = v.column1`.execute(trx),
      );
    }
    return updated;
  }
  for (const chunk of chunks(balances)) {
    const values = chunk.map((b) => sql`(${b.accountId}::bigint, ${b.balanceMinor}::bigint)`);
    updated += affected(
      await sql`
        update accounts as a set balance_minor = v.balance_minor
        from (values ${sql.join(values)}) as v(id, balance_minor)
        where a.id = v.id`.execute(trx),
    );
  }
  return updated;
}

/** An idempotency key and the outcome it answers from now on (JSON). */
export interface NewIdempotencyKey {
  userId: string;
  key: string;
  requestHash: string;
  outcome: string;
  now: string;
}

export async function insertIdempotencyKeys(
  trx: Trx,
  keys: ReadonlyArray<NewIdempotencyKey>,
): Promise<bigint> {
  let inserted = 0n;
  for (const chunk of chunks(keys)) {
    const result = await trx
      .insertInto('idempotency_keys')
      .values(
        chunk.map((k) => ({
          user_id: k.userId,
          key: k.key,
          request_hash: k.requestHash,
          outcome: k.outcome,
          created_at: k.now,
        })),
      )
      // A key that is already there is not overwritten: the row count check catches it.
      .onConflict((oc) => oc.columns(['user_id', 'key']).doNothing())
      .executeTakeFirst();
    inserted += result.numInsertedOrUpdatedRows ?? 0n;
  }
  return inserted;
}

export interface PostgresBatchWrites {
  balances: ReadonlyArray<{ accountId: bigint; balanceMinor: bigint }>;
  entries: readonly EntryRow[];
  postings: readonly PostingRow[];
  /** Numbered from the event counter in this statement, in this order; empty: none. */
  events: ReadonlyArray<Omit<CloudEvent, 'sequence'>>;
  /** Idempotency keys to store (an existing key is not overwritten); absent: none. */
  keys?: ReadonlyArray<NewIdempotencyKey>;
}

/**
 * PostgreSQL: a batch's balances, journal entries, postings and (when given) its idempotency
 * keys and outbox events in one statement, one round trip (issue #17, item 4). Each table's
 * rows travel as one array per column and are expanded by `unnest`, so the statement's text and its
 * eleven-plus parameters are the same whatever the batch's size: PostgreSQL parses and
 * plans a short statement instead of a VALUES list of thousands of parameters.
 *
 * The parts are data-modifying CTEs of one statement. The accounts were locked by the
 * batch's reads earlier in the transaction (`corebank_read_batch`), so the update waits for
 * nothing; postings' references to the entries inserted beside them are checked at the end
 * of the statement, when both are there (migration 0024's statement trigger). If an account
 * row is missing, nothing is inserted, so the caller's row counts (not a foreign-key error)
 * report it. The event counter's row is locked by this statement and held to commit, as
 * `appendEvents` does. Returns the rows each part touched.
 */
export async function writeBatchPostgres(
  trx: Trx,
  writes: PostgresBatchWrites,
): Promise<BatchWriteCounts> {
  const result = await batchStatementPostgres(writes).execute(trx);
  const row = result.rows[0];
  if (row === undefined) throw new Error('the batch statement returned no row');
  return {
    balances: BigInt(row.balances),
    entries: BigInt(row.entries),
    postings: BigInt(row.postings),
    keys: BigInt(row.keys),
    events: BigInt(row.events),
  };
}

/** The rows each part of the batch statement touched. */
export interface BatchWriteCounts {
  balances: bigint;
  entries: bigint;
  postings: bigint;
  keys: bigint;
  events: bigint;
}

/**
 * The statement of `writeBatchPostgres`, not executed (bench/trials/pg-drivers.ts replays
 * its text through other drivers). Its text depends only on whether there are keys and
 * events.
 */
export function batchStatementPostgres(writes: PostgresBatchWrites): RawBuilder<BatchWriteCounts> {
  const { balances, entries: e, postings: p, events, keys = [] } = writes;
  const keysPart =
    keys.length === 0
      ? sql`ik as (select 1 where false)`
      : sql`ik as (
          insert into idempotency_keys (user_id, key, request_hash, outcome, created_at)
          select u.* from whole, unnest(
            ${keys.map((k) => k.userId)}::text[], ${keys.map((k) => k.key)}::text[],
            ${keys.map((k) => k.requestHash)}::text[], ${keys.map((k) => k.outcome)}::text[],
            ${keys.map((k) => k.now)}::timestamptz[]
          ) as u
          where whole.ok
          on conflict (user_id, key) do nothing
          returning 1)`;
  const count = BigInt(events.length);
  const eventsPart =
    events.length === 0
      ? sql`ev as (select 1 where false)`
      : sql`seq as (
          update event_sequence set last_sequence = last_sequence + ${count}
          where id = 1
          returning last_sequence),
        ev as (
          insert into events (sequence, id, type, source, time, data)
          select seq.last_sequence - ${count} + n.ord, n.id, n.type, n.source, n.time, n.data
          from whole, seq, unnest(
            ${events.map((x) => x.id)}::text[], ${events.map((x) => x.type)}::text[],
            ${events.map((x) => x.source)}::text[], ${events.map((x) => x.time)}::timestamptz[],
            ${events.map((x) => JSON.stringify(x.data))}::text[]
          ) with ordinality as n(id, type, source, time, data, ord)
          where whole.ok
          returning 1)`;
  return sql<BatchWriteCounts>`
    with
      bal as (
        update accounts as a set balance_minor = v.balance_minor
        from unnest(
          ${balances.map((b) => b.accountId)}::bigint[],
          ${balances.map((b) => b.balanceMinor)}::bigint[]
        ) as v(id, balance_minor)
        where a.id = v.id
        returning 1),
      whole as (select count(*) = ${balances.length} as ok from bal),
      ent as (
        insert into journal_entries
          (id, kind, currency, amount_minor, description, actor_user_id, created_at)
        overriding system value
        select u.* from whole, unnest(
          ${e.map((x) => x.id)}::bigint[], ${e.map((x) => x.kind)}::text[],
          ${e.map((x) => x.currency)}::text[], ${e.map((x) => x.amountMinor)}::bigint[],
          ${e.map((x) => x.description)}::text[], ${e.map((x) => x.actorUserId)}::text[],
          ${e.map((x) => x.createdAt)}::timestamptz[]) as u
        where whole.ok
        returning 1),
      pst as (
        insert into postings
          (id, entry_id, account_id, direction, amount_minor, currency, balance_after_minor,
           counterparty_account_id, created_at)
        overriding system value
        select u.* from whole, unnest(
          ${p.map((x) => x.id)}::bigint[], ${p.map((x) => x.entryId)}::bigint[],
          ${p.map((x) => x.accountId)}::bigint[], ${p.map((x) => x.direction)}::text[],
          ${p.map((x) => x.amountMinor)}::bigint[], ${p.map((x) => x.currency)}::text[],
          ${p.map((x) => x.balanceAfterMinor)}::bigint[],
          ${p.map((x) => x.counterpartyAccountId)}::bigint[],
          ${p.map((x) => x.createdAt)}::timestamptz[]) as u
        where whole.ok
        returning 1),
      ${keysPart},
      ${eventsPart}
    select
      (select count(*) from bal) as balances,
      (select count(*) from ent) as entries,
      (select count(*) from pst) as postings,
      (select count(*) from ik) as keys,
      (select count(*) from ev) as events`;
}
