import type { Db, Trx } from '../db/database.ts';
import { isRole, type Role } from './roles.ts';

export interface UserRecord {
  id: string;
  username: string;
  email: string;
  fullName: string;
  passwordHash: string;
  pinHash: string | null;
  failedPinAttempts: number;
  lockedAt: string | null;
  lockReason: string | null;
  roles: Role[];
  createdAt: string;
}

export interface NewUser {
  id: string;
  username: string;
  email: string;
  fullName: string;
  passwordHash: string;
  roles: readonly Role[];
  now: string;
}

const USER_COLUMNS = [
  'id',
  'username',
  'email',
  'full_name',
  'password_hash',
  'pin_hash',
  'failed_pin_attempts',
  'locked_at',
  'lock_reason',
  'created_at',
] as const;

type UserRow = {
  id: string;
  username: string;
  email: string;
  full_name: string;
  password_hash: string;
  pin_hash: string | null;
  failed_pin_attempts: bigint;
  locked_at: string | null;
  lock_reason: string | null;
  created_at: string;
};

function toRecord(row: UserRow, roles: Role[]): UserRecord {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    fullName: row.full_name,
    passwordHash: row.password_hash,
    pinHash: row.pin_hash,
    failedPinAttempts: Number(row.failed_pin_attempts),
    lockedAt: row.locked_at,
    lockReason: row.lock_reason,
    roles,
    createdAt: row.created_at,
  };
}

async function rolesOf(db: Db | Trx, userId: string): Promise<Role[]> {
  const rows = await db
    .selectFrom('user_roles')
    .select('role')
    .where('user_id', '=', userId)
    .orderBy('role')
    .execute();
  return rows.map((row) => row.role).filter(isRole);
}

/** Inserts the user and their roles; needs a transaction so both land or neither. */
export async function insertUser(trx: Trx, user: NewUser): Promise<void> {
  await trx
    .insertInto('users')
    .values({
      id: user.id,
      username: user.username,
      email: user.email,
      full_name: user.fullName,
      password_hash: user.passwordHash,
      pin_hash: null,
      failed_pin_attempts: 0n,
      locked_at: null,
      lock_reason: null,
      created_at: user.now,
      updated_at: user.now,
    })
    .execute();
  await trx
    .insertInto('user_roles')
    .values(user.roles.map((role) => ({ user_id: user.id, role })))
    .execute();
}

export async function findUserByUsername(db: Db, username: string): Promise<UserRecord | null> {
  const row = await db
    .selectFrom('users')
    .select(USER_COLUMNS)
    .where('username', '=', username)
    .executeTakeFirst();
  return row === undefined ? null : toRecord(row, await rolesOf(db, row.id));
}

export async function findUserById(db: Db | Trx, userId: string): Promise<UserRecord | null> {
  const row = await db
    .selectFrom('users')
    .select(USER_COLUMNS)
    .where('id', '=', userId)
    .executeTakeFirst();
  return row === undefined ? null : toRecord(row, await rolesOf(db, row.id));
}

export async function usernameOrEmailTaken(
  db: Db,
  username: string,
  email: string,
): Promise<{ username: boolean; email: boolean }> {
  const rows = await db
    .selectFrom('users')
    .select(['username', 'email'])
    .where((eb) => eb.or([eb('username', '=', username), eb('email', '=', email)]))
    .execute();
  return {
    username: rows.some((row) => row.username === username),
    email: rows.some((row) => row.email === email),
  };
}

export async function setPinHash(db: Db | Trx, userId: string, pinHash: string, now: string) {
  await db
    .updateTable('users')
    .set({ pin_hash: pinHash, failed_pin_attempts: 0n, updated_at: now })
    .where('id', '=', userId)
    .execute();
}
