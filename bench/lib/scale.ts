import autocannon from 'autocannon';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config.ts';
import { type DatabaseHandle, type Db, openDatabase } from '../../src/db/database.ts';
import { type LoadResult, summarise } from './load.ts';
import { BENCH_PIN, type Population } from './seed.ts';
import { type BenchDatabase, benchChildEnv } from './server.ts';

/**
 * How cost grows (issue #17, `npm run bench -- --scale`): filler customers, accounts and
 * ledger history written with set-based SQL (PostgreSQL `generate_series`, a recursive CTE
 * on SQLite), consistent with every invariant `ledger verify` checks:
 * - each filler account is opened with a deposit from the vault (an entry with two postings);
 * - history is transfers of one minor unit between filler accounts, in chunks; each posting's
 *   balance-after is the account's balance before the chunk plus the running sum of the
 *   chunk's postings on it (a window function), and the chunk's totals are then added to the
 *   stored balances, so stored balance = sum of postings and every chain holds;
 * - every filler account starts with far more than it can lose in the transfers.
 * Account numbers are 12 digits with valid MOD 97-10 check digits, computed in SQL.
 */

/**
 * When the filler history happened: in the past, as a real ledger's history is (today's
 * postings are what the daily-limit check sums on every batch, see docs/performance.md).
 */
const HISTORY_TIME = '2025-06-02T09:00:00.000Z';
/** Opening balance of each filler account (minor units): 10.00, far more than it sends. */
const FILLER_OPENING_MINOR = 1000;
/** Filler accounts per filler user (the schema allows 10 customer accounts per user). */
const ACCOUNTS_PER_USER = 8;
/** Accounts and transfers written per statement, so no statement holds everything. */
const ACCOUNT_CHUNK = 100_000;
const TRANSFER_CHUNK = 250_000;

async function withDb<T>(database: BenchDatabase, body: (handle: DatabaseHandle) => Promise<T>) {
  // Growing a table by millions of rows takes longer than the server's statement timeout.
  const handle = await openDatabase(
    loadConfig(benchChildEnv({ ...database.env, DATABASE_STATEMENT_TIMEOUT_MS: '600000' })),
  );
  try {
    return await body(handle);
  } finally {
    await handle.close();
  }
}

/** A statement that produces the integers 0 .. n-1 as column `k`, on either engine. */
function series(engine: 'sqlite' | 'postgres', n: number) {
  return engine === 'postgres'
    ? sql`select k from generate_series(0, ${sql.lit(n - 1)}::bigint) as g(k)`
    : sql`select k from (with recursive s(k) as (select 0 union all select k + 1 from s where k < ${sql.lit(n - 1)}) select k from s)`;
}

/** The time as a value of the engine's timestamp column (timestamptz or ISO text). */
function stamp(engine: 'sqlite' | 'postgres', iso: string) {
  return engine === 'postgres' ? sql`cast(${iso} as timestamptz)` : sql`${iso}`;
}

async function scalar(db: Db, query: ReturnType<typeof sql>): Promise<number> {
  const result = await (query as ReturnType<typeof sql<{ n: number | bigint | null }>>).execute(db);
  return Number(result.rows[0]?.n ?? 0);
}

export async function countCustomerAccounts(database: BenchDatabase): Promise<number> {
  return withDb(database, ({ db }) =>
    scalar(db, sql`select count(*) as n from accounts where kind = 'customer'`),
  );
}

export async function countPostings(database: BenchDatabase): Promise<number> {
  return withDb(database, ({ db }) => scalar(db, sql`select count(*) as n from postings`));
}

/**
 * Adds filler customers (users and funded checking accounts) until there are `target`
 * customer accounts in all. Returns the seconds it took.
 */
export async function growAccounts(database: BenchDatabase, target: number): Promise<number> {
  const started = performance.now();
  await withDb(database, async ({ db, engine }) => {
    const vault = await scalar(
      db,
      sql`select id as n from accounts where kind = 'system' and currency = 'USD'`,
    );
    if (vault === 0) throw new Error('no USD vault account');
    const now = stamp(engine, HISTORY_TIME);
    const pg = engine === 'postgres';
    for (;;) {
      const have = await scalar(
        db,
        sql`select count(*) as n from accounts where kind = 'customer'`,
      );
      if (have >= target) break;
      const add = Math.min(ACCOUNT_CHUNK, target - have);
      const users = Math.ceil(add / ACCOUNTS_PER_USER);
      // Filler numbers continue from the highest filler number so far.
      const base =
        (await scalar(db, sql`select count(*) as n from users where id like 'scale-%'`)) + 1;
      const checkDigits = pg
        ? sql.raw(`lpad((98 - ((body * 100) % 97))::text, 2, '0')`)
        : sql.raw(`printf('%02d', 98 - ((body * 100) % 97))`);
      await db.transaction().execute(async (trx) => {
        if (pg) await sql`set local statement_timeout = 0`.execute(trx);
        await sql`
          insert into users (id, username, email, full_name, password_hash, created_at, updated_at)
          select 'scale-' || (k + ${sql.lit(base)}), 'scale_' || (k + ${sql.lit(base)}),
            'scale_' || (k + ${sql.lit(base)}) || '@bench.corebank.invalid', 'Scale filler', '!', ${now}, ${now}
          from (${series(engine, users)}) s`.execute(trx);
        // Bodies 9,000,000,000 + n: 10 digits, distinct per filler; a clash with a random
        // seeded number is skipped (the loop tops up what is missing).
        await sql`
          insert into accounts (account_number, user_id, kind, type, currency, status, balance_minor, created_at)
          select cast(body as text) || ${checkDigits}, user_id, 'customer', 'checking', 'USD', 'active', 0, ${now}
          from (
            select ${sql.lit(9_000_000_000)} + (${sql.lit(base)} - 1) * ${sql.lit(ACCOUNTS_PER_USER)} + k as body,
              'scale-' || (${sql.lit(base)} + k / ${sql.lit(ACCOUNTS_PER_USER)}) as user_id
            from (${series(engine, add)}) s
          ) t
          where true
          on conflict (account_number) do nothing`.execute(trx);
        await openFillerAccounts(trx as unknown as Db, engine, vault, now);
      });
    }
  });
  return (performance.now() - started) / 1000;
}

/** Opening deposits (vault → account) for every customer account that has no posting yet. */
async function openFillerAccounts(
  db: Db,
  engine: 'sqlite' | 'postgres',
  vault: number,
  now: ReturnType<typeof stamp>,
): Promise<void> {
  const pg = engine === 'postgres';
  const entryBase =
    (await scalar(db, sql`select coalesce(max(id), 0) as n from journal_entries`)) + 1;
  const postingBase = (await scalar(db, sql`select coalesce(max(id), 0) as n from postings`)) + 1;
  const vaultBalance = await scalar(
    db,
    sql`select balance_minor as n from accounts where id = ${sql.lit(vault)}`,
  );
  await sql`drop table if exists scale_new`.execute(db);
  await sql`
    create temporary table scale_new as
    select a.id as account_id, row_number() over (order by a.id) - 1 as i
    from accounts a
    where a.kind = 'customer' and a.user_id like 'scale-%' and a.balance_minor = 0
      and not exists (select 1 from postings p where p.account_id = a.id)`.execute(db);
  const n = await scalar(db, sql`select count(*) as n from scale_new`);
  if (n === 0) return;
  const over = pg ? sql.raw('overriding system value') : sql.raw('');
  await sql`
    insert into journal_entries (id, kind, currency, amount_minor, description, created_at) ${over}
    select ${sql.lit(entryBase)} + i, 'deposit', 'USD', ${sql.lit(FILLER_OPENING_MINOR)}, 'scale benchmark opening', ${now}
    from scale_new`.execute(db);
  // Vault postings first (ids base + 2i), the account's credit next (base + 2i + 1).
  await sql`
    insert into postings (id, entry_id, account_id, direction, amount_minor, currency,
      balance_after_minor, counterparty_account_id, created_at) ${over}
    select ${sql.lit(postingBase)} + 2 * i, ${sql.lit(entryBase)} + i, ${sql.lit(vault)}, 'debit', ${sql.lit(FILLER_OPENING_MINOR)}, 'USD',
      ${sql.lit(vaultBalance)} - (i + 1) * ${sql.lit(FILLER_OPENING_MINOR)}, account_id, ${now}
    from scale_new
    union all
    select ${sql.lit(postingBase)} + 2 * i + 1, ${sql.lit(entryBase)} + i, account_id, 'credit', ${sql.lit(FILLER_OPENING_MINOR)}, 'USD',
      ${sql.lit(FILLER_OPENING_MINOR)}, ${sql.lit(vault)}, ${now}
    from scale_new`.execute(db);
  await sql`update accounts set balance_minor = ${sql.lit(FILLER_OPENING_MINOR)}
    where id in (select account_id from scale_new)`.execute(db);
  await sql`update accounts set balance_minor = balance_minor - ${sql.lit(n * FILLER_OPENING_MINOR)}
    where id = ${sql.lit(vault)}`.execute(db);
  await sql`drop table scale_new`.execute(db);
  if (pg) await resyncIdentities(db);
}

/** After explicit ids, PostgreSQL's identity sequences continue above the highest id. */
async function resyncIdentities(db: Db): Promise<void> {
  for (const table of ['journal_entries', 'postings']) {
    await sql`select setval(pg_get_serial_sequence(${table}, 'id'), (select max(id) from ${sql.table(table)}))`.execute(
      db,
    );
  }
}

/**
 * Adds transfers of one minor unit between customer accounts (the seeded ones included, so
 * their history pages are deep too) until the ledger holds
 * `targetPostings` postings. Returns the seconds it took.
 */
export async function growPostings(
  database: BenchDatabase,
  targetPostings: number,
  progress: (postings: number) => void,
): Promise<number> {
  const started = performance.now();
  await withDb(database, async ({ db, engine }) => {
    const pg = engine === 'postgres';
    const over = pg ? sql.raw('overriding system value') : sql.raw('');
    const now = stamp(engine, HISTORY_TIME);
    await sql`drop table if exists scale_accounts`.execute(db);
    await sql`
      create ${pg ? sql.raw('unlogged') : sql.raw('temporary')} table scale_accounts as
      select row_number() over (order by id) - 1 as idx, id from accounts
      where kind = 'customer'`.execute(db);
    await sql`create unique index scale_accounts_idx on scale_accounts (idx)`.execute(db);
    const accounts = await scalar(db, sql`select count(*) as n from scale_accounts`);
    if (accounts < 2) throw new Error('growPostings needs filler accounts first');
    let round = 0;
    for (;;) {
      const have = await scalar(db, sql`select count(*) as n from postings`);
      progress(have);
      if (have >= targetPostings) break;
      const transfers = Math.min(TRANSFER_CHUNK, Math.ceil((targetPostings - have) / 2));
      const entryBase = (await scalar(db, sql`select max(id) as n from journal_entries`)) + 1;
      const postingBase = (await scalar(db, sql`select max(id) as n from postings`)) + 1;
      // Sender and receiver of transfer k: spread over all filler accounts, never the same.
      const offset = round * TRANSFER_CHUNK;
      await db.transaction().execute(async (trx) => {
        if (pg) {
          await sql`set local statement_timeout = 0`.execute(trx);
          // The rows are built consistent (every id comes from scale_accounts and the entries
          // written just before), so the per-row foreign-key triggers are skipped while
          // seeding; `ledger verify` then checks every invariant of the result.
          await sql`set local session_replication_role = replica`.execute(trx);
        }
        await sql`drop table if exists scale_chunk`.execute(trx);
        await sql`
          create temporary table scale_chunk as
          select k, ${sql.lit(entryBase)} + k as entry_id,
            ((k + ${sql.lit(offset)}) * 7919) % ${sql.lit(accounts)} as from_idx,
            (((k + ${sql.lit(offset)}) * 7919) % ${sql.lit(accounts)} + 1 + ((k + ${sql.lit(offset)}) % ${sql.lit(accounts - 1)})) % ${sql.lit(accounts)} as to_idx
          from (${series(engine, transfers)}) s`.execute(trx);
        await sql`
          insert into journal_entries (id, kind, currency, amount_minor, description, created_at) ${over}
          select entry_id, 'transfer', 'USD', 1, 'scale benchmark history', ${now} from scale_chunk`.execute(
          trx,
        );
        await sql`
          insert into postings (id, entry_id, account_id, direction, amount_minor, currency,
            balance_after_minor, counterparty_account_id, created_at) ${over}
          select m.id, m.entry_id, m.account_id, m.direction, 1, 'USD',
            a.balance_minor + sum(m.delta) over (partition by m.account_id order by m.id
              rows between unbounded preceding and current row),
            m.counterparty, ${now}
          from (
            select ${sql.lit(postingBase)} + 2 * c.k as id, c.entry_id, f.id as account_id, 'debit' as direction,
              -1 as delta, t.id as counterparty
            from scale_chunk c
            join scale_accounts f on f.idx = c.from_idx
            join scale_accounts t on t.idx = c.to_idx
            union all
            select ${sql.lit(postingBase)} + 2 * c.k + 1, c.entry_id, t.id, 'credit', 1, f.id
            from scale_chunk c
            join scale_accounts f on f.idx = c.from_idx
            join scale_accounts t on t.idx = c.to_idx
          ) m
          join accounts a on a.id = m.account_id`.execute(trx);
        await sql`
          update accounts set balance_minor = balance_minor + (
            select coalesce(sum(case when p.direction = 'credit' then 1 else -1 end), 0)
            from postings p where p.account_id = accounts.id and p.id >= ${sql.lit(postingBase)})
          where id in (
            select f.id from scale_chunk c join scale_accounts f on f.idx = c.from_idx
            union
            select t.id from scale_chunk c join scale_accounts t on t.idx = c.to_idx)`.execute(trx);
        await sql`drop table scale_chunk`.execute(trx);
        if (pg) await resyncIdentities(trx as unknown as Db);
      });
      round += 1;
    }
    await sql`drop table scale_accounts`.execute(db);
  });
  return (performance.now() - started) / 1000;
}

/** PostgreSQL: refresh the planner's statistics (autovacuum is off on this machine). */
export async function analyze(database: BenchDatabase): Promise<void> {
  await withDb(database, async ({ db, engine }) => {
    if (engine === 'postgres') {
      await db.transaction().execute(async (trx) => {
        await sql`set local statement_timeout = 0`.execute(trx);
        await sql`analyze`.execute(trx);
      });
    }
  });
}

/**
 * The plans of the hot queries at this size (EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN on
 * SQLite), written to mirror the statements of src/ledger and src/controls (history page, account
 * lookup by number, balance update, the daily-limit sum). A full scan of postings or accounts fails the benchmark.
 */
export async function explainHotQueries(
  database: BenchDatabase,
  accountNumber: string,
): Promise<{ plans: Record<string, string>; fullScans: string[] }> {
  return withDb(database, async ({ db, engine }) => {
    const id = await scalar(
      db,
      sql`select id as n from accounts where account_number = ${accountNumber}`,
    );
    const dayStart = `${new Date().toISOString().slice(0, 10)}T00:00:00.000Z`;
    const dayEnd = new Date(Date.parse(dayStart) + 86_400_000).toISOString();
    const queries: Record<string, ReturnType<typeof sql>> = {
      'history page (listCustomerPostings)': sql`
        select p.id, a.account_number, e.kind, p.direction, p.amount_minor, p.balance_after_minor,
          e.description, cp.account_number, cp.kind, p.created_at,
          (select min(p2.id) from reversals r join postings p2 on p2.entry_id = r.original_entry_id
            where r.reversal_entry_id = p.entry_id and p2.account_id = p.account_id) as reversal_of
        from postings p
        join accounts a on a.id = p.account_id
        join journal_entries e on e.id = p.entry_id
        left join accounts cp on cp.id = p.counterparty_account_id
        where a.kind = 'customer' and p.account_id = ${sql.lit(id)}
        order by p.id desc limit 21`,
      'account by number': sql`select * from accounts where account_number = ${accountNumber}`,
      'balance update': sql`update accounts set balance_minor = balance_minor + 0 where id = ${sql.lit(id)}`,
      // src/controls/limits.ts: what the batch's users have sent today (run on every batch).
      'daily outgoing (limits)': sql`
        select a.user_id, p.currency, sum(p.amount_minor)
        from postings p
        join accounts a on a.id = p.account_id
        join journal_entries e on e.id = p.entry_id
        where a.user_id in (select user_id from accounts where id = ${sql.lit(id)})
          and e.actor_user_id = a.user_id and p.direction = 'debit'
          and e.kind in ('transfer', 'withdrawal')
          and p.created_at >= ${stamp(engine, dayStart)} and p.created_at < ${stamp(engine, dayEnd)}
        group by a.user_id, p.currency`,
    };
    const plans: Record<string, string> = {};
    const fullScans: string[] = [];
    for (const [name, query] of Object.entries(queries)) {
      const prefix = engine === 'postgres' ? sql.raw('explain ') : sql.raw('explain query plan ');
      const result = await sql<Record<string, unknown>>`${prefix}${query}`.execute(db);
      const text = result.rows
        .map((row) => String(row['QUERY PLAN'] ?? row.detail ?? JSON.stringify(row)))
        .join('\n');
      plans[name] = text;
      const scan =
        engine === 'postgres'
          ? /Seq Scan on (postings|accounts|journal_entries)\b/.exec(text)
          : /SCAN (p|a|e|postings|accounts|journal_entries)\b(?! USING)/.exec(text);
      if (scan !== null) fullScans.push(`${name}: ${scan[0]}`);
    }
    return { plans, fullScans };
  });
}

/** Some customer account numbers, filler ones included: the receivers of the scale runs. */
export async function sampleAccountNumbers(
  database: BenchDatabase,
  count: number,
): Promise<string[]> {
  return withDb(database, async ({ db }) => {
    const total = await scalar(db, sql`select count(*) as n from accounts where kind = 'customer'`);
    const step = Math.max(1, Math.floor(total / count));
    const result = await sql<{ account_number: string }>`
      select account_number from accounts where kind = 'customer' and id % ${sql.lit(step)} = 0
      limit ${sql.lit(count)}`.execute(db);
    return result.rows.map((row) => row.account_number);
  });
}

/** Transfers from the seeded customers (who have tokens) to accounts spread over all. */
export async function runSpreadTransfers(
  baseUrl: string,
  population: Population,
  receivers: readonly string[],
  connections: number,
  durationSeconds: number,
): Promise<LoadResult> {
  const senders = population.customers;
  const result = await autocannon({
    url: baseUrl,
    connections,
    duration: durationSeconds,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => {
          const sender = senders[Math.floor(Math.random() * senders.length)];
          let to = receivers[Math.floor(Math.random() * receivers.length)];
          if (sender === undefined || to === undefined) throw new Error('empty population');
          if (to === sender.account) to = population.merchant.account;
          return {
            ...request,
            method: 'POST',
            path: `/api/v1/accounts/${sender.account}/transfers`,
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${sender.token}`,
            },
            body: JSON.stringify({ toAccount: to, amount: '0.01', pin: BENCH_PIN }),
          };
        },
      },
    ],
  });
  return summarise('transfers spread over all accounts', result, durationSeconds);
}

/** A history page (`GET .../transactions`, 20 rows) of a seeded customer's own account. */
export async function runHistory(
  baseUrl: string,
  population: Population,
  connections: number,
  durationSeconds: number,
): Promise<LoadResult> {
  const customers = population.customers;
  const result = await autocannon({
    url: baseUrl,
    connections,
    duration: durationSeconds,
    timeout: 10,
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => {
          const customer = customers[Math.floor(Math.random() * customers.length)];
          if (customer === undefined) throw new Error('empty population');
          return {
            ...request,
            method: 'GET',
            path: `/api/v1/accounts/${customer.account}/transactions?limit=20`,
            headers: { authorization: `Bearer ${customer.token}` },
          };
        },
      },
    ],
  });
  return summarise('history page', result, durationSeconds);
}

export interface ScaleStep {
  label: string;
  accounts: number;
  postings: number;
  /** Seconds the set-based SQL took to reach this size (from the previous step). */
  growSeconds: number;
  /** Bare Fastify 5 POST of a 70-byte JSON body, measured just before this step. */
  barePost: LoadResult;
  transfers: LoadResult;
  history: LoadResult;
  plans: Record<string, string>;
  serverRssMaxMiB: number;
  verify: { ok: boolean; seconds: number; peakMiB: number; output: string };
}

export interface ScaleRun {
  engine: 'sqlite' | 'postgres';
  startedAt: string;
  finishedAt: string;
  command: string;
  loadAverageAtStart: number[];
  cpus: number;
  settings: { connections: number; durationSeconds: number; seededCustomers: number };
  steps: ScaleStep[];
  ok: boolean;
  failure: string | null;
}

export interface ScaleResults {
  runs: Partial<Record<'sqlite' | 'postgres', ScaleRun>>;
}

const SCALE_LABEL = { sqlite: 'embedded (SQLite)', postgres: 'PostgreSQL' } as const;

function n(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function toBare(step: ScaleStep): number {
  return step.barePost.okPerSecond > 0 ? step.transfers.okPerSecond / step.barePost.okPerSecond : 0;
}

/** docs/benchmarks-scale.md, generated from the scale results file. */
export function renderScaleMarkdown(results: ScaleResults, jsonPath: string): string {
  const out: string[] = [
    '# How cost grows',
    '',
    `Generated by \`npm run bench -- --scale\` from \`${jsonPath}\`; do not edit by hand. Filler customers, accounts and ledger history are written with set-based SQL (\`bench/lib/scale.ts\`), consistent with every invariant \`ledger verify\` checks; PostgreSQL is \`ANALYZE\`d after each growth (autovacuum is off on the benchmark machine) and the plans of the hot queries are checked with \`EXPLAIN\` at each size (a full scan of postings, accounts or journal entries fails the run). Transfers go from seeded customers (who have tokens) to accounts spread over all accounts; history pages are 20 rows of a seeded customer's own account, whose history grows with the ledger. The machine is shared, so each step's transfers are also a ratio to a bare Fastify 5 \`POST\` measured just before it; "÷ bare POST, first step" compares that ratio with the first step's (the goal of issue #17: throughput at 1,000,000 accounts within 20% of 1,000, i.e. ≥ 0.8); history p99 ≤ 10 ms at 10 million postings; \`ledger verify\` streams with bounded memory.`,
    '',
  ];
  for (const engine of ['sqlite', 'postgres'] as const) {
    const run = results.runs[engine];
    if (run === undefined) continue;
    const first = run.steps[0];
    out.push(
      `## ${SCALE_LABEL[engine]}`,
      '',
      `- Command: \`${run.command}\``,
      `- Run: ${run.startedAt} to ${run.finishedAt}; ${run.settings.connections} connections, ${run.settings.durationSeconds} s per measured run; ${run.cpus} cores, load average at start ${run.loadAverageAtStart.map((l) => l.toFixed(2)).join(' / ')}`,
      `- Outcome: ${run.ok ? 'every step ran and `ledger verify` held after each' : run.finishedAt === '' ? `stopped before the end; the steps below ran and \`ledger verify\` held after each` : `FAILED: ${(run.failure ?? 'unknown').split('\n')[0]}`}`,
      '',
      '| Size | Accounts | Postings | grown in s | bare POST/s | transfers 2xx/s | ÷ bare POST | ÷ bare POST, first step | transfers p99 ms | history 2xx/s | history p99 ms | server max RSS MiB | verify s | verify peak MiB |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...run.steps.map(
        (step) =>
          `| ${step.label} | ${n(step.accounts)} | ${n(step.postings)} | ${step.growSeconds.toFixed(1)} | ${n(step.barePost.okPerSecond)} | ${n(step.transfers.okPerSecond)} | ${toBare(step).toFixed(2)} | ${first === undefined ? '–' : (toBare(step) / toBare(first)).toFixed(2)} | ${step.transfers.latencyMs.p99.toFixed(1)} | ${n(step.history.okPerSecond)} | ${step.history.latencyMs.p99.toFixed(1)} | ${step.serverRssMaxMiB.toFixed(0)} | ${step.verify.seconds.toFixed(1)} | ${step.verify.peakMiB.toFixed(0)} |`,
      ),
      '',
    );
    const last = run.steps.at(-1);
    if (last !== undefined) {
      out.push(`Plans at the largest size (${last.label}):`, '');
      for (const [name, plan] of Object.entries(last.plans)) {
        out.push(`${name}:`, '', '```text', plan, '```', '');
      }
    }
  }
  return `${out.join('\n')}\n`;
}
