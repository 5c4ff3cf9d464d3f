import { type AuditAction, appendAudit } from '../audit/audit.ts';
import type { Db, Engine } from '../db/database.ts';
import type { CorebankError } from '../errors.ts';
import type { LoginBackoff } from './login-backoff.ts';
import { userLockedError } from './user-lock.ts';

/** Whose password or one-time code is being checked. */
export interface GuardedUser {
  id: string;
  username: string;
}

export interface CredentialGuardDeps {
  db: Db;
  engine: Engine;
  backoff: LoginBackoff;
  /** Wrong passwords or codes in a row that lock the user (AUTH_MAX_FAILURES). */
  maxFailures: number;
}

export const AUTH_LOCK_REASON = 'too many wrong passwords or one-time codes';

/**
 * One guard for every place that checks a password or a one-time code of a known user:
 * PIN and password changes, MFA enrolment, confirmation and removal, staff step-up codes,
 * and the login's second factor. (The login's password check is not counted here: a
 * stranger who only knows a username must be able to slow its owner, never lock them out.)
 *
 * - Before the check, the shared back-off (the login's, keyed by username and client)
 *   refuses a throttled caller with 429, so no endpoint is a faster oracle than login.
 * - A wrong answer feeds that back-off, is audited with its reason, and counts toward a
 *   lock, as wrong PINs do: at `maxFailures` in a row the user is locked (423) until an
 *   admin unlocks them. Whoever makes these guesses holds a session or the password, so
 *   the lock stops a stolen session or a phished password from guessing the rest.
 * - A right answer resets the count (and the caller's back-off).
 */
export class CredentialGuard {
  readonly #deps: CredentialGuardDeps;

  constructor(deps: CredentialGuardDeps) {
    this.#deps = deps;
  }

  async assertAllowed(user: GuardedUser, ip: string | null): Promise<void> {
    await this.#deps.backoff.assertAllowed(user.username, ip);
  }

  /**
   * Records a wrong password or code and returns what to throw: `refusal`, or USER_LOCKED
   * when this failure reached the limit. The count, the lock and the audit events commit
   * together; the UPDATE takes the row lock, so parallel guesses are counted exactly.
   */
  async failed(
    user: GuardedUser,
    ip: string | null,
    /** The failure's audit event; null when the caller audits the attempt itself. */
    audit: { action: AuditAction; reason: string } | null,
    refusal: CorebankError,
  ): Promise<CorebankError> {
    const { db, engine, backoff, maxFailures } = this.#deps;
    await backoff.recordFailure(user.username, ip);
    const lockedNow = await db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      await trx
        .updateTable('users')
        .set((eb) => ({ failed_auth_attempts: eb('failed_auth_attempts', '+', 1n) }))
        .where('id', '=', user.id)
        .execute();
      const row = await trx
        .selectFrom('users')
        .select(['failed_auth_attempts', 'locked_at'])
        .where('id', '=', user.id)
        .executeTakeFirst();
      const failures = Number(row?.failed_auth_attempts ?? 0n);
      const lock = row !== undefined && row.locked_at === null && failures >= maxFailures;
      if (lock) {
        await trx
          .updateTable('users')
          .set({ locked_at: now, lock_reason: AUTH_LOCK_REASON, updated_at: now })
          .where('id', '=', user.id)
          .execute();
      }
      if (audit !== null) {
        await appendAudit(
          trx,
          engine,
          {
            actorUserId: user.id,
            action: audit.action,
            target: `user:${user.id}`,
            outcome: 'failure',
            ip,
            details: { reason: audit.reason, failures },
          },
          now,
        );
      }
      if (lock) {
        await appendAudit(
          trx,
          engine,
          {
            actorUserId: user.id,
            action: 'user.locked',
            target: `user:${user.id}`,
            outcome: 'success',
            ip,
            details: { reason: 'auth_failures', failures },
          },
          now,
        );
      }
      return lock;
    });
    return lockedNow ? userLockedError() : refusal;
  }

  async succeeded(user: GuardedUser, ip: string | null): Promise<void> {
    await this.#deps.backoff.recordSuccess(user.username, ip);
    await this.#deps.db
      .updateTable('users')
      .set({ failed_auth_attempts: 0n })
      .where('id', '=', user.id)
      .where('failed_auth_attempts', '>', 0n)
      .execute();
  }
}
