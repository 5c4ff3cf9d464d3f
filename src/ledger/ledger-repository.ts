import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { JournalEntriesTable, PostingsTable } from '../db/schema.ts';

/** How a listing narrows customer transactions; every field is optional. */
export interface TransactionFilter {
  /** By internal id (an account's own history) or by number (the staff monitor). */
  accountId?: bigint | null;
  accountNumber: string | null;
  entryKind: JournalEntriesTable['kind'] | null;
  direction: PostingsTable['direction'] | null;
  currency: string | null;
  minAmountMinor: bigint | null;
  maxAmountMinor: bigint | null;
  /** Inclusive lower bound, ISO 8601 UTC as stored. */
  from: string | null;
  /** Exclusive upper bound, ISO 8601 UTC as stored. */
  to: string | null;
}

export interface MonitorRow {
  postingId: bigint;
  accountNumber: string;
  entryKind: JournalEntriesTable['kind'];
  direction: PostingsTable['direction'];
  amountMinor: bigint;
  currency: string;
  balanceAfterMinor: bigint;
  description: string | null;
  counterpartyNumber: string | null;
  counterpartyKind: 'customer' | 'system' | null;
  createdAt: string;
  /** The links of a reversal (issue #13): the other entry's posting on the same account. */
  reversalOf: string | null;
  reversedBy: string | null;
}

/**
 * Postings on customer accounts, newest first (by posting id), strictly older than
 * `beforePostingId` when given. The vault's side of each entry is internal and never listed.
 */
export async function listCustomerPostings(
  db: Db,
  filter: TransactionFilter,
  page: { limit: number; beforePostingId: bigint | null },
): Promise<MonitorRow[]> {
  const f = filter;
  const rows = await db
    .selectFrom('postings as p')
    .innerJoin('accounts as a', 'a.id', 'p.account_id')
    .innerJoin('journal_entries as e', 'e.id', 'p.entry_id')
    .leftJoin('accounts as cp', 'cp.id', 'p.counterparty_account_id')
    .select([
      'p.id',
      'a.account_number',
      'e.kind',
      'p.direction',
      'p.amount_minor',
      'p.currency',
      'p.balance_after_minor',
      'e.description',
      'cp.account_number as counterparty_number',
      'cp.kind as counterparty_kind',
      'p.created_at',
      sql<string | null>`(select min(p2.id) from reversals r join postings p2
        on p2.entry_id = r.original_entry_id
        where r.reversal_entry_id = p.entry_id and p2.account_id = p.account_id)`.as('reversal_of'),
      sql<string | null>`(select min(p2.id) from reversals r join postings p2
        on p2.entry_id = r.reversal_entry_id
        where r.original_entry_id = p.entry_id and p2.account_id = p.account_id)`.as('reversed_by'),
    ])
    .where('a.kind', '=', 'customer')
    .$if(f.accountId != null, (q) => q.where('p.account_id', '=', f.accountId ?? 0n))
    .$if(f.accountNumber !== null, (q) => q.where('a.account_number', '=', f.accountNumber ?? ''))
    .$if(f.entryKind !== null, (q) => q.where('e.kind', '=', f.entryKind ?? 'deposit'))
    .$if(f.direction !== null, (q) => q.where('p.direction', '=', f.direction ?? 'credit'))
    .$if(f.currency !== null, (q) => q.where('p.currency', '=', f.currency ?? ''))
    .$if(f.minAmountMinor !== null, (q) => q.where('p.amount_minor', '>=', f.minAmountMinor ?? 0n))
    .$if(f.maxAmountMinor !== null, (q) => q.where('p.amount_minor', '<=', f.maxAmountMinor ?? 0n))
    .$if(f.from !== null, (q) => q.where('p.created_at', '>=', f.from ?? ''))
    .$if(f.to !== null, (q) => q.where('p.created_at', '<', f.to ?? ''))
    .$if(page.beforePostingId !== null, (q) => q.where('p.id', '<', page.beforePostingId ?? 0n))
    .orderBy('p.id', 'desc')
    .limit(page.limit)
    .execute();
  return rows.map((row) => ({
    postingId: row.id,
    accountNumber: row.account_number,
    entryKind: row.kind,
    direction: row.direction,
    amountMinor: row.amount_minor,
    currency: row.currency,
    balanceAfterMinor: row.balance_after_minor,
    description: row.description,
    counterpartyNumber: row.counterparty_number,
    counterpartyKind: row.counterparty_kind,
    createdAt: row.created_at,
    reversalOf: row.reversal_of === null ? null : String(row.reversal_of),
    reversedBy: row.reversed_by === null ? null : String(row.reversed_by),
  }));
}

/** A customer account's postings as its history shows them. */
export type HistoryRow = MonitorRow;

const NO_FILTER: TransactionFilter = {
  accountNumber: null,
  entryKind: null,
  direction: null,
  currency: null,
  minAmountMinor: null,
  maxAmountMinor: null,
  from: null,
  to: null,
};

/** One account's postings, newest first, strictly older than `beforePostingId` when given. */
export function listAccountHistory(
  db: Db,
  accountId: bigint,
  page: { limit: number; beforePostingId: bigint | null },
): Promise<HistoryRow[]> {
  return listCustomerPostings(db, { ...NO_FILTER, accountId }, page);
}
