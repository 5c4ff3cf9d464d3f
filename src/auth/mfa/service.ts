import { appendAudit } from '../../audit/audit.ts';
import type { Db, Engine, Trx } from '../../db/database.ts';
import { CorebankError } from '../../errors.ts';
import type { CredentialGuard } from '../credential-guard.ts';
import { verifyPassword } from '../passwords/crypto.ts';
import type { Principal } from '../roles.ts';
import type { SessionGate } from '../sessions/gate.ts';
import { findSessionState, revokeUserSessions } from '../sessions/repository.ts';
import { findUserById } from '../users-repository.ts';
import {
  decryptSecret,
  encryptSecret,
  hashRecoveryCode,
  isTotpShaped,
  type MfaKeys,
  newRecoveryCode,
  newTotpSecret,
  otpauthUri,
  RECOVERY_CODE_COUNT,
  totpStepOf,
} from './crypto.ts';
import {
  deleteMfa,
  enableMfa,
  findMfa,
  findMfaForUpdate,
  type MfaRow,
  markTotpStepUsed,
  replaceRecoveryCodes,
  spendRecoveryCode,
  upsertPendingEnrolment,
} from './repository.ts';

export interface MfaEnrolment {
  secret: string;
  otpauthUri: string;
}

export interface MfaServiceDeps {
  db: Db;
  engine: Engine;
  /** Derived from the PIN pepper at start-up (see crypto.ts). */
  keys: MfaKeys;
  /** Evicts the sessions that turning MFA on ends. */
  gate: Pick<SessionGate, 'revoked'>;
  /** Back-off, audit and lock for wrong passwords and codes (enrol, confirm, disable). */
  guard: CredentialGuard;
}

/** Request facts the audit trail records. */
export interface MfaContext {
  ip: string | null;
}

/**
 * Enrolment, confirmation and removal of TOTP, and the second-factor checks that login and
 * staff actions call. The keys come in as a dependency, so nothing here is global state.
 */
export class MfaService {
  readonly #deps: MfaServiceDeps;

  constructor(deps: MfaServiceDeps) {
    this.#deps = deps;
  }

  /** Whether the user has confirmed MFA (a pending enrolment does not count). */
  async isEnabled(userId: string, db: Db | Trx = this.#deps.db): Promise<boolean> {
    return (await findMfa(db, userId))?.enabled === true;
  }

  /** Checks a TOTP code and, when it is right, spends its time step (good once). */
  async #acceptTotp(db: Db | Trx, userId: string, row: MfaRow, code: string): Promise<boolean> {
    if (!isTotpShaped(code)) return false;
    const nowMs = Date.now();
    const secret = decryptSecret(this.#deps.keys.encryption, userId, row.secretCiphertext);
    const step = totpStepOf(secret, code, nowMs);
    if (step === null) return false;
    return markTotpStepUsed(db, userId, step, new Date(nowMs).toISOString());
  }

  async #acceptRecoveryCode(db: Db | Trx, userId: string, code: string): Promise<boolean> {
    if (isTotpShaped(code)) return false;
    const codeHash = hashRecoveryCode(this.#deps.keys.recovery, userId, code);
    return spendRecoveryCode(db, userId, codeHash, new Date().toISOString());
  }

  async #checkSecondFactor(
    userId: string,
    otp: string | undefined,
    allowRecoveryCode: boolean,
  ): Promise<void> {
    const { db } = this.#deps;
    const row = await findMfa(db, userId);
    if (row === null || !row.enabled) return;
    if (otp === undefined || otp === '') {
      throw new CorebankError('MFA_REQUIRED', 'this user has two-factor authentication: send otp');
    }
    if (await this.#acceptTotp(db, userId, row, otp)) return;
    if (allowRecoveryCode && (await this.#acceptRecoveryCode(db, userId, otp))) return;
    throw new CorebankError('INVALID_OTP', 'the one-time code is wrong or was already used', 'otp');
  }

  /**
   * For staff actions (unlock, freeze): a current TOTP code is required. Staff without
   * confirmed MFA are refused (MFA_ENROLMENT_REQUIRED; the authentication hook refuses them
   * earlier, this is the second line). Recovery codes are for regaining access, not for
   * approving operations, so they are not accepted here.
   */
  async assertStaffFactor(userId: string, otp: string | undefined): Promise<void> {
    if (!(await this.isEnabled(userId))) {
      throw new CorebankError(
        'MFA_ENROLMENT_REQUIRED',
        'staff must turn on two-factor authentication before any staff action',
      );
    }
    await this.#checkSecondFactor(userId, otp, false);
  }

  /**
   * A TOTP code checked before the password, for a login held by the per-username back-off
   * (AuthService.login): true, and the code's step spent, when the user has MFA on and the
   * code is right. Recovery codes are not taken here (a wrong password would waste one).
   * A wrong code counts toward no lock: whoever sends it has not shown the password.
   */
  async proveTotpBeforePassword(userId: string, code: string): Promise<boolean> {
    const { db } = this.#deps;
    const row = await findMfa(db, userId);
    if (row === null || !row.enabled) return false;
    return this.#acceptTotp(db, userId, row, code);
  }

  /**
   * The login's second factor. Call it only after the password was verified, so MFA state
   * is never revealed to someone without the password. A recovery code works once instead
   * of a TOTP code.
   */
  async assertLoginFactor(userId: string, otp: string | undefined): Promise<void> {
    await this.#checkSecondFactor(userId, otp, true);
  }

  async #user(principal: Principal) {
    const user = await findUserById(this.#deps.db, principal.userId);
    if (user === null) throw new CorebankError('UNAUTHENTICATED', 'user no longer exists');
    return user;
  }

  /**
   * Changing the second factor needs the password, not just a (possibly stolen) token; a
   * wrong one goes through the credential guard (back-off, audit, lock).
   */
  async #userWithPassword(
    principal: Principal,
    password: string,
    action: 'auth.mfa_enabled' | 'auth.mfa_disabled' | 'auth.mfa_recovery_codes_renewed',
    context: MfaContext,
  ) {
    const { guard } = this.#deps;
    const user = await this.#user(principal);
    await guard.assertAllowed(user, context.ip);
    if (!(await verifyPassword(user.passwordHash, password))) {
      throw await guard.failed(
        user,
        context.ip,
        { action, reason: 'wrong_password' },
        new CorebankError('INVALID_CREDENTIALS', 'password is wrong', 'password'),
      );
    }
    return user;
  }

  /**
   * Starts (or restarts) an enrolment: a new secret, pending until a code from it is
   * confirmed. An enabled MFA is never replaced here; it must be disabled first, which
   * needs a current code.
   */
  async enrol(
    principal: Principal,
    input: { password: string },
    context: MfaContext = { ip: null },
  ): Promise<MfaEnrolment> {
    const { db, keys } = this.#deps;
    const user = await this.#userWithPassword(
      principal,
      input.password,
      'auth.mfa_enabled',
      context,
    );
    const secret = newTotpSecret();
    const ciphertext = encryptSecret(keys.encryption, user.id, secret);
    if (!(await upsertPendingEnrolment(db, user.id, ciphertext, new Date().toISOString()))) {
      throw new CorebankError('MFA_ALREADY_ENABLED', 'two-factor authentication is already on');
    }
    return { secret, otpauthUri: otpauthUri(user.username, secret) };
  }

  /** Confirms a pending enrolment with a current code; returns recovery codes, once. */
  async confirm(
    principal: Principal,
    input: { code: string },
    context: MfaContext,
  ): Promise<{ recoveryCodes: string[] }> {
    const { db, engine, keys, gate, guard } = this.#deps;
    const userId = principal.userId;
    const user = await this.#user(principal);
    await guard.assertAllowed(user, context.ip);
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const own = await findSessionState(db, principal.sessionId);
    const ended = await db.transaction().execute(async (trx) => {
      const row = await findMfaForUpdate(trx, engine, userId);
      if (row === null) {
        throw new CorebankError('MFA_NOT_ENABLED', 'no enrolment is pending: start with enrol');
      }
      if (row.enabled) {
        throw new CorebankError('MFA_ALREADY_ENABLED', 'two-factor authentication is already on');
      }
      // A wrong code is reported out of the transaction, so the guard's count commits.
      if (!(await this.#acceptTotp(trx, userId, row, input.code))) return null;
      const now = new Date().toISOString();
      await enableMfa(
        trx,
        userId,
        codes.map((code) => hashRecoveryCode(keys.recovery, userId, code)),
        now,
      );
      // Every other login ends: whoever signed in with the password alone (perhaps the
      // reason MFA is being turned on) must now prove the second factor too.
      const ids = await revokeUserSessions(
        trx,
        userId,
        'mfa_enabled',
        now,
        own?.familyId ?? principal.sessionId,
      );
      await appendAudit(trx, engine, {
        actorUserId: userId,
        action: 'auth.mfa_enabled',
        target: `user:${userId}`,
        outcome: 'success',
        ip: context.ip,
        details: { sessionsEnded: ids.length },
      });
      return ids;
    });
    if (ended === null) {
      throw await guard.failed(
        user,
        context.ip,
        { action: 'auth.mfa_enabled', reason: 'invalid_otp' },
        new CorebankError('INVALID_OTP', 'the one-time code is wrong', 'code'),
      );
    }
    await guard.succeeded(user, context.ip);
    await gate.revoked(ended);
    return { recoveryCodes: codes };
  }

  /** Turns MFA off; needs the password and a current code (or an unused recovery code). */
  async disable(
    principal: Principal,
    input: { password: string; code: string },
    context: MfaContext,
  ): Promise<void> {
    const { db, engine, guard } = this.#deps;
    const user = await this.#userWithPassword(
      principal,
      input.password,
      'auth.mfa_disabled',
      context,
    );
    const row = await findMfa(db, user.id);
    if (row === null || !row.enabled) {
      throw new CorebankError('MFA_NOT_ENABLED', 'two-factor authentication is not on');
    }
    const accepted =
      (await this.#acceptTotp(db, user.id, row, input.code)) ||
      (await this.#acceptRecoveryCode(db, user.id, input.code));
    if (!accepted) {
      throw await guard.failed(
        user,
        context.ip,
        { action: 'auth.mfa_disabled', reason: 'invalid_otp' },
        new CorebankError('INVALID_OTP', 'the one-time code is wrong or was already used', 'code'),
      );
    }
    await guard.succeeded(user, context.ip);
    await db.transaction().execute(async (trx) => {
      await deleteMfa(trx, user.id);
      await appendAudit(trx, engine, {
        actorUserId: user.id,
        action: 'auth.mfa_disabled',
        target: `user:${user.id}`,
        outcome: 'success',
        ip: context.ip,
      });
    });
  }

  /**
   * A new set of recovery codes, shown once; every earlier code, used or not, stops working
   * in the same transaction. Needs the password and a current code from the app: recovery
   * codes are for getting back in, so one of them cannot mint more (whoever found a printed
   * code could otherwise turn it into ten).
   */
  async renewRecoveryCodes(
    principal: Principal,
    input: { password: string; code: string },
    context: MfaContext,
  ): Promise<{ recoveryCodes: string[] }> {
    const { db, engine, keys, guard } = this.#deps;
    const user = await this.#userWithPassword(
      principal,
      input.password,
      'auth.mfa_recovery_codes_renewed',
      context,
    );
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const renewed = await db.transaction().execute(async (trx) => {
      const row = await findMfaForUpdate(trx, engine, user.id);
      if (row === null || !row.enabled) {
        throw new CorebankError('MFA_NOT_ENABLED', 'two-factor authentication is not on');
      }
      // A wrong code is reported out of the transaction, so the guard's count commits.
      if (!(await this.#acceptTotp(trx, user.id, row, input.code))) return false;
      const now = new Date().toISOString();
      await replaceRecoveryCodes(
        trx,
        user.id,
        codes.map((code) => hashRecoveryCode(keys.recovery, user.id, code)),
        now,
      );
      await appendAudit(trx, engine, {
        actorUserId: user.id,
        action: 'auth.mfa_recovery_codes_renewed',
        target: `user:${user.id}`,
        outcome: 'success',
        ip: context.ip,
        details: { codes: codes.length },
      });
      return true;
    });
    if (!renewed) {
      throw await guard.failed(
        user,
        context.ip,
        { action: 'auth.mfa_recovery_codes_renewed', reason: 'invalid_otp' },
        new CorebankError(
          'INVALID_OTP',
          'the code from the app is wrong or was already used',
          'code',
        ),
      );
    }
    await guard.succeeded(user, context.ip);
    return { recoveryCodes: codes };
  }
}
