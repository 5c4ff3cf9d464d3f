import type { Db, Engine, Trx } from '../../db/database.ts';

/** SQL for password changes and password-reset tokens. */

export async function findUserIdentityByEmail(
  db: Db | Trx,
  email: string,
  lock: { engine: Engine } | null = null,
): Promise<{ id: string; username: string; email: string } | null> {
  const row = await db
    .selectFrom('users')
    .select(['id', 'username', 'email'])
    .where('email', '=', email)
    .$if(lock?.engine === 'postgres', (q) => q.forNoKeyUpdate())
    .executeTakeFirst();
  return row ?? null;
}

export async function setPasswordHash(
  trx: Trx,
  userId: string,
  passwordHash: string,
  now: string,
): Promise<void> {
  await trx
    .updateTable('users')
    .set({ password_hash: passwordHash, updated_at: now })
    .where('id', '=', userId)
    .execute();
}

export async function insertResetToken(
  trx: Trx,
  token: { id: string; userId: string; tokenHash: string; now: string; expiresAt: string },
): Promise<void> {
  await trx
    .insertInto('password_reset_tokens')
    .values({
      id: token.id,
      user_id: token.userId,
      token_hash: token.tokenHash,
      created_at: token.now,
      expires_at: token.expiresAt,
      used_at: null,
    })
    .execute();
}

/** Unused, unexpired reset tokens of a user (to bound how much mail one address gets). */
export async function countLiveResetTokens(trx: Trx, userId: string, now: string): Promise<number> {
  const row = await trx
    .selectFrom('password_reset_tokens')
    .select((eb) => eb.fn.countAll<bigint | number | string>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function findResetTokenForUpdate(
  trx: Trx,
  engine: Engine,
  tokenHash: string,
): Promise<{ id: string; userId: string; expiresAt: string; usedAt: string | null } | null> {
  const row = await trx
    .selectFrom('password_reset_tokens')
    .select(['id', 'user_id', 'expires_at', 'used_at'])
    .where('token_hash', '=', tokenHash)
    .$if(engine === 'postgres', (q) => q.forUpdate())
    .executeTakeFirst();
  return row === undefined
    ? null
    : { id: row.id, userId: row.user_id, expiresAt: row.expires_at, usedAt: row.used_at };
}

/** Spends every outstanding reset token of the user: one reset ends all earlier links. */
export async function useAllResetTokens(trx: Trx, userId: string, now: string): Promise<void> {
  await trx
    .updateTable('password_reset_tokens')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .execute();
}
