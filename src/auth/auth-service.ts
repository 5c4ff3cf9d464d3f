import crypto from 'node:crypto';
import { appendAudit, recordAudit } from '../audit/audit.ts';
import type { Db, Engine } from '../db/database.ts';
import { isUniqueViolation } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { enqueueEmail } from '../mail/outbox.ts';
import type { CredentialGuard } from './credential-guard.ts';
import type { DeviceCookies } from './device-cookie.ts';
import type { LoginBackoff } from './login-backoff.ts';
import type { MfaService } from './mfa/service.ts';
import { decoyPasswordHash, hashPassword, verifyPassword } from './passwords/crypto.ts';
import {
  assertPasswordAcceptable,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
} from './passwords/policy.ts';
import { findUserIdentityByEmail } from './passwords/repository.ts';
import { hashPin, pinProblem } from './pin.ts';
import type { Principal, Role } from './roles.ts';
import type { Secrets } from './secrets.ts';
import type { SessionService, TokenPair } from './sessions/service.ts';
import { userLockedError } from './user-lock.ts';
import {
  findUserById,
  findUserByUsername,
  insertUser,
  setPinHash,
  type UserRecord,
  usernameOrEmailTaken,
} from './users-repository.ts';

export interface UserView {
  id: string;
  username: string;
  fullName: string;
  email: string;
  roles: Role[];
  pinSet: boolean;
  mfaEnabled: boolean;
  locked: boolean;
  createdAt: string;
}

export type LoginResult = TokenPair;

export interface NewUserInput {
  username: string;
  password: string;
  fullName: string;
  email: string;
}

export const USERNAME_PATTERN = '^[A-Za-z0-9._-]{3,32}$';

function toView(user: UserRecord, mfaEnabled: boolean): UserView {
  return {
    id: user.id,
    username: user.username,
    fullName: user.fullName,
    email: user.email,
    roles: user.roles,
    pinSet: user.pinHash !== null,
    mfaEnabled,
    locked: user.lockedAt !== null,
    createdAt: user.createdAt,
  };
}

/**
 * Creates a user with the given roles. The API only ever passes `customer`; staff roles
 * are granted by the operator CLI. The password and username rules live here, so the CLI
 * cannot bypass what the API enforces.
 */
export async function createUser(
  db: Db,
  input: NewUserInput,
  roles: readonly Role[],
  audit?: { engine: Engine; actorUserId: string | null; ip: string | null },
): Promise<UserView> {
  const username = input.username.toLowerCase();
  const email = input.email.trim().toLowerCase();
  const fullName = input.fullName.trim();
  if (!new RegExp(USERNAME_PATTERN).test(input.username)) {
    throw new CorebankError(
      'VALIDATION_FAILED',
      'username must be 3-32 letters, digits, dots, dashes or underscores',
      'username',
    );
  }
  if (input.password.length < PASSWORD_MIN_LENGTH || input.password.length > PASSWORD_MAX_LENGTH) {
    throw new CorebankError(
      'VALIDATION_FAILED',
      `password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`,
      'password',
    );
  }
  // NIST SP 800-63B: refuse common, repetitive and name-based passwords (all entry points).
  assertPasswordAcceptable(input.password, { username, email }, 'password');
  if (fullName.length === 0) {
    throw new CorebankError('VALIDATION_FAILED', 'fullName must not be blank', 'fullName');
  }
  if (roles.length === 0)
    throw new CorebankError('VALIDATION_FAILED', 'a user needs a role', 'role');
  const taken = await usernameOrEmailTaken(db, username, email);
  if (taken.username)
    throw new CorebankError('USERNAME_TAKEN', 'that username is taken', 'username');
  if (taken.email) {
    throw new CorebankError('EMAIL_TAKEN', 'that email is already registered', 'email');
  }
  const id = crypto.randomUUID();
  const passwordHash = await hashPassword(input.password);
  const now = new Date().toISOString();
  try {
    await db.transaction().execute(async (trx) => {
      await insertUser(trx, { id, username, email, fullName, passwordHash, roles, now });
      // Audited in the same transaction: a user never exists without its creation event.
      if (audit !== undefined) {
        await appendAudit(
          trx,
          audit.engine,
          {
            actorUserId: audit.actorUserId,
            action: 'user.created',
            target: `user:${id}`,
            outcome: 'success',
            ip: audit.ip,
            details: { username, roles: roles.join(',') },
          },
          now,
        );
      }
    });
  } catch (error) {
    // Two registrations raced past the check above; the unique index decided.
    if (isUniqueViolation(error)) {
      const again = await usernameOrEmailTaken(db, username, email);
      if (again.username) {
        throw new CorebankError('USERNAME_TAKEN', 'that username is taken', 'username');
      }
      throw new CorebankError('EMAIL_TAKEN', 'that email is already registered', 'email');
    }
    throw error;
  }
  const user = await findUserById(db, id);
  if (user === null) throw new Error('user vanished after insert');
  // A user who was just created cannot have enrolled a second factor yet.
  return toView(user, false);
}

export interface AuthServiceDeps {
  db: Db;
  secrets: Secrets;
  sessions: SessionService;
  mfa: MfaService;
  engine: Engine;
  backoff: LoginBackoff;
  guard: CredentialGuard;
  devices: DeviceCookies;
  /** Called after a message was queued, so the sender delivers it without waiting. */
  mailQueued: () => void;
  /** Wrong transaction PINs in a row that lock the user (PIN_MAX_ATTEMPTS). */
  pinMaxAttempts: number;
}

/** The signed-in user as GET /me shows them: the user and what is left of the PIN tries. */
export interface MeView extends UserView {
  pinAttemptsLeft: number;
}

/** Who is calling, for back-off keys and the audit trail. */
export interface CallerContext {
  ip: string | null;
  /** The login's device cookie, when the client sent one. */
  deviceToken?: string | undefined;
  /** The client's User-Agent, recorded on the session a login makes. */
  userAgent?: string | undefined;
}

export class AuthService {
  readonly #deps: AuthServiceDeps;

  constructor(deps: AuthServiceDeps) {
    this.#deps = deps;
  }

  /**
   * Self-service registration always creates a plain customer; roles come only from the CLI.
   * Audited (`user.created`, anonymous actor, the caller's address).
   *
   * An e-mail address that is already registered is not revealed: the answer is the same
   * 201 as for a new user (after the same Argon2 work), no user is created, and the
   * address's owner is told by mail instead, as the large identity providers do. Only they
   * can act on it (sign in, or reset the password). Usernames stay public identifiers and
   * still answer USERNAME_TAKEN.
   */
  async register(input: NewUserInput, context: CallerContext = { ip: null }): Promise<UserView> {
    const { db, engine } = this.#deps;
    try {
      return await createUser(db, input, ['customer'], {
        engine,
        actorUserId: null,
        ip: context.ip,
      });
    } catch (error) {
      if (!(error instanceof CorebankError) || error.code !== 'EMAIL_TAKEN') throw error;
    }
    return this.#registeredEmailTaken(input, context);
  }

  async #registeredEmailTaken(input: NewUserInput, context: CallerContext): Promise<UserView> {
    const { db, engine } = this.#deps;
    const email = input.email.trim().toLowerCase();
    const username = input.username.toLowerCase();
    // The same slow hash a real registration does, so timing does not tell the cases apart.
    await hashPassword(input.password);
    const now = new Date().toISOString();
    const owner = await db.transaction().execute(async (trx) => {
      const found = await findUserIdentityByEmail(trx, email);
      if (found !== null) {
        await enqueueEmail(
          trx,
          {
            recipient: found.email,
            subject: 'Someone tried to register with your address at Corebank',
            bodyText: [
              `Someone tried to open a new Corebank user with this address (${found.email}).`,
              `You already have one: "${found.username}". No new user was created.`,
              '',
              'If that was you, sign in with your username, or reset your password if you',
              'forgot it. If it was not you, you need do nothing.',
            ].join('\n'),
          },
          now,
        );
      }
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: null,
          action: 'user.created',
          target: `username:${username}`,
          outcome: 'failure',
          ip: context.ip,
          details: { reason: 'email_taken', owner: found === null ? null : `user:${found.id}` },
        },
        now,
      );
      return found;
    });
    if (owner !== null) this.#deps.mailQueued();
    return {
      id: crypto.randomUUID(),
      username,
      fullName: input.fullName.trim(),
      email,
      roles: ['customer'],
      pinSet: false,
      mfaEnabled: false,
      locked: false,
      createdAt: now,
    };
  }

  /**
   * Login with back-off: a throttled caller is refused before any password is checked, and
   * the back-off is keyed by the submitted name whether or not it exists (see
   * login-backoff.ts), so its answers reveal nothing about which usernames exist. Every
   * outcome is audited under `username:<name>`; the password never is.
   */
  async login(
    input: { username: string; password: string; otp?: string | undefined },
    context: CallerContext = { ip: null },
  ): Promise<LoginResult & { deviceToken: string }> {
    const { db, engine, backoff, devices } = this.#deps;
    const username = input.username.toLowerCase();
    // A client that signed in as this user before is not held by the per-username back-off
    // a stranger can drive (device cookies; see device-cookie.ts).
    const deviceId = devices.verify(context.deviceToken, username);
    const audit = (
      outcome: 'success' | 'failure' | 'denied',
      actor: string | null,
      reason?: string,
    ) =>
      recordAudit(db, engine, {
        actorUserId: actor,
        action: 'auth.login',
        target: `username:${username}`,
        outcome,
        ip: context.ip,
        ...(reason === undefined ? {} : { details: { reason } }),
      });
    // Set when a right TOTP code let this login past the per-username back-off: the
    // second factor is then proven already (its step is spent).
    let otpProven = false;
    try {
      await backoff.assertAllowed(username, context.ip, deviceId);
    } catch (error) {
      otpProven = await this.#proveMore(username, input.otp, context.ip, deviceId, error);
      if (!otpProven) {
        await audit('denied', null, 'backoff');
        throw error;
      }
    }
    let result: LoginResult & { userId: string };
    try {
      result = await this.#login(input, context, otpProven);
    } catch (error) {
      if (error instanceof CorebankError) {
        // A wrong one-time code was already counted by the credential guard (back-off and
        // lock: with the password known, that is what bounds guessing 6-digit codes).
        if (error.code === 'INVALID_CREDENTIALS') {
          await backoff.recordFailure(username, context.ip, deviceId);
        }
        await audit('failure', null, error.code.toLowerCase());
      }
      throw error;
    }
    await backoff.recordSuccess(username, context.ip, deviceId);
    await audit('success', result.userId);
    const { userId: _userId, ...tokens } = result;
    return { ...tokens, deviceToken: devices.issue(username) };
  }

  /**
   * "A stranger can slow, never lock out": when only the per-username back-off (which any
   * stranger can drive) holds this login, a login that proves more than the password, a
   * right TOTP code of a user with MFA on, goes on to the password check; the owner gets in
   * from any client. Everyone else stays slowed with the same 429, code or not, so the
   * answer tells a stranger nothing about the user or their MFA. A wrong code here feeds
   * the back-off (per client and per username: this client is slowed, and the owner, who
   * has a right code, is not) but counts toward no lock, because whoever sends it has not
   * shown the password; a code guessed right only buys one password check.
   */
  async #proveMore(
    username: string,
    otp: string | undefined,
    ip: string | null,
    deviceId: string | null,
    refusal: unknown,
  ): Promise<boolean> {
    const { db, backoff, mfa } = this.#deps;
    if (!(refusal instanceof CorebankError) || refusal.code !== 'RATE_LIMITED') return false;
    // A device cookie is held to its own key only: this path is for clients without one.
    if (deviceId !== null || otp === undefined || otp === '') return false;
    if (!(await backoff.clientAllowed(username, ip))) return false;
    const user = await findUserByUsername(db, username);
    if (user !== null && (await mfa.proveTotpBeforePassword(user.id, otp))) return true;
    await backoff.recordFailure(username, ip);
    return false;
  }

  async #login(
    input: {
      username: string;
      password: string;
      otp?: string | undefined;
    },
    context: CallerContext,
    otpProven = false,
  ): Promise<LoginResult & { userId: string }> {
    const { db, mfa, sessions, guard } = this.#deps;
    const user = await findUserByUsername(db, input.username.toLowerCase());
    if (user === null) {
      // Same Argon2 work and the same answer as a wrong password: no username oracle.
      await verifyPassword(await decoyPasswordHash(), input.password);
      throw new CorebankError('INVALID_CREDENTIALS', 'username or password is wrong');
    }
    if (!(await verifyPassword(user.passwordHash, input.password))) {
      throw new CorebankError('INVALID_CREDENTIALS', 'username or password is wrong');
    }
    // The second factor is checked only after a right password, so MFA state is not
    // revealed to someone without it; and before the lock, which needs both factors to see.
    try {
      if (!otpProven) await mfa.assertLoginFactor(user.id, input.otp);
    } catch (error) {
      if (error instanceof CorebankError && error.code === 'INVALID_OTP') {
        throw await guard.failed(user, context.ip, null, error);
      }
      throw error;
    }
    // The lock is revealed only to someone who knows the password.
    if (user.lockedAt !== null) throw userLockedError();
    await guard.succeeded(user, context.ip);
    return {
      ...(await sessions.start(user, { ip: context.ip, userAgent: context.userAgent })),
      userId: user.id,
    };
  }

  async me(principal: Principal): Promise<MeView> {
    const user = await findUserById(this.#deps.db, principal.userId);
    if (user === null) throw new CorebankError('UNAUTHENTICATED', 'user no longer exists');
    const left = user.lockedAt !== null ? 0 : this.#deps.pinMaxAttempts - user.failedPinAttempts;
    return {
      ...toView(user, await this.#deps.mfa.isEnabled(user.id)),
      pinAttemptsLeft: Math.max(0, left),
    };
  }

  /** Setting or changing the transaction PIN needs the password, not just a token. */
  async setPin(
    principal: Principal,
    input: { password: string; pin: string },
    context: CallerContext = { ip: null },
  ): Promise<void> {
    const { db, secrets, engine, guard } = this.#deps;
    const user = await findUserById(db, principal.userId);
    if (user === null) throw new CorebankError('UNAUTHENTICATED', 'user no longer exists');
    // Checked before the password, so a refusal costs no guess of it.
    const weak = pinProblem(input.pin);
    if (weak !== null) throw new CorebankError('VALIDATION_FAILED', weak, 'pin');
    const audit = (outcome: 'success') =>
      recordAudit(db, engine, {
        actorUserId: user.id,
        action: 'auth.pin_changed',
        target: `user:${user.id}`,
        outcome,
        ip: context.ip,
      });
    // Someone holding only a stolen access token must not get a faster password oracle
    // here than at login: the credential guard's back-off, audit and lock.
    await guard.assertAllowed(user, context.ip);
    if (!(await verifyPassword(user.passwordHash, input.password))) {
      throw await guard.failed(
        user,
        context.ip,
        { action: 'auth.pin_changed', reason: 'wrong_password' },
        new CorebankError('INVALID_CREDENTIALS', 'password is wrong', 'password'),
      );
    }
    await guard.succeeded(user, context.ip);
    if (user.lockedAt !== null) throw userLockedError();
    const pinHash = hashPin(secrets.pinPepper, user.id, input.pin);
    await setPinHash(db, user.id, pinHash, new Date().toISOString());
    await audit('success');
  }
}
