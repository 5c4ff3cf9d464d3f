import type { Db, Trx } from '../db/database.ts';
import type { HoldsTable } from '../db/schema.ts';
import type {
  HoldView,
  LockedAccount,
  LockedHold,
  MoneyCommand,
} from '../ledger/commands/command.ts';
import { formatMinor } from '../money/money.ts';

/**
 * SQL for holds. The write path reads holds in `readBatch` (under the account locks it has
 * just taken) and changes them through `batch.extraWrites`; the sweeper and the reads of
 * the API use the rest.
 */

const HOLD_COLUMNS = [
  'holds.id',
  'holds.account_id',
  'accounts.account_number',
  'holds.amount_minor',
  'holds.currency',
  'holds.status',
  'holds.captured_minor',
  'holds.description',
  'holds.expires_at',
  'holds.created_at',
  'holds.updated_at',
  'holds.capture_transaction_id',
] as const;

export interface HoldRow {
  id: string;
  account_id: bigint;
  account_number: string;
  amount_minor: bigint;
  currency: string;
  status: HoldsTable['status'];
  captured_minor: bigint;
  description: string | null;
  expires_at: string;
  created_at: string;
  updated_at: string;
  capture_transaction_id: string | null;
}

export interface HoldRecord extends LockedHold {
  captureTransactionId: string | null;
}

export function holdRecordOf(row: HoldRow): HoldRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    accountNumber: row.account_number,
    amountMinor: row.amount_minor,
    currency: row.currency,
    status: row.status,
    capturedMinor: row.captured_minor,
    description: row.description,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    captureTransactionId: row.capture_transaction_id,
  };
}

/**
 * The hold as the API shows it at `now`: a pending hold past its expiry is `expired` at
 * once, whether or not the sweeper has recorded it yet.
 */
export function toHoldView(hold: LockedHold, now: string): HoldView {
  const expired = hold.status === 'pending' && hold.expiresAt <= now;
  return {
    id: hold.id,
    accountNumber: hold.accountNumber,
    amount: formatMinor(hold.amountMinor, hold.currency),
    currency: hold.currency,
    status: expired ? 'expired' : hold.status,
    capturedAmount: formatMinor(hold.capturedMinor, hold.currency),
    description: hold.description,
    expiresAt: hold.expiresAt,
    createdAt: hold.createdAt,
    updatedAt: hold.updatedAt,
  };
}

/** The existing holds a batch's commands name (captures, voids), each once. */
export function namedHoldIds(commands: readonly MoneyCommand[]): string[] {
  return [
    ...new Set(
      commands.flatMap((c) => ('holdId' in c && c.kind !== 'hold_place' ? [c.holdId] : [])),
    ),
  ];
}

/**
 * For a batch, under the account locks `readBatch` holds: the sum of each locked account's
 * pending, unexpired holds (into `pendingHoldsMinor`), and every hold a command names.
 * Every change of a hold's status is made under its account's lock (the write path and the
 * sweeper both take it), so what is read here stays true until the batch commits.
 */
export async function readHoldsForBatch(
  trx: Trx,
  accounts: Map<string, LockedAccount>,
  commands: readonly MoneyCommand[],
  now: string,
): Promise<Map<string, LockedHold>> {
  const holds = new Map<string, LockedHold>();
  const byId = new Map<bigint, LockedAccount>();
  for (const account of accounts.values()) byId.set(account.id, account);
  if (byId.size > 0) {
    const sums = await trx
      .selectFrom('holds')
      .select(['account_id', (eb) => eb.fn.sum<bigint>('amount_minor').as('total')])
      .where('account_id', 'in', [...byId.keys()])
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .groupBy('account_id')
      .execute();
    for (const row of sums) {
      const account = byId.get(row.account_id);
      if (account !== undefined) account.pendingHoldsMinor = BigInt(row.total);
    }
  }
  const named = namedHoldIds(commands);
  if (named.length > 0) {
    const rows = await trx
      .selectFrom('holds')
      .innerJoin('accounts', 'accounts.id', 'holds.account_id')
      .select(HOLD_COLUMNS)
      .where('holds.id', 'in', named)
      .execute();
    for (const row of rows) holds.set(row.id, holdRecordOf(row));
  }
  return holds;
}

export async function insertHold(
  trx: Trx,
  hold: LockedHold & { createdBy: string },
): Promise<bigint> {
  const result = await trx
    .insertInto('holds')
    .values({
      id: hold.id,
      account_id: hold.accountId,
      amount_minor: hold.amountMinor,
      currency: hold.currency,
      status: 'pending',
      captured_minor: 0n,
      description: hold.description,
      created_by: hold.createdBy,
      capture_transaction_id: null,
      expires_at: hold.expiresAt,
      created_at: hold.createdAt,
      updated_at: hold.updatedAt,
    })
    .executeTakeFirst();
  return BigInt(result.numInsertedOrUpdatedRows ?? 0n);
}

/** Moves a pending hold to its final status; the number of rows changed (0 or 1). */
export async function closeHold(
  trx: Trx,
  change: {
    id: string;
    status: 'captured' | 'voided' | 'expired';
    capturedMinor?: bigint;
    captureTransactionId?: string | null;
    now: string;
  },
): Promise<bigint> {
  const result = await trx
    .updateTable('holds')
    .set({
      status: change.status,
      updated_at: change.now,
      ...(change.capturedMinor === undefined ? {} : { captured_minor: change.capturedMinor }),
      ...(change.captureTransactionId === undefined
        ? {}
        : { capture_transaction_id: change.captureTransactionId }),
    })
    .where('id', '=', change.id)
    .where('status', '=', 'pending')
    .$if(change.status === 'expired', (q) => q.where('expires_at', '<=', change.now))
    .executeTakeFirst();
  return BigInt(result.numUpdatedRows);
}

export async function findHold(db: Db | Trx, id: string): Promise<HoldRecord | null> {
  const row = await db
    .selectFrom('holds')
    .innerJoin('accounts', 'accounts.id', 'holds.account_id')
    .select(HOLD_COLUMNS)
    .where('holds.id', '=', id)
    .executeTakeFirst();
  return row === undefined ? null : holdRecordOf(row);
}

/**
 * One account's holds, newest first, optionally of one status as the API shows it (an
 * expired-but-unswept hold counts as `expired`, not `pending`).
 */
export async function listHolds(
  db: Db,
  accountId: bigint,
  options: {
    status: HoldsTable['status'] | null;
    now: string;
    limit: number;
    before: string | null;
  },
): Promise<HoldRecord[]> {
  let query = db
    .selectFrom('holds')
    .innerJoin('accounts', 'accounts.id', 'holds.account_id')
    .select(HOLD_COLUMNS)
    .where('holds.account_id', '=', accountId);
  const { status, now } = options;
  if (status === 'pending') {
    query = query.where('holds.status', '=', 'pending').where('holds.expires_at', '>', now);
  } else if (status === 'expired') {
    query = query.where((eb) =>
      eb.or([
        eb('holds.status', '=', 'expired'),
        eb.and([eb('holds.status', '=', 'pending'), eb('holds.expires_at', '<=', now)]),
      ]),
    );
  } else if (status !== null) {
    query = query.where('holds.status', '=', status);
  }
  if (options.before !== null) query = query.where('holds.created_at', '<', options.before);
  const rows = await query
    .orderBy('holds.created_at', 'desc')
    .orderBy('holds.id', 'desc')
    .limit(options.limit)
    .execute();
  return rows.map(holdRecordOf);
}

/** Pending holds past their expiry, oldest first: what the sweeper records next. */
export async function expiredPendingHolds(
  db: Db,
  now: string,
  limit: number,
): Promise<Array<{ id: string; accountNumber: string }>> {
  const rows = await db
    .selectFrom('holds')
    .innerJoin('accounts', 'accounts.id', 'holds.account_id')
    .select(['holds.id', 'accounts.account_number'])
    .where('holds.status', '=', 'pending')
    .where('holds.expires_at', '<=', now)
    .orderBy('holds.expires_at')
    .limit(limit)
    .execute();
  return rows.map((row) => ({ id: row.id, accountNumber: row.account_number }));
}

/** The bank's settlement account of a currency: where a capture without `toAccount` goes. */
export function settlementAccountNumber(currency: string): string {
  return `SETTLEMENT-${currency}`;
}

/** Creates a bank-side (`system`) account if it does not exist yet. */
export async function ensureSystemAccount(
  db: Db,
  accountNumber: string,
  currency: string,
  nickname: string,
): Promise<void> {
  await db
    .insertInto('accounts')
    .values({
      account_number: accountNumber,
      user_id: null,
      kind: 'system',
      // The schema knows one type of bank-side account; its number says what it is for.
      type: 'cash',
      currency,
      nickname,
      status: 'active',
      balance_minor: 0n,
      created_at: new Date().toISOString(),
    })
    .onConflict((oc) => oc.column('account_number').doNothing())
    .execute();
}

/** Sum of pending, unexpired holds of each of these accounts (absent: none). */
export async function pendingHoldsOf(
  db: Db,
  accountIds: readonly bigint[],
  now: string,
): Promise<Map<bigint, bigint>> {
  if (accountIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('holds')
    .select(['account_id', (eb) => eb.fn.sum<bigint>('amount_minor').as('total')])
    .where('account_id', 'in', [...accountIds])
    .where('status', '=', 'pending')
    .where('expires_at', '>', now)
    .groupBy('account_id')
    .execute();
  return new Map(rows.map((row) => [row.account_id, BigInt(row.total)]));
}
