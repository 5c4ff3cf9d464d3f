import { sql } from 'kysely';
import { isRole, type Role } from '../auth/roles.ts';
import type { Db, Engine, Trx } from '../db/database.ts';
import type { AuditEventsTable } from '../db/schema.ts';

/** Everything staff see of a user: never a hash, a PIN or a secret. */
export interface AdminUserRecord {
  id: string;
  username: string;
  fullName: string;
  roles: Role[];
  failedPinAttempts: number;
  lockedAt: string | null;
  lockReason: string | null;
  createdAt: string;
}

const ADMIN_USER_COLUMNS = [
  'id',
  'username',
  'full_name',
  'failed_pin_attempts',
  'locked_at',
  'lock_reason',
  'created_at',
] as const;

type AdminUserRow = {
  id: string;
  username: string;
  full_name: string;
  failed_pin_attempts: bigint;
  locked_at: string | null;
  lock_reason: string | null;
  created_at: string;
};

function toAdminUser(row: AdminUserRow, roles: Role[]): AdminUserRecord {
  return {
    id: row.id,
    username: row.username,
    fullName: row.full_name,
    roles,
    failedPinAttempts: Number(row.failed_pin_attempts),
    lockedAt: row.locked_at,
    lockReason: row.lock_reason,
    createdAt: row.created_at,
  };
}

/** The roles of several users in one query (a page of users, not one query per user). */
async function rolesOfUsers(
  db: Db | Trx,
  userIds: readonly string[],
): Promise<Map<string, Role[]>> {
  const roles = new Map<string, Role[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return roles;
  const rows = await db
    .selectFrom('user_roles')
    .select(['user_id', 'role'])
    .where('user_id', 'in', [...userIds])
    .orderBy('user_id')
    .orderBy('role')
    .execute();
  for (const row of rows) {
    if (isRole(row.role)) roles.get(row.user_id)?.push(row.role);
  }
  return roles;
}

export interface StatsRecord {
  users: bigint;
  lockedUsers: bigint;
  accounts: bigint;
  frozenAccounts: bigint;
  /** Sum of customer balances per currency, in minor units, ordered by currency. */
  balances: Array<{ currency: string; totalMinor: bigint }>;
}

export async function readStats(db: Db): Promise<StatsRecord> {
  const users = await db
    .selectFrom('users')
    .select((eb) => [
      eb.fn.countAll<bigint>().as('users'),
      eb.fn.count<bigint>('locked_at').as('locked'),
    ])
    .executeTakeFirstOrThrow();
  const accounts = await db
    .selectFrom('accounts')
    .select((eb) => eb.fn.countAll<bigint>().as('n'))
    .where('kind', '=', 'customer')
    .executeTakeFirstOrThrow();
  const frozen = await db
    .selectFrom('accounts')
    .select((eb) => eb.fn.countAll<bigint>().as('n'))
    .where('kind', '=', 'customer')
    .where('status', '=', 'frozen')
    .executeTakeFirstOrThrow();
  // The sum is read as text and converted with BigInt: PostgreSQL's sum(bigint) is numeric,
  // which no driver returns as an exact integer, and a float would lose cents.
  const balances = await db
    .selectFrom('accounts')
    .select(['currency', sql<string>`cast(sum(balance_minor) as text)`.as('total')])
    .where('kind', '=', 'customer')
    .groupBy('currency')
    .orderBy('currency')
    .execute();
  return {
    users: BigInt(users.users),
    lockedUsers: BigInt(users.locked),
    accounts: BigInt(accounts.n),
    frozenAccounts: BigInt(frozen.n),
    balances: balances.map((row) => ({ currency: row.currency, totalMinor: BigInt(row.total) })),
  };
}

/** Position in the users list (newest first): the last row of the previous page. */
export interface UserCursor {
  createdAt: string;
  id: string;
}

export async function listUsers(
  db: Db,
  filter: { locked: boolean | null },
  page: { limit: number; after: UserCursor | null },
): Promise<AdminUserRecord[]> {
  const after = page.after;
  const rows = await db
    .selectFrom('users')
    .select(ADMIN_USER_COLUMNS)
    .$if(filter.locked === true, (q) => q.where('locked_at', 'is not', null))
    .$if(filter.locked === false, (q) => q.where('locked_at', 'is', null))
    .$if(after !== null, (q) =>
      q.where((eb) =>
        eb.or([
          eb('created_at', '<', after?.createdAt ?? ''),
          eb.and([eb('created_at', '=', after?.createdAt ?? ''), eb('id', '<', after?.id ?? '')]),
        ]),
      ),
    )
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit)
    .execute();
  const roles = await rolesOfUsers(
    db,
    rows.map((row) => row.id),
  );
  return rows.map((row) => toAdminUser(row, roles.get(row.id) ?? []));
}

export async function findAdminUser(db: Db | Trx, userId: string): Promise<AdminUserRecord | null> {
  const row = await db
    .selectFrom('users')
    .select(ADMIN_USER_COLUMNS)
    .where('id', '=', userId)
    .executeTakeFirst();
  if (row === undefined) return null;
  const roles = await rolesOfUsers(db, [row.id]);
  return toAdminUser(row, roles.get(row.id) ?? []);
}

/**
 * Reads a user and, on PostgreSQL, locks the row for the rest of the transaction. The money
 * path takes the same lock before it counts a wrong PIN, so an unlock and a PIN failure of
 * the same user run one after the other and neither overwrites the other's counter.
 */
export async function lockAdminUser(
  trx: Trx,
  engine: Engine,
  userId: string,
): Promise<AdminUserRecord | null> {
  const row = await trx
    .selectFrom('users')
    .select(ADMIN_USER_COLUMNS)
    .where('id', '=', userId)
    .$if(engine === 'postgres', (q) => q.forNoKeyUpdate())
    .executeTakeFirst();
  if (row === undefined) return null;
  const roles = await rolesOfUsers(trx, [row.id]);
  return toAdminUser(row, roles.get(row.id) ?? []);
}

export async function lockUserByUsername(
  trx: Trx,
  engine: Engine,
  username: string,
): Promise<AdminUserRecord | null> {
  const row = await trx
    .selectFrom('users')
    .select('id')
    .where('username', '=', username)
    .executeTakeFirst();
  return row === undefined ? null : lockAdminUser(trx, engine, row.id);
}

/** Lifts the lock and resets the PIN failure counter, so the next wrong PIN counts from 1. */
export async function clearUserLock(trx: Trx, userId: string, now: string): Promise<void> {
  await trx
    .updateTable('users')
    .set({
      locked_at: null,
      lock_reason: null,
      failed_pin_attempts: 0n,
      failed_auth_attempts: 0n,
      updated_at: now,
    })
    .where('id', '=', userId)
    .execute();
}

export async function setAccountStatus(
  trx: Trx,
  accountId: bigint,
  status: 'active' | 'frozen',
): Promise<void> {
  await trx.updateTable('accounts').set({ status }).where('id', '=', accountId).execute();
}

/** Replaces a user's roles; the caller holds the user's row lock. */
export async function replaceUserRoles(
  trx: Trx,
  userId: string,
  roles: readonly Role[],
  now: string,
): Promise<void> {
  await trx.deleteFrom('user_roles').where('user_id', '=', userId).execute();
  await trx
    .insertInto('user_roles')
    .values(roles.map((role) => ({ user_id: userId, role })))
    .execute();
  await trx.updateTable('users').set({ updated_at: now }).where('id', '=', userId).execute();
}

export interface AuditFilter {
  action: string | null;
  actorUserId: string | null;
  target: string | null;
  outcome: AuditEventsTable['outcome'] | null;
}

export interface AuditListRow {
  id: bigint;
  at: string;
  actorUserId: string | null;
  action: string;
  target: string | null;
  outcome: AuditEventsTable['outcome'];
  ip: string | null;
  details: string | null;
}

/** Audit events newest first, strictly older than `beforeId` when given. */
export async function listAuditEvents(
  db: Db,
  filter: AuditFilter,
  page: { limit: number; beforeId: bigint | null },
): Promise<AuditListRow[]> {
  const f = filter;
  const rows = await db
    .selectFrom('audit_events')
    .select(['id', 'at', 'actor_user_id', 'action', 'target', 'outcome', 'ip', 'details'])
    .$if(f.action !== null, (q) => q.where('action', '=', f.action ?? ''))
    .$if(f.actorUserId !== null, (q) => q.where('actor_user_id', '=', f.actorUserId ?? ''))
    .$if(f.target !== null, (q) => q.where('target', '=', f.target ?? ''))
    .$if(f.outcome !== null, (q) => q.where('outcome', '=', f.outcome ?? 'success'))
    .$if(page.beforeId !== null, (q) => q.where('id', '<', page.beforeId ?? 0n))
    .orderBy('id', 'desc')
    .limit(page.limit)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    at: row.at,
    actorUserId: row.actor_user_id,
    action: row.action,
    target: row.target,
    outcome: row.outcome,
    ip: row.ip,
    details: row.details,
  }));
}
