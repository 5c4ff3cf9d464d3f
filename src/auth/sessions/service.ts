import crypto from 'node:crypto';
import { appendAudit } from '../../audit/audit.ts';
import type { Db, Engine, Trx } from '../../db/database.ts';
import { CorebankError } from '../../errors.ts';
import type { Principal, Role } from '../roles.ts';
import type { TokenService } from '../tokens.ts';
import { userLockedError } from '../user-lock.ts';
import { findUserById } from '../users-repository.ts';
import { hashRefreshToken, newRefreshToken } from './crypto.ts';
import { describeUserAgent, storedUserAgent } from './device.ts';
import type { SessionGate } from './gate.ts';
import {
  findFamilyStart,
  findFamilyStarts,
  findSessionByTokenHashForUpdate,
  findSessionState,
  insertSession,
  listLiveSessions,
  markSessionSpent,
  revokeFamily,
  revokeUserFamily,
  revokeUserSessions,
} from './repository.ts';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

export interface RequestContext {
  /** Client address as Fastify resolved it, for the audit trail. */
  ip: string | null;
  /** The client's User-Agent header, recorded on the sessions it makes. */
  userAgent?: string | undefined;
}

/** One signed-in device: a login (session family) that can still be refreshed. */
export interface DeviceView {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  device: string;
  ip: string | null;
  current: boolean;
}

const MAX_LISTED_DEVICES = 100;

export interface SessionServiceDeps {
  db: Db;
  engine: Engine;
  tokens: TokenService;
  gate: SessionGate;
  refreshTokenTtlSeconds: number;
  /** A login's sessions end this long after it signed in, however often it refreshes. */
  absoluteTtlSeconds: number;
}

const INVALID = 'refresh token is not valid; sign in again';

type RefreshOutcome =
  | { kind: 'rotated'; userId: string; sessionId: string; refreshToken: string }
  | { kind: 'reused'; userId: string; familyId: string; revokedIds: string[] }
  | { kind: 'invalid' }
  | { kind: 'locked' };

/**
 * The one place a session is created: a fresh login (a new family) or a rotation (the next
 * session of a family). Returns the refresh token, which is stored only as its hash.
 */
export async function createSession(
  db: Db | Trx,
  input: {
    userId: string;
    family: { familyId: string; parentId: string } | null;
    now: Date;
    refreshTokenTtlSeconds: number;
    /** The login's absolute end: no session of it outlives this. */
    notAfter?: Date | undefined;
    /** Who made it, for the list of signed-in devices. */
    client?: RequestContext | undefined;
  },
): Promise<{ sessionId: string; refreshToken: string }> {
  const idleEnd = input.now.getTime() + input.refreshTokenTtlSeconds * 1000;
  const end = Math.min(idleEnd, input.notAfter?.getTime() ?? idleEnd);
  const sessionId = crypto.randomUUID();
  const next = newRefreshToken();
  await insertSession(db, {
    id: sessionId,
    userId: input.userId,
    // A login starts a new family of rotated sessions.
    familyId: input.family?.familyId ?? sessionId,
    parentId: input.family?.parentId ?? null,
    refreshTokenHash: next.hash,
    now: input.now.toISOString(),
    expiresAt: new Date(end).toISOString(),
    userAgent: storedUserAgent(input.client?.userAgent),
    clientIp: input.client?.ip ?? null,
  });
  return { sessionId, refreshToken: next.token };
}

/**
 * Rotating refresh tokens (OAuth 2.0 Security BCP, section 4.14): every exchange spends the
 * presented token and issues a new one in the same family. A spent token presented again
 * means two parties hold the family's tokens (one of them a thief), and we cannot tell which
 * is which, so the whole family is ended and both must sign in again.
 */
export class SessionService {
  readonly #deps: SessionServiceDeps;

  constructor(deps: SessionServiceDeps) {
    this.#deps = deps;
  }

  /** A successful login: a new session family and its first token pair. */
  async start(
    user: { id: string; roles: Role[] },
    client: RequestContext = { ip: null },
  ): Promise<TokenPair> {
    const { db, tokens, refreshTokenTtlSeconds, absoluteTtlSeconds } = this.#deps;
    const now = new Date();
    const session = await createSession(db, {
      userId: user.id,
      family: null,
      now,
      refreshTokenTtlSeconds,
      notAfter: new Date(now.getTime() + absoluteTtlSeconds * 1000),
      client,
    });
    const access = await tokens.issueAccessToken({
      userId: user.id,
      sessionId: session.sessionId,
      roles: user.roles,
    });
    return {
      accessToken: access.token,
      refreshToken: session.refreshToken,
      tokenType: 'Bearer',
      expiresIn: access.expiresInSeconds,
    };
  }

  async refresh(refreshToken: string, context: RequestContext): Promise<TokenPair> {
    const { db, engine, gate, tokens, refreshTokenTtlSeconds, absoluteTtlSeconds } = this.#deps;
    const hash = hashRefreshToken(refreshToken);
    const now = new Date();
    const nowIso = now.toISOString();
    const outcome = await db.transaction().execute(async (trx): Promise<RefreshOutcome> => {
      const session = await findSessionByTokenHashForUpdate(trx, engine, hash);
      if (session === null || session.revokedAt !== null) return { kind: 'invalid' };
      // Spent (or losing a race with another exchange of the same token): reuse.
      const spent = session.spentAt !== null || !(await markSessionSpent(trx, session.id, nowIso));
      if (spent) {
        const revokedIds = await revokeFamily(trx, session.familyId, 'refresh_reused', nowIso);
        await appendAudit(
          trx,
          engine,
          {
            actorUserId: session.userId,
            action: 'auth.refresh_reused',
            target: `user:${session.userId}`,
            outcome: 'denied',
            ip: context.ip,
            details: { family: session.familyId, sessions: revokedIds.length },
          },
          nowIso,
        );
        return { kind: 'reused', userId: session.userId, familyId: session.familyId, revokedIds };
      }
      if (session.expiresAt <= nowIso) return { kind: 'invalid' };
      // The absolute lifetime (OWASP session management): refreshing moves the idle expiry,
      // never the end of the login, so a stolen refresh token is not good forever.
      const started = await findFamilyStart(trx, session.familyId);
      if (started === null) return { kind: 'invalid' };
      const notAfter = new Date(Date.parse(started) + absoluteTtlSeconds * 1000);
      if (notAfter <= now) return { kind: 'invalid' };
      const user = await findUserById(trx, session.userId);
      if (user === null) return { kind: 'invalid' };
      if (user.lockedAt !== null) return { kind: 'locked' };
      const next = await createSession(trx, {
        userId: session.userId,
        family: { familyId: session.familyId, parentId: session.id },
        now,
        refreshTokenTtlSeconds,
        notAfter,
        client: context,
      });
      return { kind: 'rotated', userId: user.id, ...next };
    });
    if (outcome.kind === 'reused') {
      await gate.revoked(outcome.revokedIds);
      throw new CorebankError('UNAUTHENTICATED', INVALID);
    }
    if (outcome.kind === 'invalid') throw new CorebankError('UNAUTHENTICATED', INVALID);
    if (outcome.kind === 'locked') throw userLockedError();
    // Roles are read again, so a role change takes effect at the next refresh at the latest.
    const user = await findUserById(db, outcome.userId);
    if (user === null) throw new CorebankError('UNAUTHENTICATED', INVALID);
    const access = await tokens.issueAccessToken({
      userId: user.id,
      sessionId: outcome.sessionId,
      roles: user.roles,
    });
    return {
      accessToken: access.token,
      refreshToken: outcome.refreshToken,
      tokenType: 'Bearer',
      expiresIn: access.expiresInSeconds,
    };
  }

  /**
   * Ends the login the refresh token belongs to: every session of its family, so access
   * tokens issued before earlier rotations stop working too. Only the holder of a current
   * refresh token can do this; an unknown token changes nothing and answers 401, and a spent
   * one is treated as reuse, exactly as by refresh.
   */
  async logout(refreshToken: string, context: RequestContext): Promise<void> {
    const { db, engine, gate } = this.#deps;
    const hash = hashRefreshToken(refreshToken);
    const nowIso = new Date().toISOString();
    const outcome = await db.transaction().execute(async (trx) => {
      const session = await findSessionByTokenHashForUpdate(trx, engine, hash);
      if (session === null) return { kind: 'invalid' as const };
      // Already ended (an earlier logout, a password change): nothing left to do.
      if (session.revokedAt !== null) return { kind: 'done' as const, revokedIds: [] };
      const reused = session.spentAt !== null;
      const revokedIds = await revokeFamily(
        trx,
        session.familyId,
        reused ? 'refresh_reused' : 'logout',
        nowIso,
      );
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: session.userId,
          action: reused ? 'auth.refresh_reused' : 'auth.logout',
          target: `user:${session.userId}`,
          outcome: reused ? 'denied' : 'success',
          ip: context.ip,
          details: { family: session.familyId },
        },
        nowIso,
      );
      return { kind: reused ? ('reused' as const) : ('done' as const), revokedIds };
    });
    if (outcome.kind === 'invalid') throw new CorebankError('UNAUTHENTICATED', INVALID);
    await gate.revoked(outcome.revokedIds);
    if (outcome.kind === 'reused') throw new CorebankError('UNAUTHENTICATED', INVALID);
  }

  /**
   * "Sign out everywhere": ends every session of the caller's user, this one included, so
   * every access and refresh token they hold stops working at once (on every process).
   */
  async endAllSessions(userId: string, context: RequestContext): Promise<number> {
    const { db, engine, gate } = this.#deps;
    const nowIso = new Date().toISOString();
    const revokedIds = await db.transaction().execute(async (trx) => {
      const ids = await revokeUserSessions(trx, userId, 'logout_all', nowIso, null);
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: userId,
          action: 'auth.logout',
          target: `user:${userId}`,
          outcome: 'success',
          ip: context.ip,
          details: { scope: 'all sessions', sessions: ids.length },
        },
        nowIso,
      );
      return ids;
    });
    await gate.revoked(revokedIds);
    return revokedIds.length;
  }

  /** The login the caller's access token belongs to (its family id). */
  async #ownFamily(principal: Principal): Promise<string> {
    const own = await findSessionState(this.#deps.db, principal.sessionId);
    return own?.familyId ?? principal.sessionId;
  }

  /**
   * The signed-in devices: every login of the user that can still be refreshed, with when it
   * signed in, when it was last refreshed (an open dashboard refreshes every access-token
   * lifetime), the client it came from, and which one is the caller's.
   */
  async listDevices(principal: Principal): Promise<DeviceView[]> {
    const { db } = this.#deps;
    const own = await this.#ownFamily(principal);
    const live = await listLiveSessions(
      db,
      principal.userId,
      new Date().toISOString(),
      MAX_LISTED_DEVICES,
    );
    const starts = await findFamilyStarts(
      db,
      live.map((row) => row.familyId),
    );
    return live.map((row) => ({
      id: row.familyId,
      createdAt: starts.get(row.familyId) ?? row.lastUsedAt,
      lastUsedAt: row.lastUsedAt,
      device: describeUserAgent(row.userAgent),
      ip: row.clientIp,
      current: row.familyId === own,
    }));
  }

  /**
   * Ends one login of the caller's (a lost phone): its access and refresh tokens stop
   * working at once, on every process. Another user's login, or one already ended, answers
   * NOT_FOUND, exactly like an id that never existed.
   */
  async endDevice(principal: Principal, familyId: string, context: RequestContext): Promise<void> {
    const { db, engine, gate } = this.#deps;
    const nowIso = new Date().toISOString();
    const ended = await db.transaction().execute(async (trx) => {
      const ids = await revokeUserFamily(trx, principal.userId, familyId, 'device_ended', nowIso);
      if (ids.length === 0) return ids;
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: principal.userId,
          action: 'auth.session_ended',
          target: `user:${principal.userId}`,
          outcome: 'success',
          ip: context.ip,
          details: { family: familyId, sessions: ids.length },
        },
        nowIso,
      );
      return ids;
    });
    if (ended.length === 0) throw new CorebankError('NOT_FOUND', 'session not found');
    await gate.revoked(ended);
  }

  /** Ends every login of the caller's except the one making the request. */
  async endOtherDevices(principal: Principal, context: RequestContext): Promise<void> {
    const { db, engine, gate } = this.#deps;
    const own = await this.#ownFamily(principal);
    const nowIso = new Date().toISOString();
    const ended = await db.transaction().execute(async (trx) => {
      const ids = await revokeUserSessions(trx, principal.userId, 'others_ended', nowIso, own);
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: principal.userId,
          action: 'auth.session_ended',
          target: `user:${principal.userId}`,
          outcome: 'success',
          ip: context.ip,
          details: { scope: 'other sessions', sessions: ids.length },
        },
        nowIso,
      );
      return ids;
    });
    await gate.revoked(ended);
  }
}
