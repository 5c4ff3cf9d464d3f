import type { Db, Engine, Trx } from '../db/database.ts';
import type { AccountsTable } from '../db/schema.ts';

export interface AccountRecord {
  id: bigint;
  accountNumber: string;
  userId: string | null;
  kind: AccountsTable['kind'];
  type: AccountsTable['type'];
  currency: string;
  nickname: string | null;
  status: AccountsTable['status'];
  balanceMinor: bigint;
  createdAt: string;
}

const ACCOUNT_COLUMNS = [
  'id',
  'account_number',
  'user_id',
  'kind',
  'type',
  'currency',
  'nickname',
  'status',
  'balance_minor',
  'created_at',
] as const;

export type AccountRow = {
  id: bigint;
  account_number: string;
  user_id: string | null;
  kind: AccountsTable['kind'];
  type: AccountsTable['type'];
  currency: string;
  nickname: string | null;
  status: AccountsTable['status'];
  balance_minor: bigint;
  created_at: string;
};

export function accountRecordOf(row: AccountRow): AccountRecord {
  return {
    id: row.id,
    accountNumber: row.account_number,
    userId: row.user_id,
    kind: row.kind,
    type: row.type,
    currency: row.currency,
    nickname: row.nickname,
    status: row.status,
    balanceMinor: row.balance_minor,
    createdAt: row.created_at,
  };
}

/** The bank's cash (vault) account of a currency: the other side of deposits and withdrawals. */
export function vaultAccountNumber(currency: string): string {
  return `VAULT-${currency}`;
}

export async function ensureVaultAccount(db: Db, currency: string, now: string): Promise<void> {
  await db
    .insertInto('accounts')
    .values({
      account_number: vaultAccountNumber(currency),
      user_id: null,
      kind: 'system',
      type: 'cash',
      currency,
      nickname: `${currency} cash`,
      status: 'active',
      balance_minor: 0n,
      created_at: now,
    })
    .onConflict((oc) => oc.column('account_number').doNothing())
    .execute();
}

export async function insertCustomerAccount(
  db: Db,
  account: {
    accountNumber: string;
    userId: string;
    type: 'checking' | 'savings';
    currency: string;
    nickname: string | null;
    now: string;
  },
): Promise<AccountRecord> {
  const row = await db
    .insertInto('accounts')
    .values({
      account_number: account.accountNumber,
      user_id: account.userId,
      kind: 'customer',
      type: account.type,
      currency: account.currency,
      nickname: account.nickname,
      status: 'active',
      balance_minor: 0n,
      created_at: account.now,
    })
    .returning(ACCOUNT_COLUMNS)
    .executeTakeFirstOrThrow();
  return accountRecordOf(row);
}

export async function countAccountsOfUser(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom('accounts')
    .select((eb) => eb.fn.countAll<bigint>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function listAccountsOfUser(db: Db, userId: string): Promise<AccountRecord[]> {
  const rows = await db
    .selectFrom('accounts')
    .select(ACCOUNT_COLUMNS)
    .where('user_id', '=', userId)
    .orderBy('id')
    .execute();
  return rows.map(accountRecordOf);
}

export async function findAccountByNumber(
  db: Db | Trx,
  accountNumber: string,
): Promise<AccountRecord | null> {
  const row = await db
    .selectFrom('accounts')
    .select(ACCOUNT_COLUMNS)
    .where('account_number', '=', accountNumber)
    .executeTakeFirst();
  return row === undefined ? null : accountRecordOf(row);
}

/**
 * Reads accounts and, on PostgreSQL, locks them for the rest of the transaction. Rows are
 * locked in ascending id order whatever order the caller names them in: two transfers
 * A→B and B→A then queue on the same first lock instead of deadlocking.
 */
export async function lockAccounts(
  trx: Trx,
  engine: Engine,
  accountNumbers: readonly string[],
): Promise<Map<string, AccountRecord>> {
  const rows = await trx
    .selectFrom('accounts')
    .select(ACCOUNT_COLUMNS)
    .where('account_number', 'in', [...new Set(accountNumbers)])
    .orderBy('id')
    .$if(engine === 'postgres', (q) => q.forNoKeyUpdate())
    .execute();
  return new Map(rows.map((row) => [row.account_number, accountRecordOf(row)]));
}
