import type { Db, Engine, Trx } from '../../db/database.ts';

/** All SQL about sessions (refresh-token families). */

export interface SessionRecord {
  id: string;
  userId: string;
  familyId: string;
  parentId: string | null;
  expiresAt: string;
  spentAt: string | null;
  revokedAt: string | null;
}

export interface NewSession {
  id: string;
  userId: string;
  /** The login's first session id; equal to `id` for a fresh login. */
  familyId: string;
  parentId: string | null;
  refreshTokenHash: string;
  now: string;
  expiresAt: string;
  /** The client that made the session (shown in the user's list of signed-in devices). */
  userAgent: string | null;
  clientIp: string | null;
}

export async function insertSession(db: Db | Trx, session: NewSession): Promise<void> {
  await db
    .insertInto('sessions')
    .values({
      id: session.id,
      user_id: session.userId,
      family_id: session.familyId,
      parent_id: session.parentId,
      refresh_token_hash: session.refreshTokenHash,
      created_at: session.now,
      expires_at: session.expiresAt,
      revoked_at: null,
      spent_at: null,
      revoked_reason: null,
      user_agent: session.userAgent,
      client_ip: session.clientIp,
    })
    .execute();
}

/**
 * Finds the session a refresh token belongs to and, on PostgreSQL, locks it until the
 * transaction ends, so two exchanges of one token queue instead of both succeeding.
 */
export async function findSessionByTokenHashForUpdate(
  trx: Trx,
  engine: Engine,
  refreshTokenHash: string,
): Promise<SessionRecord | null> {
  const row = await trx
    .selectFrom('sessions')
    .select(['id', 'user_id', 'family_id', 'parent_id', 'expires_at', 'spent_at', 'revoked_at'])
    .where('refresh_token_hash', '=', refreshTokenHash)
    .$if(engine === 'postgres', (q) => q.forUpdate())
    .executeTakeFirst();
  if (row === undefined) return null;
  return {
    id: row.id,
    userId: row.user_id,
    familyId: row.family_id ?? row.id,
    parentId: row.parent_id,
    expiresAt: row.expires_at,
    spentAt: row.spent_at,
    revokedAt: row.revoked_at,
  };
}

/** What the auth guard needs: whose session it is and whether it was ended. */
export async function findSessionState(
  db: Db,
  sessionId: string,
): Promise<{ userId: string; familyId: string; revokedAt: string | null } | null> {
  const row = await db
    .selectFrom('sessions')
    .select(['user_id', 'family_id', 'revoked_at'])
    .where('id', '=', sessionId)
    .executeTakeFirst();
  return row === undefined
    ? null
    : { userId: row.user_id, familyId: row.family_id ?? sessionId, revokedAt: row.revoked_at };
}

/**
 * Marks a refresh token as exchanged. The condition makes it a compare-and-set: of two
 * racing exchanges only one sees `true`; the other is treated as reuse.
 */
export async function markSessionSpent(trx: Trx, sessionId: string, now: string): Promise<boolean> {
  const result = await trx
    .updateTable('sessions')
    .set({ spent_at: now })
    .where('id', '=', sessionId)
    .where('spent_at', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** Ends every session of a family; returns the ids of all its sessions (to evict caches). */
export async function revokeFamily(
  trx: Trx,
  familyId: string,
  reason: string,
  now: string,
): Promise<string[]> {
  await trx
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null)
    .execute();
  const rows = await trx
    .selectFrom('sessions')
    .select('id')
    .where('family_id', '=', familyId)
    .execute();
  return rows.map((row) => row.id);
}

/**
 * Ends every live session of a user, except the family named in `keepFamilyId` (the caller's
 * own login when they change their password). Returns the ids it ended.
 */
export async function revokeUserSessions(
  trx: Trx,
  userId: string,
  reason: string,
  now: string,
  keepFamilyId: string | null,
): Promise<string[]> {
  const rows = await trx
    .selectFrom('sessions')
    .select(['id', 'family_id'])
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute();
  const ids = rows
    .filter((row) => keepFamilyId === null || (row.family_id ?? row.id) !== keepFamilyId)
    .map((row) => row.id);
  // Bounded batches keep the statement's parameter list within every engine's limit.
  for (let start = 0; start < ids.length; start += 500) {
    await trx
      .updateTable('sessions')
      .set({ revoked_at: now, revoked_reason: reason })
      .where('id', 'in', ids.slice(start, start + 500))
      .where('revoked_at', 'is', null)
      .execute();
  }
  return ids;
}

/** When a login signed in: the creation time of its family's first session. */
export async function findFamilyStart(db: Db | Trx, familyId: string): Promise<string | null> {
  const row = await db
    .selectFrom('sessions')
    .select('created_at')
    .where('id', '=', familyId)
    .executeTakeFirst();
  return row?.created_at ?? null;
}

/** One live login as its newest session shows it: the refresh token still to be exchanged. */
export interface LiveSessionRow {
  familyId: string;
  lastUsedAt: string;
  userAgent: string | null;
  clientIp: string | null;
}

/**
 * A user's live logins: each family's unexchanged, unrevoked, unexpired session (one per
 * family, since rotation spends the parent), newest first, at most `limit`.
 */
export async function listLiveSessions(
  db: Db,
  userId: string,
  now: string,
  limit: number,
): Promise<LiveSessionRow[]> {
  const rows = await db
    .selectFrom('sessions')
    .select(['id', 'family_id', 'created_at', 'user_agent', 'client_ip'])
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('spent_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    familyId: row.family_id ?? row.id,
    lastUsedAt: row.created_at,
    userAgent: row.user_agent,
    clientIp: row.client_ip,
  }));
}

/** When each of the given logins signed in (their first sessions' creation times). */
export async function findFamilyStarts(
  db: Db,
  familyIds: readonly string[],
): Promise<Map<string, string>> {
  if (familyIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('sessions')
    .select(['id', 'created_at'])
    .where('id', 'in', familyIds)
    .execute();
  return new Map(rows.map((row) => [row.id, row.created_at]));
}

/**
 * Ends one login of one user: every session of the family, but only when the family is the
 * user's (the `user_id` condition), so nobody can end another user's login by its id.
 * Returns the ids it ended (empty when the family is not the user's or was already ended).
 */
export async function revokeUserFamily(
  trx: Trx,
  userId: string,
  familyId: string,
  reason: string,
  now: string,
): Promise<string[]> {
  const rows = await trx
    .selectFrom('sessions')
    .select('id')
    .where('user_id', '=', userId)
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null)
    .execute();
  const ids = rows.map((row) => row.id);
  if (ids.length === 0) return [];
  await trx
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('user_id', '=', userId)
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null)
    .execute();
  return ids;
}
