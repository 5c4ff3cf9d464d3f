import { sql } from 'kysely';
import { type AccountRecord, findAccountByNumber } from '../accounts/accounts-repository.ts';
import type { Db } from '../db/database.ts';

/** What a teller sees of a customer in a search: never a hash, a PIN or a secret. */
export interface CustomerRecord {
  id: string;
  username: string;
  fullName: string;
  email: string;
  lockedAt: string | null;
}

/** A search answers at most this many customers; the teller narrows the words otherwise. */
export const CUSTOMER_SEARCH_LIMIT = 20;
/** Most accounts read per search: every customer holds at most 10. */
const ACCOUNTS_PER_SEARCH = CUSTOMER_SEARCH_LIMIT * 10;

const ACCOUNT_NUMBER = /^[0-9]{12}$/;

/** LIKE wildcards in what the teller typed are matched literally. */
function likeEscaped(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Customers whose username starts with, or whose full name contains, the query (case
 * blind), or who hold the account with that exact number. Only users with the customer role
 * are found: the cash desk serves customers, and staff profiles are not its business.
 */
export async function searchCustomers(db: Db, query: string): Promise<CustomerRecord[]> {
  const compact = query.replace(/\s/g, '');
  let ids: string[];
  if (ACCOUNT_NUMBER.test(compact)) {
    const account = await findAccountByNumber(db, compact);
    ids = account?.kind === 'customer' && account.userId !== null ? [account.userId] : [];
  } else {
    const lowered = query.toLowerCase();
    const prefix = `${likeEscaped(lowered)}%`;
    const contains = `%${likeEscaped(lowered)}%`;
    const rows = await db
      .selectFrom('users')
      .select('id')
      .where((eb) =>
        eb.or([
          eb(sql`lower(username)`, 'like', sql`${prefix} escape '\\'`),
          eb(sql`lower(full_name)`, 'like', sql`${contains} escape '\\'`),
        ]),
      )
      .orderBy('username')
      .limit(CUSTOMER_SEARCH_LIMIT * 4)
      .execute();
    ids = rows.map((row) => row.id);
  }
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('users')
    .innerJoin('user_roles', 'user_roles.user_id', 'users.id')
    .select(['users.id', 'users.username', 'users.full_name', 'users.email', 'users.locked_at'])
    .where('users.id', 'in', ids)
    .where('user_roles.role', '=', 'customer')
    .orderBy('users.username')
    .limit(CUSTOMER_SEARCH_LIMIT)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    username: row.username,
    fullName: row.full_name,
    email: row.email,
    lockedAt: row.locked_at,
  }));
}

/** The customer accounts of several users, oldest first, in one query. */
export async function accountsOfUsers(
  db: Db,
  userIds: readonly string[],
): Promise<Map<string, AccountRecord[]>> {
  const byUser = new Map<string, AccountRecord[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return byUser;
  const rows = await db
    .selectFrom('accounts')
    .select([
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
    ])
    .where('user_id', 'in', [...userIds])
    .where('kind', '=', 'customer')
    .orderBy('id')
    .limit(ACCOUNTS_PER_SEARCH)
    .execute();
  for (const row of rows) {
    if (row.user_id === null) continue;
    byUser.get(row.user_id)?.push({
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
    });
  }
  return byUser;
}

/** Usernames and names of the given user ids (for showing audit actors as people). */
export async function namesOfUsers(
  db: Db,
  userIds: readonly string[],
): Promise<Array<{ id: string; username: string; fullName: string }>> {
  if (userIds.length === 0) return [];
  const rows = await db
    .selectFrom('users')
    .select(['id', 'username', 'full_name'])
    .where('id', 'in', [...userIds])
    .execute();
  return rows.map((row) => ({ id: row.id, username: row.username, fullName: row.full_name }));
}
