import crypto from 'node:crypto';
import { appendAudit } from '../../audit/audit.ts';
import type { Db, Engine } from '../../db/database.ts';
import { CorebankError } from '../../errors.ts';
import { enqueueEmail } from '../../mail/outbox.ts';
import type { CredentialGuard } from '../credential-guard.ts';
import { sha256 } from '../digest.ts';
import type { Principal } from '../roles.ts';
import type { SessionGate } from '../sessions/gate.ts';
import { findSessionState, revokeUserSessions } from '../sessions/repository.ts';
import type { RequestContext } from '../sessions/service.ts';
import { userLockedError } from '../user-lock.ts';
import { findUserById } from '../users-repository.ts';
import { hashPassword, verifyPassword } from './crypto.ts';
import { assertPasswordAcceptable } from './policy.ts';
import {
  countLiveResetTokens,
  findResetTokenForUpdate,
  findUserIdentityByEmail,
  insertResetToken,
  setPasswordHash,
  useAllResetTokens,
} from './repository.ts';

export interface PasswordServiceDeps {
  db: Db;
  engine: Engine;
  gate: SessionGate;
  guard: CredentialGuard;
  resetTokenTtlSeconds: number;
  /** Called after a message was queued, so the sender delivers it without waiting. */
  mailQueued: () => void;
}

/** Outstanding reset links per user: enough for a lost mail, too few to flood a mailbox. */
const MAX_LIVE_RESET_TOKENS = 3;

const INVALID_RESET = 'this password reset token is invalid, used or expired; request a new one';

export class PasswordService {
  readonly #deps: PasswordServiceDeps;

  constructor(deps: PasswordServiceDeps) {
    this.#deps = deps;
  }

  /**
   * Changing the password needs the current one (a stolen access token alone must not be
   * enough to take the account over), and wrong guesses share the login back-off, so the
   * endpoint is no faster way to guess a password than login. Every other session of the
   * user ends: whoever else knew the old password is out. The caller's own login stays.
   */
  async changePassword(
    principal: Principal,
    input: { currentPassword: string; newPassword: string },
    context: RequestContext,
  ): Promise<void> {
    const { db, engine, gate, guard } = this.#deps;
    const user = await findUserById(db, principal.userId);
    if (user === null) throw new CorebankError('UNAUTHENTICATED', 'user no longer exists');
    await guard.assertAllowed(user, context.ip);
    if (!(await verifyPassword(user.passwordHash, input.currentPassword))) {
      throw await guard.failed(
        user,
        context.ip,
        { action: 'auth.password_changed', reason: 'wrong_current_password' },
        new CorebankError('INVALID_CREDENTIALS', 'currentPassword is wrong', 'currentPassword'),
      );
    }
    await guard.succeeded(user, context.ip);
    if (user.lockedAt !== null) throw userLockedError();
    assertPasswordAcceptable(
      input.newPassword,
      { username: user.username, email: user.email },
      'newPassword',
    );
    if (input.newPassword === input.currentPassword) {
      throw new CorebankError(
        'VALIDATION_FAILED',
        'newPassword must differ from the current password',
        'newPassword',
      );
    }
    const passwordHash = await hashPassword(input.newPassword);
    const own = await findSessionState(db, principal.sessionId);
    const now = new Date().toISOString();
    const revoked = await db.transaction().execute(async (trx) => {
      await setPasswordHash(trx, user.id, passwordHash, now);
      // Reset links sent for the old password must not undo this change.
      await useAllResetTokens(trx, user.id, now);
      const ids = await revokeUserSessions(
        trx,
        user.id,
        'password_changed',
        now,
        own?.familyId ?? principal.sessionId,
      );
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: user.id,
          action: 'auth.password_changed',
          target: `user:${user.id}`,
          outcome: 'success',
          ip: context.ip,
          details: { sessionsEnded: ids.length },
        },
        now,
      );
      return ids;
    });
    await gate.revoked(revoked);
  }

  /**
   * Always answers the same way, whether or not the address belongs to a user: both paths
   * run the same lookup and one audit write in one transaction, and delivery happens later
   * from the outbox, so neither the answer nor SMTP latency tells which addresses exist.
   */
  async requestReset(email: string, context: RequestContext): Promise<void> {
    const { db, engine, resetTokenTtlSeconds } = this.#deps;
    const address = email.trim().toLowerCase();
    // Generated on both paths so both cost the same.
    const token = crypto.randomBytes(32).toString('base64url');
    const now = new Date();
    const nowIso = now.toISOString();
    const expiresAt = new Date(now.getTime() + resetTokenTtlSeconds * 1000).toISOString();
    const queued = await db.transaction().execute(async (trx) => {
      // The user's row is locked first (PostgreSQL; SQLite has one writer at a time), so
      // parallel requests count each other's tokens: the cap holds under a burst.
      const user = await findUserIdentityByEmail(trx, address, { engine });
      let sent = false;
      if (
        user !== null &&
        (await countLiveResetTokens(trx, user.id, nowIso)) < MAX_LIVE_RESET_TOKENS
      ) {
        await insertResetToken(trx, {
          id: crypto.randomUUID(),
          userId: user.id,
          // Only the hash is stored: the database alone cannot reset anyone's password.
          tokenHash: sha256(token),
          now: nowIso,
          expiresAt,
        });
        const minutes = Math.round(resetTokenTtlSeconds / 60);
        await enqueueEmail(
          trx,
          {
            recipient: user.email,
            subject: 'Reset your Corebank password',
            bodyText: [
              `Someone asked to reset the password of the Corebank user "${user.username}".`,
              '',
              'If that was you, use this reset token within the next ' +
                `${minutes} minutes; it works once:`,
              '',
              token,
              '',
              'If it was not you, ignore this message: your password has not changed.',
            ].join('\n'),
          },
          nowIso,
        );
        sent = true;
      }
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: null,
          action: 'auth.password_reset_requested',
          target: user === null ? null : `user:${user.id}`,
          outcome: user === null ? 'failure' : 'success',
          ip: context.ip,
          details: user === null ? { reason: 'unknown_email' } : { mailed: sent },
        },
        nowIso,
      );
      return sent;
    });
    if (queued) this.#deps.mailQueued();
  }

  /** Sets a new password with a reset token: the token works once, and every session ends. */
  async confirmReset(
    input: { token: string; newPassword: string },
    context: RequestContext,
  ): Promise<void> {
    const { db, engine, gate } = this.#deps;
    const tokenHash = sha256(input.token);
    const failure = async (reason: string) => {
      await db.transaction().execute((trx) =>
        appendAudit(trx, engine, {
          actorUserId: null,
          action: 'auth.password_reset',
          target: null,
          outcome: 'failure',
          ip: context.ip,
          details: { reason },
        }),
      );
      return new CorebankError('RESET_TOKEN_INVALID', INVALID_RESET, 'token');
    };
    // First a look without a lock: the policy check and the slow hash happen outside the
    // transaction, which then re-checks the token under a lock before spending it.
    const found = await db
      .transaction()
      .execute((trx) => findResetTokenForUpdate(trx, engine, tokenHash));
    const nowIso = new Date().toISOString();
    if (found === null || found.usedAt !== null || found.expiresAt <= nowIso) {
      throw await failure(found === null ? 'unknown_token' : 'used_or_expired');
    }
    const user = await findUserById(db, found.userId);
    if (user === null) throw await failure('unknown_user');
    assertPasswordAcceptable(
      input.newPassword,
      { username: user.username, email: user.email },
      'newPassword',
    );
    const passwordHash = await hashPassword(input.newPassword);
    const outcome = await db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      const token = await findResetTokenForUpdate(trx, engine, tokenHash);
      if (token === null || token.usedAt !== null || token.expiresAt <= now) return null;
      await useAllResetTokens(trx, user.id, now);
      await setPasswordHash(trx, user.id, passwordHash, now);
      const ids = await revokeUserSessions(trx, user.id, 'password_reset', now, null);
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: user.id,
          action: 'auth.password_reset',
          target: `user:${user.id}`,
          outcome: 'success',
          ip: context.ip,
          details: { sessionsEnded: ids.length },
        },
        now,
      );
      return ids;
    });
    if (outcome === null) throw await failure('used_concurrently');
    await gate.revoked(outcome);
  }
}

/** Exposed for tests: a reset token's stored form. */
export const hashResetToken = sha256;
