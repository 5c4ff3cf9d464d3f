import type { Db, Trx } from '../db/database.ts';
import type { JournalEntriesTable, PostingsTable } from '../db/schema.ts';

export interface NewEntry {
  kind: JournalEntriesTable['kind'];
  currency: string;
  amountMinor: bigint;
  description: string | null;
  actorUserId: string;
  now: string;
}

export interface NewPosting {
  entryId: bigint;
  accountId: bigint;
  direction: PostingsTable['direction'];
  amountMinor: bigint;
  currency: string;
  balanceAfterMinor: bigint;
  counterpartyAccountId: bigint;
  now: string;
}

export async function insertEntry(trx: Trx, entry: NewEntry): Promise<bigint> {
  const row = await trx
    .insertInto('journal_entries')
    .values({
      kind: entry.kind,
      currency: entry.currency,
      amount_minor: entry.amountMinor,
      description: entry.description,
      actor_user_id: entry.actorUserId,
      created_at: entry.now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function insertPosting(trx: Trx, posting: NewPosting): Promise<bigint> {
  const row = await trx
    .insertInto('postings')
    .values({
      entry_id: posting.entryId,
      account_id: posting.accountId,
      direction: posting.direction,
      amount_minor: posting.amountMinor,
      currency: posting.currency,
      balance_after_minor: posting.balanceAfterMinor,
      counterparty_account_id: posting.counterpartyAccountId,
      created_at: posting.now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export interface StoredIdempotencyKey {
  requestHash: string;
  outcome: string;
}

export async function findIdempotencyKey(
  trx: Trx,
  userId: string,
  key: string,
): Promise<StoredIdempotencyKey | null> {
  const row = await trx
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'outcome'])
    .where('user_id', '=', userId)
    .where('key', '=', key)
    .executeTakeFirst();
  return row === undefined ? null : { requestHash: row.request_hash, outcome: row.outcome };
}

export async function insertIdempotencyKey(
  trx: Trx,
  record: { userId: string; key: string; requestHash: string; outcome: string; now: string },
): Promise<void> {
  await trx
    .insertInto('idempotency_keys')
    .values({
      user_id: record.userId,
      key: record.key,
      request_hash: record.requestHash,
      outcome: record.outcome,
      created_at: record.now,
    })
    .execute();
}

export interface HistoryRow {
  postingId: bigint;
  entryKind: JournalEntriesTable['kind'];
  direction: PostingsTable['direction'];
  amountMinor: bigint;
  currency: string;
  balanceAfterMinor: bigint;
  description: string | null;
  counterpartyNumber: string | null;
  counterpartyKind: 'customer' | 'system' | null;
  createdAt: string;
}

/** One account's postings, newest first, strictly older than `beforePostingId` when given. */
export async function listAccountHistory(
  db: Db,
  accountId: bigint,
  page: { limit: number; beforePostingId: bigint | null },
): Promise<HistoryRow[]> {
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
      'cp.account_number',
      'cp.kind as counterparty_kind',
      'p.created_at',
    ])
    .where('p.account_id', '=', accountId)
    .$if(page.beforePostingId !== null, (q) => q.where('p.id', '<', page.beforePostingId ?? 0n))
    .orderBy('p.id', 'desc')
    .limit(page.limit)
    .execute();
  return rows.map((row) => ({
    postingId: row.id,
    entryKind: row.kind,
    direction: row.direction,
    amountMinor: row.amount_minor,
    currency: row.currency,
    balanceAfterMinor: row.balance_after_minor,
    description: row.description,
    counterpartyNumber: row.account_number,
    counterpartyKind: row.counterparty_kind,
    createdAt: row.created_at,
  }));
}
