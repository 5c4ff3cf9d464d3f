/**
 * Trial (issue #17 item 4): the `postgres` driver (postgres.js, which pipelines) against
 * `pg` (what Kysely uses today), on the statements of one PostgreSQL money batch.
 *
 *   node bench/trials/pg-drivers.ts                                  # 5 s per shape
 *   node bench/trials/pg-drivers.ts --seconds 2 --batches 1 --sizes 64
 *   node bench/trials/pg-drivers.ts --drivers pg,postgres-pipelined --json /tmp/drivers.json
 *
 * Flags: --seconds S per shape (5), --batches 1,4 (concurrent batch loops), --sizes 64,256
 * (transfers per batch), --drivers pg,postgres,postgres-pipelined, --keys none,fresh
 * (transfers without, or each with a fresh, Idempotency-Key), --customers N (2000),
 * --url admin URL (postgres://postgres@127.0.0.1:5432/postgres), --json FILE.
 *
 * It creates (and always drops) its own database on that server, migrates it with the
 * project's migrations, seeds funded customers with bench/lib/seed.ts, ANALYZEs, then per
 * driver and shape runs B loops, each committing one transaction per batch of N transfers
 * of one minor unit between random customers, for S seconds. A batch is the statements
 * `LedgerEngine.applyAll` runs for a batch of transfers without daily limits (readBatch in
 * src/ledger/engine.ts, then persistBatch in src/ledger/persist.ts), with the SQL text
 * Kysely sends, captured from real runs with a `log` option:
 *
 *   keys=none:  begin; lock user gates; lock accounts; pending holds; allocate ids;
 *               write balances, entries, postings and events (one statement); commit
 *   keys=fresh: begin; lock user gates; find idempotency keys; lock accounts; pending holds;
 *               allocate ids; write balances, entries and postings; insert keys;
 *               bump the event counter; insert events; commit
 *
 * - `pg`: a pg.Pool of B connections, each statement awaited in turn as Kysely does, but as
 *   named (server-prepared) statements, like postgres.js with `prepare: true`.
 * - `postgres`: postgres.js `sql.begin` with `sql.unsafe(text, params, { prepare: true })`,
 *   each statement awaited in turn.
 * - `postgres-pipelined`: the same, but statements that need no earlier result are sent
 *   together and awaited once: the reads (they need only what the commands say), then with
 *   keys the write, the key inserts and the counter bump; the events' insert needs the
 *   counter. The server still runs them in order, so locks keep the global order.
 *
 * Every commit is durable (synchronous_commit=on per connection, as the server sets it).
 * At the end it checks that the balances of all accounts and of the customers sum to what
 * they did, and that entries, postings, events and idempotency keys grew by exactly what
 * the batches committed; any difference exits non-zero.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
} from 'kysely';
import pg from 'pg';
import postgres from 'postgres';
import type { Database } from '../../src/db/schema.ts';
import { EVENT_SOURCE, EVENT_TYPES } from '../../src/events/outbox.ts';
import { batchStatementPostgres } from '../../src/ledger/batch-repository.ts';
import { formatMinor } from '../../src/money/money.ts';
import { openRuntime } from '../../src/runtime.ts';
import { seedPopulation } from '../lib/seed.ts';
import { benchChildEnv } from '../lib/server.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    batches: { type: 'string', default: '1,4' },
    sizes: { type: 'string', default: '64,256' },
    drivers: { type: 'string', default: 'pg,postgres,postgres-pipelined' },
    customers: { type: 'string', default: '2000' },
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    keys: { type: 'string', default: 'none,fresh' },
    json: { type: 'string' },
  },
});

const DRIVERS = ['pg', 'postgres', 'postgres-pipelined'] as const;
type DriverName = (typeof DRIVERS)[number];

function positiveList(name: string, text: string, max: number): number[] {
  const list = text.split(',').map((part) => Number(part.trim()));
  for (const n of list) {
    if (!Number.isInteger(n) || n < 1 || n > max) {
      throw new Error(`--${name} takes integers from 1 to ${max}, got "${text}"`);
    }
  }
  return list;
}

const seconds = positiveList('seconds', values.seconds, 600)[0] ?? 5;
const loopCounts = positiveList('batches', values.batches, 64);
const batchSizes = positiveList('sizes', values.sizes, 4096);
const customerCount = positiveList('customers', values.customers, 100_000)[0] ?? 2000;
const drivers = values.drivers.split(',').map((name) => {
  if (!(DRIVERS as readonly string[]).includes(name)) {
    throw new Error(`--drivers takes ${DRIVERS.join(', ')}, got "${name}"`);
  }
  return name as DriverName;
});
const keyModes = values.keys.split(',').map((mode) => {
  if (mode !== 'none' && mode !== 'fresh') {
    throw new Error(`--keys takes none and/or fresh, got "${values.keys}"`);
  }
  return mode;
});
const adminUrl = values.url;

/** Every transfer moves one minor unit, as the engine benchmark's transfers do. */
const AMOUNT_MINOR = 1n;
const CURRENCY = 'USD';
/** Latencies kept per shape; a shape at this rate for 600 s stays far below it. */
const MAX_SAMPLES = 1_000_000;

// The statements, as Kysely sends them (captured with a `log` option on a real run). The
// IN lists grow with the batch, so their text depends on how many ids the batch has.
function placeholders(count: number, from = 1): string {
  return Array.from({ length: count }, (_, i) => `$${from + i}`).join(', ');
}

function lockUserGatesSql(count: number): string {
  return `select "id", "pin_hash", "failed_pin_attempts", "locked_at" from "users" where "id" in (${placeholders(count)}) order by "id" for no key update`;
}

function lockAccountsSql(count: number): string {
  return `select "id", "account_number", "user_id", "kind", "type", "currency", "nickname", "status", "balance_minor", "created_at" from "accounts" where "account_number" in (${placeholders(count)}) order by "id" for no key update`;
}

function pendingHoldsSql(count: number): string {
  return `select "account_id", sum("amount_minor") as "total" from "holds" where "account_id" in (${placeholders(count)}) and "status" = $${count + 1} and "expires_at" > $${count + 2} group by "account_id"`;
}

const ALLOCATE_IDS_SQL = `
      select
        array(select nextval(pg_get_serial_sequence('journal_entries', 'id'))
          from generate_series(1, $1)) as entries,
        array(select nextval(pg_get_serial_sequence('postings', 'id'))
          from generate_series(1, $2)) as postings`;

/** Compiles the server's own statements to text; it never connects. */
const compiler = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/**
 * writeBatchPostgres's statement, from its own builder, with and without the events part
 * (without: when idempotency keys are stored, the events go after them). The rows travel as
 * array parameters, so the text is the same for every batch; the parameters are, in order,
 * the balances' two arrays and count, the entries' seven arrays and the postings' nine, then
 * the event count twice and the events' five arrays.
 */
const SAMPLE_EVENT = {
  specversion: '1.0',
  id: 'sample',
  source: EVENT_SOURCE,
  type: EVENT_TYPES[0],
  time: new Date(0).toISOString(),
  datacontenttype: 'application/json',
  data: {},
} as const;
const WRITE_BATCH_SQL = batchStatementPostgres({
  balances: [],
  entries: [],
  postings: [],
  events: [SAMPLE_EVENT],
}).compile(compiler).sql;
const WRITE_BATCH_NO_EVENTS_SQL = batchStatementPostgres({
  balances: [],
  entries: [],
  postings: [],
  events: [],
}).compile(compiler).sql;

/** appendEvents: the event counter, then the numbered rows. */
const NEXT_EVENT_SEQUENCE_SQL = `
    update event_sequence set last_sequence = last_sequence + $1
    where id = 1
    returning last_sequence`;

function findIdempotencyKeysSql(count: number): string {
  const pairs = Array.from(
    { length: count },
    (_, i) => `("user_id" = $${2 * i + 1} and "key" = $${2 * i + 2})`,
  );
  return `select "user_id", "key", "request_hash", "outcome" from "idempotency_keys" where ${count === 1 ? pairs[0] : `(${pairs.join(' or ')})`}`;
}

function insertIdempotencyKeysSql(count: number): string {
  const rows = Array.from({ length: count }, (_, i) => `(${placeholders(5, 5 * i + 1)})`);
  return `insert into "idempotency_keys" ("user_id", "key", "request_hash", "outcome", "created_at") values ${rows.join(', ')} on conflict ("user_id", "key") do nothing`;
}

function insertEventsSql(count: number): string {
  const rows = Array.from({ length: count }, (_, i) => `(${placeholders(6, 6 * i + 1)})`);
  return `insert into "events" ("sequence", "id", "type", "source", "time", "data") values ${rows.join(', ')}`;
}

/** Rows per multi-row insert, as batch-repository.ts and outbox.ts chunk them. */
const ROWS_PER_STATEMENT = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += ROWS_PER_STATEMENT) {
    result.push(items.slice(i, i + ROWS_PER_STATEMENT));
  }
  return result;
}

interface Customer {
  userId: string;
  accountId: bigint;
  accountNumber: string;
}

interface BatchPlan {
  transfers: Array<{ from: Customer; to: Customer }>;
  userIds: string[];
  accountNumbers: string[];
  accountIds: bigint[];
  /** One fresh Idempotency-Key per transfer, or null for transfers sent without one. */
  keys: Array<{ userId: string; key: string; requestHash: string }> | null;
}

type Row = Record<string, unknown>;
/** Sends one statement on the batch's connection; the batch body knows no driver. */
type Query = (text: string, params: unknown[]) => Promise<{ rows: Row[]; count: number }>;

interface Driver {
  name: DriverName;
  /** Runs one batch in one committed transaction; throws if any statement or check fails. */
  runBatch(plan: BatchPlan): Promise<void>;
  close(): Promise<void>;
}

function randomIndex(count: number): number {
  return crypto.randomInt(count);
}

function planBatch(customers: readonly Customer[], size: number, withKeys: boolean): BatchPlan {
  const transfers: BatchPlan['transfers'] = [];
  for (let i = 0; i < size; i++) {
    const from = customers[randomIndex(customers.length)];
    let to = customers[randomIndex(customers.length)];
    while (to === from) to = customers[randomIndex(customers.length)];
    if (from === undefined || to === undefined) throw new Error('no customers to pick from');
    transfers.push({ from, to });
  }
  const userIds = [...new Set(transfers.map((t) => t.from.userId))].sort();
  const accounts = new Map<string, Customer>();
  for (const { from, to } of transfers) {
    accounts.set(from.accountNumber, from);
    accounts.set(to.accountNumber, to);
  }
  const accountIds = [...accounts.values()]
    .map((c) => c.accountId)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const keys = withKeys
    ? transfers.map(({ from, to }) => ({
        userId: from.userId,
        key: crypto.randomUUID(),
        // The server hashes the request it keys; any 64 hex digits cost the same to store.
        requestHash: crypto
          .createHash('sha256')
          .update(`${from.accountNumber}:${to.accountNumber}:${AMOUNT_MINOR}`)
          .digest('hex'),
      }))
    : null;
  return { transfers, userIds, accountNumbers: [...accounts.keys()], accountIds, keys };
}

function bigintOf(value: unknown, what: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'string' || typeof value === 'number') return BigInt(value);
  throw new Error(`${what}: expected an integer, got ${typeof value}`);
}

function bigintsOf(value: unknown, what: string): bigint[] {
  if (!Array.isArray(value)) throw new Error(`${what}: expected an array`);
  return value.map((v) => bigintOf(v, what));
}

/**
 * The statements of one batch, in the engine's order. `pipelined` sends the reads without
 * waiting for each other; the write always waits for the locked balances and ids.
 */
async function batchBody(query: Query, plan: BatchPlan, pipelined: boolean): Promise<void> {
  const now = new Date().toISOString();
  const size = plan.transfers.length;
  const rowsOf = async (text: string, params: unknown[]) => (await query(text, params)).rows;
  const { keys } = plan;
  const reads: Array<() => Promise<Row[]>> = [
    () => rowsOf(lockUserGatesSql(plan.userIds.length), plan.userIds),
    ...(keys === null
      ? []
      : [
          () =>
            rowsOf(
              findIdempotencyKeysSql(keys.length),
              keys.flatMap((k) => [k.userId, k.key]),
            ),
        ]),
    () => rowsOf(lockAccountsSql(plan.accountNumbers.length), plan.accountNumbers),
    () => rowsOf(pendingHoldsSql(plan.accountIds.length), [...plan.accountIds, 'pending', now]),
    () => rowsOf(ALLOCATE_IDS_SQL, [size, size * 2]),
  ];
  const results = await inTurnOrPipelined(reads, pipelined);
  const found = keys === null ? [] : results.splice(1, 1)[0];
  if (found === undefined || found.length > 0) {
    throw new Error('a fresh idempotency key was found already stored');
  }
  const [gates = [], locked = [], holds = [], ids = []] = results;
  if (gates.length !== plan.userIds.length) {
    throw new Error(`locked ${gates.length} of ${plan.userIds.length} users`);
  }
  if (locked.length !== plan.accountNumbers.length) {
    throw new Error(`locked ${locked.length} of ${plan.accountNumbers.length} accounts`);
  }
  const balances = new Map<bigint, bigint>();
  for (const row of locked) {
    balances.set(bigintOf(row.id, 'accounts.id'), bigintOf(row.balance_minor, 'balance'));
  }
  const held = new Map<bigint, bigint>();
  for (const row of holds) {
    held.set(bigintOf(row.account_id, 'holds.account_id'), bigintOf(row.total, 'holds.total'));
  }
  const entryIds = bigintsOf(ids[0]?.entries, 'entry ids');
  const postingIds = bigintsOf(ids[0]?.postings, 'posting ids');
  if (entryIds.length !== size || postingIds.length !== size * 2) {
    throw new Error(`allocated ${entryIds.length}/${postingIds.length} ids for ${size}`);
  }

  // The arrays writeBatchPostgres binds, in the order the commands were applied.
  const touched = new Map<bigint, bigint>();
  const entry = {
    id: [] as bigint[],
    kind: [] as string[],
    currency: [] as string[],
    amount: [] as bigint[],
    description: [] as null[],
    actor: [] as string[],
    createdAt: [] as string[],
  };
  const posting = {
    id: [] as bigint[],
    entryId: [] as bigint[],
    accountId: [] as bigint[],
    direction: [] as string[],
    amount: [] as bigint[],
    currency: [] as string[],
    balanceAfter: [] as bigint[],
    counterparty: [] as bigint[],
    createdAt: [] as string[],
  };
  const event = {
    id: [] as string[],
    type: [] as string[],
    source: [] as string[],
    time: [] as string[],
    data: [] as string[],
  };
  const amount = formatMinor(AMOUNT_MINOR, CURRENCY);
  plan.transfers.forEach(({ from, to }, index) => {
    const fromBalance = balances.get(from.accountId);
    const toBalance = balances.get(to.accountId);
    if (fromBalance === undefined || toBalance === undefined) {
      throw new Error('a transfer touches an account the batch did not lock');
    }
    // The engine refuses a debit beyond balance minus pending holds; seeded funds cover
    // any run many times over, so a refusal here is a bug in this benchmark.
    if (fromBalance - (held.get(from.accountId) ?? 0n) < AMOUNT_MINOR) {
      throw new Error(`account ${from.accountNumber} cannot pay`);
    }
    const debitAfter = fromBalance - AMOUNT_MINOR;
    const creditAfter = toBalance + AMOUNT_MINOR;
    balances.set(from.accountId, debitAfter);
    balances.set(to.accountId, creditAfter);
    touched.set(from.accountId, debitAfter);
    touched.set(to.accountId, creditAfter);
    const entryId = entryIds[index] ?? 0n;
    const debitId = postingIds[index * 2] ?? 0n;
    const creditId = postingIds[index * 2 + 1] ?? 0n;
    entry.id.push(entryId);
    entry.kind.push('transfer');
    entry.currency.push(CURRENCY);
    entry.amount.push(AMOUNT_MINOR);
    entry.description.push(null);
    entry.actor.push(from.userId);
    entry.createdAt.push(now);
    for (const [id, account, direction, after, counterparty] of [
      [debitId, from.accountId, 'debit', debitAfter, to.accountId],
      [creditId, to.accountId, 'credit', creditAfter, from.accountId],
    ] as const) {
      posting.id.push(id);
      posting.entryId.push(entryId);
      posting.accountId.push(account);
      posting.direction.push(direction);
      posting.amount.push(AMOUNT_MINOR);
      posting.currency.push(CURRENCY);
      posting.balanceAfter.push(after);
      posting.counterparty.push(counterparty);
      posting.createdAt.push(now);
    }
    event.id.push(crypto.randomUUID());
    event.type.push('transaction.posted');
    event.source.push('/corebank');
    event.time.push(now);
    event.data.push(
      JSON.stringify({
        transactionId: String(debitId),
        entryId: String(entryId),
        kind: 'transfer',
        amount,
        currency: CURRENCY,
        description: null,
        accountNumber: from.accountNumber,
        counterpartyAccount: to.accountNumber,
        actorUserId: from.userId,
        postings: [
          {
            postingId: String(debitId),
            accountNumber: from.accountNumber,
            direction: 'debit',
            amount,
            balanceAfter: formatMinor(debitAfter, CURRENCY),
          },
          {
            postingId: String(creditId),
            accountNumber: to.accountNumber,
            direction: 'credit',
            amount,
            balanceAfter: formatMinor(creditAfter, CURRENCY),
          },
        ],
        createdAt: now,
      }),
    );
  });
  const eventCount = BigInt(size);
  const writeParams = [
    [...touched.keys()],
    [...touched.values()],
    touched.size,
    entry.id,
    entry.kind,
    entry.currency,
    entry.amount,
    entry.description,
    entry.actor,
    entry.createdAt,
    posting.id,
    posting.entryId,
    posting.accountId,
    posting.direction,
    posting.amount,
    posting.currency,
    posting.balanceAfter,
    posting.counterparty,
    posting.createdAt,
  ];
  // What writeBatchPostgres and persistBatch assert: every row they meant to write, written.
  const expectWritten = (written: Row | undefined, events: bigint) => {
    const counts = [written?.balances, written?.entries, written?.postings, written?.events].map(
      (value) => bigintOf(value, 'write count'),
    );
    const expected = [BigInt(touched.size), eventCount, eventCount * 2n, events];
    if (counts.some((count, i) => count !== expected[i])) {
      throw new Error(`write reported ${counts.join('/')}, expected ${expected.join('/')}`);
    }
  };
  if (keys === null) {
    // No keys to store: the events go into the one write statement.
    const { rows } = await query(WRITE_BATCH_SQL, [
      ...writeParams,
      eventCount,
      eventCount,
      event.id,
      event.type,
      event.source,
      event.time,
      event.data,
    ]);
    expectWritten(rows[0], eventCount);
    return;
  }
  // With keys, persistBatch writes balances, entries and postings, then the keys (each
  // storing the outcome the server would replay), then the events through appendEvents.
  // None of the three needs another's result; the events' insert needs the counter's.
  const keyRows = keys.map((k, index) => [
    k.userId,
    k.key,
    k.requestHash,
    JSON.stringify({ ok: true, transaction: JSON.parse(event.data[index] ?? '{}') }),
    now,
  ]);
  const [write, ...rest] = await inTurnOrPipelined(
    [
      () => query(WRITE_BATCH_NO_EVENTS_SQL, writeParams),
      ...chunks(keyRows).map(
        (chunk) => () => query(insertIdempotencyKeysSql(chunk.length), chunk.flat()),
      ),
      () => query(NEXT_EVENT_SEQUENCE_SQL, [eventCount]),
    ],
    pipelined,
  );
  expectWritten(write?.rows[0], 0n);
  const counter = rest.pop();
  const storedKeys = rest.reduce((sum, result) => sum + result.count, 0);
  if (storedKeys !== keys.length) throw new Error(`stored ${storedKeys} of ${keys.length} keys`);
  const last = bigintOf(counter?.rows[0]?.last_sequence, 'event sequence');
  const eventRows = event.id.map((id, index) => [
    last - eventCount + 1n + BigInt(index),
    id,
    event.type[index],
    event.source[index],
    event.time[index],
    event.data[index],
  ]);
  const inserted = await inTurnOrPipelined(
    chunks(eventRows).map((chunk) => () => query(insertEventsSql(chunk.length), chunk.flat())),
    pipelined,
  );
  const storedEvents = inserted.reduce((sum, result) => sum + result.count, 0);
  if (storedEvents !== size) throw new Error(`stored ${storedEvents} of ${size} events`);
}

/** Awaits each statement before sending the next, or sends them all and awaits them once. */
async function inTurnOrPipelined<T>(
  statements: ReadonlyArray<() => Promise<T>>,
  pipelined: boolean,
): Promise<T[]> {
  if (pipelined) return Promise.all(statements.map((statement) => statement()));
  const results: T[] = [];
  for (const statement of statements) results.push(await statement());
  return results;
}

const PG_INT8 = 20;

function pgDriver(url: string, connections: number): Driver {
  const pool = new pg.Pool({
    connectionString: url,
    max: connections,
    // As the server's pool: 64-bit integers as bigint, durable commits, UTC.
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === PG_INT8
          ? (value: string) => BigInt(value)
          : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
    },
    options: '-c synchronous_commit=on -c timezone=UTC',
  });
  // Named statements, so pg prepares each text once per connection (as prepare: true does
  // for postgres.js). Kysely today sends unnamed ones: parsed and planned on every call.
  const names = new Map<string, string>();
  const nameOf = (text: string): string => {
    let name = names.get(text);
    if (name === undefined) {
      name = `cb_${crypto.createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
      names.set(text, name);
    }
    return name;
  };
  return {
    name: 'pg',
    async runBatch(plan) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        await batchBody(
          async (text, params) => {
            const result = await client.query<Row>({ text, values: params, name: nameOf(text) });
            return { rows: result.rows, count: result.rowCount ?? 0 };
          },
          plan,
          false,
        );
        await client.query('commit');
        client.release();
      } catch (error) {
        // A connection in an unknown state is not given back to the pool.
        client.release(true);
        throw error;
      }
    },
    close: () => pool.end(),
  };
}

function postgresDriver(url: string, connections: number, pipelined: boolean): Driver {
  const sql = postgres(url, {
    max: connections,
    prepare: true,
    types: { bigint: postgres.BigInt },
    connection: { synchronous_commit: 'on', timezone: 'UTC' },
    onnotice: () => {},
  });
  // A prepared statement's parameter types come from the client: postgres.js infers a
  // JS array's type from its first element (int8 for bigint[]), which the server refuses
  // for `$1::bigint[]`. sql.array gives the array type (int8[]; text[] for strings and
  // nulls, which the statement casts as it does pg's untyped parameters).
  const parameterOf = (value: unknown): postgres.ParameterOrJSON<never> =>
    Array.isArray(value)
      ? sql.array(value as postgres.SerializableParameter<never>[])
      : (value as postgres.ParameterOrJSON<never>);
  return {
    name: pipelined ? 'postgres-pipelined' : 'postgres',
    async runBatch(plan) {
      await sql.begin((trx) =>
        batchBody(
          async (text, params) => {
            const result = await trx.unsafe(text, params.map(parameterOf), { prepare: true });
            return { rows: result as unknown as Row[], count: result.count };
          },
          plan,
          pipelined,
        ),
      );
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

function openDriver(name: DriverName, url: string, connections: number): Driver {
  if (name === 'pg') return pgDriver(url, connections);
  return postgresDriver(url, connections, name === 'postgres-pipelined');
}

interface ShapeResult {
  driver: DriverName;
  keys: 'none' | 'fresh';
  loops: number;
  batchSize: number;
  seconds: number;
  batches: number;
  transfers: number;
  batchesPerSecond: number;
  transfersPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
}

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return Number((sorted[index] ?? 0).toFixed(2));
}

async function runShape(
  driver: Driver,
  customers: readonly Customer[],
  loops: number,
  batchSize: number,
  keys: ShapeResult['keys'],
): Promise<ShapeResult> {
  const latencies = new Float64Array(MAX_SAMPLES);
  let batches = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < deadline) {
        const plan = planBatch(customers, batchSize, keys === 'fresh');
        const batchStarted = performance.now();
        await driver.runBatch(plan);
        if (batches < MAX_SAMPLES) latencies[batches] = performance.now() - batchStarted;
        batches++;
      }
    }),
  );
  const elapsedSeconds = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, Math.min(batches, MAX_SAMPLES)).sort();
  return {
    driver: driver.name,
    keys,
    loops,
    batchSize,
    seconds: Number(elapsedSeconds.toFixed(2)),
    batches,
    transfers: batches * batchSize,
    batchesPerSecond: Math.round(batches / elapsedSeconds),
    transfersPerSecond: Math.round((batches * batchSize) / elapsedSeconds),
    latencyMs: {
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      max: percentile(sorted, 1),
    },
  };
}

interface LedgerTotals {
  /** All accounts, vaults included: zero whenever every entry balances. */
  balanceMinor: bigint;
  /** Customer accounts only: transfers between customers must leave it unchanged. */
  customerBalanceMinor: bigint;
  entries: bigint;
  postings: bigint;
  events: bigint;
  idempotencyKeys: bigint;
}

async function ledgerTotals(client: pg.Client): Promise<LedgerTotals> {
  const { rows } = await client.query<Record<keyof LedgerTotals, string>>(
    `select (select coalesce(sum(balance_minor), 0) from accounts)::text as "balanceMinor",
            (select coalesce(sum(balance_minor), 0) from accounts where kind = 'customer')::text
              as "customerBalanceMinor",
            (select count(*) from journal_entries)::text as entries,
            (select count(*) from postings)::text as postings,
            (select count(*) from events)::text as events,
            (select count(*) from idempotency_keys)::text as "idempotencyKeys"`,
  );
  const row = rows[0];
  if (row === undefined) throw new Error('no totals');
  return {
    balanceMinor: BigInt(row.balanceMinor),
    customerBalanceMinor: BigInt(row.customerBalanceMinor),
    entries: BigInt(row.entries),
    postings: BigInt(row.postings),
    events: BigInt(row.events),
    idempotencyKeys: BigInt(row.idempotencyKeys),
  };
}

async function withAdmin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  const name = `corebank_trial_drivers_${process.pid}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-trial-drivers-'));
  await withAdmin((admin) => admin.query(`create database ${name}`));
  try {
    const seedStarted = performance.now();
    const runtime = await openRuntime(
      benchChildEnv({ DATABASE_URL: databaseUrl, DATA_DIR: dataDir, RATE_LIMITS: 'off' }),
    );
    let population: Awaited<ReturnType<typeof seedPopulation>>;
    try {
      population = await seedPopulation(runtime, customerCount, false);
    } finally {
      await runtime.database.close();
    }
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ id: string; account_number: string }>(
        `select id::text as id, account_number from accounts where kind = 'customer'`,
      );
      const idOf = new Map(rows.map((row) => [row.account_number, BigInt(row.id)]));
      const customers: Customer[] = [...population.customers, population.merchant].map((c) => {
        const accountId = idOf.get(c.account);
        if (accountId === undefined) throw new Error(`account ${c.account} not found`);
        return { userId: c.userId, accountId, accountNumber: c.account };
      });
      await db.query('analyze');
      const { rows: durability } = await db.query<{ setting: string }>(
        `select current_setting('fsync') as setting`,
      );
      process.stdout.write(
        `seeded ${customers.length} customers in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s; ` +
          `fsync=${durability[0]?.setting}, synchronous_commit=on per connection\n`,
      );
      const before = await ledgerTotals(db);
      const results: ShapeResult[] = [];
      for (const driverName of drivers) {
        for (const loops of loopCounts) {
          const driver = openDriver(driverName, databaseUrl, loops);
          try {
            for (const keys of keyModes) {
              for (const batchSize of batchSizes) {
                const result = await runShape(driver, customers, loops, batchSize, keys);
                results.push(result);
                process.stdout.write(
                  `${driverName.padEnd(18)} keys=${keys.padEnd(5)} B=${loops} ` +
                    `N=${String(batchSize).padEnd(4)} ` +
                    `${String(result.batchesPerSecond).padStart(6)} batches/s ` +
                    `${String(result.transfersPerSecond).padStart(8)} transfers/s ` +
                    `p50 ${result.latencyMs.p50} ms p99 ${result.latencyMs.p99} ms\n`,
                );
              }
            }
          } finally {
            await driver.close();
          }
        }
      }
      // Money is conserved and the journal grew by exactly what was committed.
      const after = await ledgerTotals(db);
      const committed = BigInt(results.reduce((sum, r) => sum + r.transfers, 0));
      const problems: string[] = [];
      if (after.balanceMinor !== before.balanceMinor) {
        problems.push(`balances sum ${before.balanceMinor} -> ${after.balanceMinor}`);
      }
      if (after.customerBalanceMinor !== before.customerBalanceMinor) {
        problems.push(
          `customer balances sum ${before.customerBalanceMinor} -> ${after.customerBalanceMinor}`,
        );
      }
      if (after.entries - before.entries !== committed) {
        problems.push(`entries grew ${after.entries - before.entries}, committed ${committed}`);
      }
      if (after.postings - before.postings !== committed * 2n) {
        problems.push(
          `postings grew ${after.postings - before.postings}, expected ${committed * 2n}`,
        );
      }
      if (after.events - before.events !== committed) {
        problems.push(`events grew ${after.events - before.events}, committed ${committed}`);
      }
      const keyed = BigInt(
        results.reduce((sum, r) => sum + (r.keys === 'fresh' ? r.transfers : 0), 0),
      );
      if (after.idempotencyKeys - before.idempotencyKeys !== keyed) {
        problems.push(
          `idempotency keys grew ${after.idempotencyKeys - before.idempotencyKeys}, committed ${keyed}`,
        );
      }
      process.stdout.write(
        problems.length === 0
          ? `verified: balances sum unchanged (all ${after.balanceMinor}, customers ${after.customerBalanceMinor}), +${committed} entries, +${committed * 2n} postings, +${committed} events, +${keyed} idempotency keys\n`
          : `VERIFY FAILED: ${problems.join('; ')}\n`,
      );
      if (values.json !== undefined) {
        fs.writeFileSync(
          values.json,
          `${JSON.stringify({ customers: customers.length, seconds, results, verified: problems.length === 0 }, null, 2)}\n`,
        );
      }
      return problems.length === 0 ? 0 : 1;
    } finally {
      await db.end();
    }
  } finally {
    await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
