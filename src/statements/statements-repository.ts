import { sql } from 'kysely';
import type { Db, Engine } from '../db/database.ts';
import type { AccountsTable, JournalEntriesTable, PostingsTable } from '../db/schema.ts';

/**
 * Reads for statements and balances in time. Every query walks the
 * `postings_account_time_idx` index (account, created_at, id): the order a statement lists
 * postings in, and the order "the last posting at or before an instant" looks back along.
 */

export interface StatementAccount {
  id: bigint;
  accountNumber: string;
  userId: string | null;
  kind: AccountsTable['kind'];
  currency: string;
  ownerName: string | null;
}

export async function findStatementAccount(
  db: Db,
  accountNumber: string,
): Promise<StatementAccount | null> {
  const row = await db
    .selectFrom('accounts as a')
    .leftJoin('users as u', 'u.id', 'a.user_id')
    .select(['a.id', 'a.account_number', 'a.user_id', 'a.kind', 'a.currency', 'u.full_name'])
    .where('a.account_number', '=', accountNumber)
    .executeTakeFirst();
  if (row === undefined) return null;
  return {
    id: row.id,
    accountNumber: row.account_number,
    userId: row.user_id,
    kind: row.kind,
    currency: row.currency,
    ownerName: row.full_name,
  };
}

/**
 * The balance after the last posting at or before `atIso`, or null when the account had no
 * posting yet. One probe of the index, backwards from (account, at).
 */
export async function balanceAfterLastPosting(
  db: Db,
  accountId: bigint,
  atIso: string,
): Promise<bigint | null> {
  const row = await balanceAtQuery(db, accountId, atIso).executeTakeFirst();
  return row === undefined ? null : row.balance_after_minor;
}

/** The query itself, exported so a test can ask the database for its plan. */
export function balanceAtQuery(db: Db, accountId: bigint, atIso: string) {
  return db
    .selectFrom('postings')
    .select('balance_after_minor')
    .where('account_id', '=', accountId)
    .where('created_at', '<=', atIso)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1);
}

export interface PeriodTotals {
  creditsMinor: bigint;
  debitsMinor: bigint;
  lineCount: number;
}

/** Sums of credits and debits, and the number of postings, in [fromIso, toIso]. */
export async function periodTotals(
  db: Db,
  accountId: bigint,
  fromIso: string,
  toIso: string,
): Promise<PeriodTotals> {
  const rows = await db
    .selectFrom('postings')
    .select((eb) => [
      'direction',
      eb.fn.sum<bigint | number | string>('amount_minor').as('total'),
      eb.fn.countAll<bigint | number>().as('n'),
    ])
    .where('account_id', '=', accountId)
    .where('created_at', '>=', fromIso)
    .where('created_at', '<=', toIso)
    .groupBy('direction')
    .execute();
  const totals: PeriodTotals = { creditsMinor: 0n, debitsMinor: 0n, lineCount: 0 };
  for (const row of rows) {
    // PostgreSQL's sum of bigint is numeric (read as a string); SQLite's is an integer.
    const total = BigInt(row.total);
    if (row.direction === 'credit') totals.creditsMinor = total;
    else totals.debitsMinor = total;
    totals.lineCount += Number(row.n);
  }
  return totals;
}

export interface StatementLineRow {
  postingId: bigint;
  entryKind: JournalEntriesTable['kind'];
  direction: PostingsTable['direction'];
  amountMinor: bigint;
  currency: string;
  balanceAfterMinor: bigint;
  description: string | null;
  counterpartyNumber: string | null;
  counterpartyKind: AccountsTable['kind'] | null;
  createdAt: string;
}

/** Where the previous page ended: the next page starts strictly after it. */
export interface LineCursor {
  createdAt: string;
  postingId: bigint;
}

/**
 * One page of an account's postings in [fromIso, toIso], oldest first, strictly after
 * `after` in (created_at, id) order. The row-value comparison lets the index seek straight
 * to the cursor, so every page costs the same however deep into the month it is.
 */
export async function statementLinesPage(
  db: Db,
  engine: Engine,
  accountId: bigint,
  range: { fromIso: string; toIso: string },
  after: LineCursor | null,
  limit: number,
): Promise<StatementLineRow[]> {
  const rows = await db
    .selectFrom('postings as p')
    .innerJoin('journal_entries as e', 'e.id', 'p.entry_id')
    .leftJoin('accounts as cp', 'cp.id', 'p.counterparty_account_id')
    .select([
      'p.id',
      'e.kind',
      'p.direction',
      'p.amount_minor',
      'p.currency',
      'p.balance_after_minor',
      'e.description',
      'cp.account_number as counterparty_number',
      'cp.kind as counterparty_kind',
      'p.created_at',
    ])
    .where('p.account_id', '=', accountId)
    .where('p.created_at', '>=', range.fromIso)
    .where('p.created_at', '<=', range.toIso)
    .$if(after !== null, (q) =>
      q.where(
        engine === 'postgres'
          ? sql<boolean>`(p.created_at, p.id) > (${after?.createdAt}::timestamptz, ${after?.postingId}::bigint)`
          : sql<boolean>`(p.created_at, p.id) > (${after?.createdAt}, ${after?.postingId})`,
      ),
    )
    .orderBy('p.created_at')
    .orderBy('p.id')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    postingId: row.id,
    entryKind: row.kind,
    direction: row.direction,
    amountMinor: row.amount_minor,
    currency: row.currency,
    balanceAfterMinor: row.balance_after_minor,
    description: row.description,
    counterpartyNumber: row.counterparty_number,
    counterpartyKind: row.counterparty_kind,
    createdAt: row.created_at,
  }));
}
