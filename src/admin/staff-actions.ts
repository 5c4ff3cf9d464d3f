import { accountNumberProblem } from '../accounts/account-number.ts';
import { lockAccounts } from '../accounts/accounts-repository.ts';
import { type AccountView, toAccountView } from '../accounts/accounts-service.ts';
import { type AuditAction, appendAudit, recordAudit } from '../audit/audit.ts';
import type { CredentialGuard } from '../auth/credential-guard.ts';
import type { MfaService } from '../auth/mfa/service.ts';
import type { Principal } from '../auth/roles.ts';
import { userLockedError } from '../auth/user-lock.ts';
import { findUserById } from '../auth/users-repository.ts';
import type { Db, Engine } from '../db/database.ts';
import { CorebankError, type ErrorCode, isCorebankError } from '../errors.ts';
import { accountStatusChanged, userUnlocked } from '../events/event-data.ts';
import { appendEvent } from '../events/outbox.ts';
import { type AdminActionName, type AdminUserView, authorize, toAdminUserView } from './access.ts';
import {
  clearUserLock,
  findAdminUser,
  lockAdminUser,
  setAccountStatus,
} from './admin-repository.ts';

export interface ActionContext {
  /** The acting staff member's one-time code, when they have MFA enabled. */
  otp: string | undefined;
  /** Client address for the audit trail. */
  ip: string | null;
  /** Why staff took the action, kept in the audit event. */
  reason: string | null;
}

export interface StaffActionsDeps {
  db: Db;
  engine: Engine;
  /** Checks the acting staff member's second factor. */
  mfa: MfaService;
  /** Back-off and lock for wrong step-up codes. */
  guard: CredentialGuard;
}

/**
 * Staff actions: unlock a user, freeze or unfreeze an account. Every action writes its
 * audit event in the same database transaction as the change, so the trail can neither
 * miss a change nor claim one that was rolled back; every refused attempt by an
 * authenticated caller is audited too, as `failure` (the target was wrong) or `denied` (the
 * caller may not, or did not prove MFA).
 */
export class StaffActions {
  readonly #deps: StaffActionsDeps;

  constructor(deps: StaffActionsDeps) {
    this.#deps = deps;
  }

  /**
   * Records an action attempt that was refused before it reached the service (the caller's
   * role may not act). Probing staff actions is worth knowing about, whoever tries it.
   */
  async recordDenied(
    principal: Principal,
    action: AdminActionName,
    target: string | null,
    ip: string | null,
    code: ErrorCode,
  ): Promise<void> {
    await recordAudit(this.#deps.db, this.#deps.engine, {
      actorUserId: principal.userId,
      action,
      target,
      outcome: 'denied',
      ip,
      details: { code },
    });
  }

  /**
   * Checks the acting admin's second factor. A wrong or missing code is audited as denied
   * (in its own transaction: there is no change to go with it) and then refused. Every
   * staff action that takes a step-up code uses this one check (here and the webhook
   * endpoints), so every wrong code counts toward the same lock.
   */
  async assertStepUp(
    principal: Principal,
    action: AdminActionName,
    target: string,
    context: ActionContext,
  ): Promise<void> {
    const { db, mfa, guard } = this.#deps;
    const deny = async (refusal: CorebankError): Promise<never> => {
      await this.recordDenied(principal, action, target, context.ip, refusal.code);
      throw refusal;
    };
    const staff = await findUserById(db, principal.userId);
    if (staff === null) throw new CorebankError('UNAUTHENTICATED', 'user no longer exists');
    // A staff member locked by wrong codes (or PINs) acts no more until another admin
    // unlocks them.
    if (staff.lockedAt !== null) await deny(userLockedError());
    // Step-up codes share the back-off of every other password and code check.
    try {
      await guard.assertAllowed(staff, context.ip);
    } catch (error) {
      if (isCorebankError(error)) await deny(error);
      throw error;
    }
    try {
      await mfa.assertStaffFactor(staff.id, context.otp);
    } catch (error) {
      if (!isCorebankError(error)) throw error;
      // A wrong code counts toward the lock, as a wrong PIN does: 10^6 codes with a
      // +-1-step window are found in minutes by an unthrottled guesser.
      await deny(
        error.code === 'INVALID_OTP' ? await guard.failed(staff, context.ip, null, error) : error,
      );
    }
    await guard.succeeded(staff, context.ip);
  }

  /**
   * Lifts a user's lock and resets their PIN failure counter. Unlocking a user who is not
   * locked answers 200 and changes nothing but a stale failure counter; it is still audited.
   */
  async unlockUser(
    principal: Principal,
    userId: string,
    context: ActionContext,
  ): Promise<AdminUserView> {
    authorize(principal, 'act');
    const { db, engine } = this.#deps;
    const target = `user:${userId}`;
    // Separation of duties: a locked admin must be unlocked by another admin, so a stolen
    // admin token (or a locked-out insider) cannot lift its own lock.
    if (userId === principal.userId) {
      await this.recordDenied(principal, 'user.unlocked', target, context.ip, 'FORBIDDEN');
      throw new CorebankError('FORBIDDEN', 'an admin cannot unlock themselves');
    }
    await this.assertStepUp(principal, 'user.unlocked', target, context);
    const result = await db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      const user = await lockAdminUser(trx, engine, userId);
      if (user === null) {
        await appendAudit(
          trx,
          engine,
          {
            actorUserId: principal.userId,
            action: 'user.unlocked',
            target,
            outcome: 'failure',
            ip: context.ip,
            details: { code: 'NOT_FOUND' },
          },
          now,
        );
        return null;
      }
      const wasLocked = user.lockedAt !== null;
      await clearUserLock(trx, user.id, now);
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: principal.userId,
          action: 'user.unlocked',
          target,
          outcome: 'success',
          ip: context.ip,
          details: {
            changed: wasLocked || user.failedPinAttempts > 0,
            wasLocked,
            previousLockReason: user.lockReason,
            failedPinAttempts: user.failedPinAttempts,
            ...(context.reason === null ? {} : { reason: context.reason }),
          },
        },
        now,
      );
      if (wasLocked) await appendEvent(trx, userUnlocked(user.id, principal.userId, now));
      return user.id;
    });
    // The refusal is thrown only after the audit event committed.
    if (result === null) throw new CorebankError('NOT_FOUND', 'user not found');
    const user = await findAdminUser(db, result);
    if (user === null) throw new Error('user vanished after unlock');
    return toAdminUserView(user);
  }

  /**
   * Freezes (`frozen`) or unfreezes (`active`) a customer account. The account row is
   * locked first, the same lock the ledger takes, so a freeze waits for a movement already
   * in flight and every later movement sees it. Setting the status an account already has
   * answers 200 and changes nothing (idempotent, as a retry after a lost response must be);
   * the attempt is still audited with `changed: false`.
   */
  async setAccountStatus(
    principal: Principal,
    accountNumber: string,
    status: 'active' | 'frozen',
    context: ActionContext,
  ): Promise<AccountView> {
    authorize(principal, 'act');
    const { db, engine } = this.#deps;
    const action: AuditAction = status === 'frozen' ? 'account.frozen' : 'account.unfrozen';
    const target = `account:${accountNumber}`;
    const problem = accountNumberProblem(accountNumber);
    if (problem !== null) {
      await recordAudit(db, engine, {
        actorUserId: principal.userId,
        action,
        target: null,
        outcome: 'failure',
        ip: context.ip,
        details: { code: 'VALIDATION_FAILED' },
      });
      throw new CorebankError('VALIDATION_FAILED', problem, 'accountNumber');
    }
    await this.assertStepUp(principal, action, target, context);
    const account = await db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      const locked = (await lockAccounts(trx, engine, [accountNumber])).get(accountNumber);
      if (locked === undefined || locked.kind !== 'customer') {
        await appendAudit(
          trx,
          engine,
          {
            actorUserId: principal.userId,
            action,
            target,
            outcome: 'failure',
            ip: context.ip,
            details: { code: 'NOT_FOUND' },
          },
          now,
        );
        return null;
      }
      const changed = locked.status !== status;
      if (changed) await setAccountStatus(trx, locked.id, status);
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: principal.userId,
          action,
          target,
          outcome: 'success',
          ip: context.ip,
          details: {
            changed,
            previousStatus: locked.status,
            ...(context.reason === null ? {} : { reason: context.reason }),
          },
        },
        now,
      );
      if (changed) {
        await appendEvent(
          trx,
          accountStatusChanged(accountNumber, status, principal.userId, context.reason, now),
        );
      }
      return { ...locked, status };
    });
    if (account === null) throw new CorebankError('NOT_FOUND', 'account not found');
    return toAccountView(account);
  }
}
