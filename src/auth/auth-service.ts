import crypto from 'node:crypto';
import type { Db } from '../db/database.ts';
import { isUniqueViolation } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { decoyPasswordHash, hashPassword, verifyPassword } from './password.ts';
import { hashPin } from './pin.ts';
import type { Principal, Role } from './roles.ts';
import type { Secrets } from './secrets.ts';
import type { TokenService } from './tokens.ts';
import {
  findUserById,
  findUserByUsername,
  insertSession,
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

export interface LoginResult {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

export interface NewUserInput {
  username: string;
  password: string;
  fullName: string;
  email: string;
}

export const USERNAME_PATTERN = '^[A-Za-z0-9._-]{3,32}$';
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

function toView(user: UserRecord): UserView {
  return {
    id: user.id,
    username: user.username,
    fullName: user.fullName,
    email: user.email,
    roles: user.roles,
    pinSet: user.pinHash !== null,
    // TOTP enrolment is not built yet (security issue); nobody has it enabled.
    mfaEnabled: false,
    locked: user.lockedAt !== null,
    createdAt: user.createdAt,
  };
}

function sha256(value: string): string {
  return crypto.createHash('sha256').update(value).digest('base64url');
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
    await db
      .transaction()
      .execute((trx) =>
        insertUser(trx, { id, username, email, fullName, passwordHash, roles, now }),
      );
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
  return toView(user);
}

export interface AuthServiceDeps {
  db: Db;
  secrets: Secrets;
  tokens: TokenService;
  refreshTokenTtlSeconds: number;
}

export class AuthService {
  readonly #deps: AuthServiceDeps;

  constructor(deps: AuthServiceDeps) {
    this.#deps = deps;
  }

  /** Self-service registration always creates a plain customer; roles come only from the CLI. */
  register(input: NewUserInput): Promise<UserView> {
    return createUser(this.#deps.db, input, ['customer']);
  }

  async login(input: { username: string; password: string }): Promise<LoginResult> {
    const { db, tokens, refreshTokenTtlSeconds } = this.#deps;
    const user = await findUserByUsername(db, input.username.toLowerCase());
    if (user === null) {
      // Same Argon2 work and the same answer as a wrong password: no username oracle.
      await verifyPassword(await decoyPasswordHash(), input.password);
      throw new CorebankError('INVALID_CREDENTIALS', 'username or password is wrong');
    }
    if (!(await verifyPassword(user.passwordHash, input.password))) {
      throw new CorebankError('INVALID_CREDENTIALS', 'username or password is wrong');
    }
    // The lock is revealed only to someone who knows the password.
    if (user.lockedAt !== null) {
      throw new CorebankError('USER_LOCKED', 'this user is locked; contact the bank to unlock it');
    }
    const sessionId = crypto.randomUUID();
    const refreshToken = crypto.randomBytes(32).toString('base64url');
    const now = new Date();
    await insertSession(db, {
      id: sessionId,
      userId: user.id,
      // Only a hash is stored: a leaked sessions table cannot be replayed as tokens.
      refreshTokenHash: sha256(refreshToken),
      now: now.toISOString(),
      expiresAt: new Date(now.getTime() + refreshTokenTtlSeconds * 1000).toISOString(),
    });
    const access = await tokens.issueAccessToken({ userId: user.id, sessionId, roles: user.roles });
    return {
      accessToken: access.token,
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: access.expiresInSeconds,
    };
  }

  async me(principal: Principal): Promise<UserView> {
    const user = await findUserById(this.#deps.db, principal.userId);
    if (user === null) throw new CorebankError('UNAUTHENTICATED', 'user no longer exists');
    return toView(user);
  }

  /** Setting or changing the transaction PIN needs the password, not just a token. */
  async setPin(principal: Principal, input: { password: string; pin: string }): Promise<void> {
    const { db, secrets } = this.#deps;
    const user = await findUserById(db, principal.userId);
    if (user === null) throw new CorebankError('UNAUTHENTICATED', 'user no longer exists');
    if (!(await verifyPassword(user.passwordHash, input.password))) {
      throw new CorebankError('INVALID_CREDENTIALS', 'password is wrong', 'password');
    }
    if (user.lockedAt !== null) {
      throw new CorebankError('USER_LOCKED', 'this user is locked; contact the bank to unlock it');
    }
    const pinHash = hashPin(secrets.pinPepper, user.id, input.pin);
    await setPinHash(db, user.id, pinHash, new Date().toISOString());
  }
}
