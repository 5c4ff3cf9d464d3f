import crypto from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { appendAudit } from '../audit/audit.ts';
import type { Db, Engine, Trx } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { verifyPassword } from './password.ts';
import type { Principal } from './roles.ts';
import { findUserById } from './users-repository.ts';

/**
 * TOTP multi-factor authentication (RFC 6238): HMAC-SHA-1, 6 digits, 30-second steps, the
 * parameters every authenticator app supports. One step either side is accepted for clock
 * drift. The newest accepted step is remembered per user and a code of that step or an
 * older one is refused, so a code is good once.
 */
const TOTP_ALGORITHM = 'SHA1';
const TOTP_DIGITS = 6;
const TOTP_PERIOD_SECONDS = 30;
const TOTP_WINDOW_STEPS = 1;
/** RFC 4226 recommends a 160-bit shared secret. */
const SECRET_BYTES = 20;
const ISSUER = 'Corebank';

export const RECOVERY_CODE_COUNT = 10;
/** Recovery codes are 10 base32 characters (50 bits), shown as `XXXXX-XXXXX`. */
const RECOVERY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const RECOVERY_CODE_CHARS = 10;

/** What the login and disable bodies accept in their code fields: a TOTP or a recovery code. */
export const OTP_PATTERN = '^([0-9]{6}|[A-Za-z2-7]{5}-?[A-Za-z2-7]{5})$';
/** A TOTP code only (confirming an enrolment proves the authenticator works). */
export const TOTP_PATTERN = '^[0-9]{6}$';

/*
 * Keys derived from the server's PIN pepper with HKDF, each under its own label, so no new
 * secret has to be provisioned and a copy of the database alone reveals neither TOTP
 * secrets nor recovery codes. The labels keep these keys independent of the PIN HMAC key
 * and of each other.
 */
const ENCRYPTION_LABEL = 'corebank/mfa/totp-secret-encryption/v1';
const RECOVERY_LABEL = 'corebank/mfa/recovery-code-hmac/v1';
const CIPHERTEXT_VERSION = 'v1';

interface MfaKeys {
  encryption: Buffer;
  recovery: Buffer;
}

/**
 * The keys belong to the database handle they protect. `assertStaffMfa` has a fixed
 * signature without secrets, so the app binds the keys to its handle once at start-up.
 */
const keysByDb = new WeakMap<Db, MfaKeys>();

function hkdf(pepper: Buffer, label: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', pepper, Buffer.alloc(0), label, 32));
}

export function bindMfaKeys(db: Db, pepper: Buffer): void {
  keysByDb.set(db, {
    encryption: hkdf(pepper, ENCRYPTION_LABEL),
    recovery: hkdf(pepper, RECOVERY_LABEL),
  });
}

function keysOf(db: Db): MfaKeys {
  const keys = keysByDb.get(db);
  // buildApp binds the keys before any route runs; reaching here is a wiring bug.
  if (keys === undefined) throw new Error('MFA keys are not bound to this database handle');
  return keys;
}

/** AES-256-GCM with a random nonce; the user id is authenticated data, so a ciphertext
 * copied onto another user's row does not decrypt. */
export function encryptSecret(key: Buffer, userId: string, secretBase32: string): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(userId, 'utf8'));
  const body = Buffer.concat([cipher.update(secretBase32, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [CIPHERTEXT_VERSION, iv, body, tag]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
}

export function decryptSecret(key: Buffer, userId: string, stored: string): string {
  const [version, iv, body, tag] = stored.split('.');
  if (version !== CIPHERTEXT_VERSION || iv === undefined || body === undefined || !tag) {
    throw new Error('stored TOTP secret has an unknown format');
  }
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), {
    authTagLength: 16,
  });
  decipher.setAAD(Buffer.from(userId, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([
    decipher.update(Buffer.from(body, 'base64url')),
    decipher.final(),
  ]).toString('utf8');
}

function normaliseRecoveryCode(code: string): string {
  return code.replaceAll('-', '').toUpperCase();
}

function hashRecoveryCode(key: Buffer, userId: string, code: string): string {
  // Recovery codes carry 50 random bits, so a keyed hash is enough: without the key a
  // stolen table cannot even be brute-forced, and verifying stays cheap.
  return crypto
    .createHmac('sha256', key)
    .update(`${userId}:${normaliseRecoveryCode(code)}`)
    .digest('base64url');
}

function newRecoveryCode(): string {
  let code = '';
  for (let i = 0; i < RECOVERY_CODE_CHARS; i++) {
    code += RECOVERY_ALPHABET[crypto.randomInt(RECOVERY_ALPHABET.length)];
  }
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

function isTotpShaped(code: string): boolean {
  return /^[0-9]{6}$/.test(code);
}

interface MfaRow {
  secretCiphertext: string;
  enabled: boolean;
}

async function findMfa(db: Db | Trx, userId: string): Promise<MfaRow | null> {
  const row = await db
    .selectFrom('user_mfa')
    .select(['secret_ciphertext', 'enabled_at'])
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (row === undefined) return null;
  return { secretCiphertext: row.secret_ciphertext, enabled: row.enabled_at !== null };
}

/** Whether the user has confirmed MFA (a pending enrolment does not count). */
export async function isMfaEnabled(db: Db | Trx, userId: string): Promise<boolean> {
  return (await findMfa(db, userId))?.enabled === true;
}

/**
 * Checks a TOTP code and, when it is right, records its time step in the same statement
 * that refuses a step already used. The conditional UPDATE is atomic on both engines, so
 * two requests racing with one code cannot both succeed.
 */
async function acceptTotp(
  db: Db | Trx,
  keys: MfaKeys,
  userId: string,
  row: MfaRow,
  code: string,
  nowMs: number,
): Promise<boolean> {
  if (!isTotpShaped(code)) return false;
  const secret = Secret.fromBase32(decryptSecret(keys.encryption, userId, row.secretCiphertext));
  const delta = TOTP.validate({
    token: code,
    secret,
    algorithm: TOTP_ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    timestamp: nowMs,
    window: TOTP_WINDOW_STEPS,
  });
  if (delta === null) return false;
  const step = BigInt(TOTP.counter({ period: TOTP_PERIOD_SECONDS, timestamp: nowMs }) + delta);
  const result = await db
    .updateTable('user_mfa')
    .set({ last_used_step: step, updated_at: new Date(nowMs).toISOString() })
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** Spends a recovery code: the conditional UPDATE succeeds once per code, whatever races. */
async function acceptRecoveryCode(
  db: Db | Trx,
  keys: MfaKeys,
  userId: string,
  code: string,
): Promise<boolean> {
  if (isTotpShaped(code)) return false;
  const result = await db
    .updateTable('mfa_recovery_codes')
    .set({ used_at: new Date().toISOString() })
    .where('user_id', '=', userId)
    .where('code_hash', '=', hashRecoveryCode(keys.recovery, userId, code))
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

async function checkSecondFactor(
  db: Db,
  userId: string,
  otp: string | undefined,
  allowRecoveryCode: boolean,
): Promise<void> {
  const row = await findMfa(db, userId);
  if (row === null || !row.enabled) return;
  if (otp === undefined || otp === '') {
    throw new CorebankError('MFA_REQUIRED', 'this user has two-factor authentication: send otp');
  }
  const keys = keysOf(db);
  if (await acceptTotp(db, keys, userId, row, otp, Date.now())) return;
  if (allowRecoveryCode && (await acceptRecoveryCode(db, keys, userId, otp))) return;
  throw new CorebankError('INVALID_OTP', 'the one-time code is wrong or was already used', 'otp');
}

/**
 * For staff actions (unlock, freeze): when the acting user has MFA enabled, a current TOTP
 * code is required; returns when MFA is not enabled. Recovery codes are for regaining
 * access, not for approving operations, so they are not accepted here.
 */
export async function assertStaffMfa(
  db: Db,
  userId: string,
  otp: string | undefined,
): Promise<void> {
  await checkSecondFactor(db, userId, otp, false);
}

/**
 * The login's second factor. Call it only after the password was verified, so MFA state is
 * never revealed to someone without the password. A recovery code works once instead of
 * a TOTP code.
 */
export async function assertLoginMfa(
  db: Db,
  userId: string,
  otp: string | undefined,
): Promise<void> {
  await checkSecondFactor(db, userId, otp, true);
}

export interface MfaEnrolment {
  secret: string;
  otpauthUri: string;
}

export interface MfaServiceDeps {
  db: Db;
  engine: Engine;
}

/** Request facts the audit trail records. */
export interface MfaContext {
  ip: string | null;
}

export class MfaService {
  readonly #deps: MfaServiceDeps;

  constructor(deps: MfaServiceDeps) {
    this.#deps = deps;
  }

  async #userWithPassword(principal: Principal, password: string) {
    const user = await findUserById(this.#deps.db, principal.userId);
    if (user === null) throw new CorebankError('UNAUTHENTICATED', 'user no longer exists');
    // Changing the second factor needs the password, not just a (possibly stolen) token.
    if (!(await verifyPassword(user.passwordHash, password))) {
      throw new CorebankError('INVALID_CREDENTIALS', 'password is wrong', 'password');
    }
    return user;
  }

  /**
   * Starts (or restarts) an enrolment: a new secret, pending until a code from it is
   * confirmed. An enabled MFA is never replaced here; it must be disabled first, which
   * needs a current code.
   */
  async enrol(principal: Principal, input: { password: string }): Promise<MfaEnrolment> {
    const { db } = this.#deps;
    const user = await this.#userWithPassword(principal, input.password);
    const secret = new Secret({ size: SECRET_BYTES });
    const ciphertext = encryptSecret(keysOf(db).encryption, user.id, secret.base32);
    const now = new Date().toISOString();
    const result = await db
      .insertInto('user_mfa')
      .values({
        user_id: user.id,
        secret_ciphertext: ciphertext,
        enabled_at: null,
        last_used_step: null,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc
          .column('user_id')
          .doUpdateSet({
            secret_ciphertext: ciphertext,
            last_used_step: null,
            created_at: now,
            updated_at: now,
          })
          .where('user_mfa.enabled_at', 'is', null),
      )
      .executeTakeFirst();
    if (result.numInsertedOrUpdatedRows !== 1n) {
      throw new CorebankError('MFA_ALREADY_ENABLED', 'two-factor authentication is already on');
    }
    const totp = new TOTP({
      issuer: ISSUER,
      label: user.username,
      secret,
      algorithm: TOTP_ALGORITHM,
      digits: TOTP_DIGITS,
      period: TOTP_PERIOD_SECONDS,
    });
    return { secret: secret.base32, otpauthUri: totp.toString() };
  }

  /** Confirms a pending enrolment with a current code; returns recovery codes, once. */
  async confirm(
    principal: Principal,
    input: { code: string },
    context: MfaContext,
  ): Promise<{ recoveryCodes: string[] }> {
    const { db, engine } = this.#deps;
    const keys = keysOf(db);
    const userId = principal.userId;
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('user_mfa')
        .select(['secret_ciphertext', 'enabled_at'])
        .where('user_id', '=', userId)
        .$if(engine === 'postgres', (q) => q.forUpdate())
        .executeTakeFirst();
      if (row === undefined) {
        throw new CorebankError('MFA_NOT_ENABLED', 'no enrolment is pending: start with enrol');
      }
      if (row.enabled_at !== null) {
        throw new CorebankError('MFA_ALREADY_ENABLED', 'two-factor authentication is already on');
      }
      const mfa = { secretCiphertext: row.secret_ciphertext, enabled: false };
      if (!(await acceptTotp(trx, keys, userId, mfa, input.code, Date.now()))) {
        throw new CorebankError('INVALID_OTP', 'the one-time code is wrong', 'code');
      }
      const now = new Date().toISOString();
      await trx
        .updateTable('user_mfa')
        .set({ enabled_at: now, updated_at: now })
        .where('user_id', '=', userId)
        .execute();
      await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
      await trx
        .insertInto('mfa_recovery_codes')
        .values(
          codes.map((code) => ({
            user_id: userId,
            code_hash: hashRecoveryCode(keys.recovery, userId, code),
            used_at: null,
            created_at: now,
          })),
        )
        .execute();
      await appendAudit(trx, engine, {
        actorUserId: userId,
        action: 'auth.mfa_enabled',
        target: `user:${userId}`,
        outcome: 'success',
        ip: context.ip,
      });
    });
    return { recoveryCodes: codes };
  }

  /** Turns MFA off; needs the password and a current code (or an unused recovery code). */
  async disable(
    principal: Principal,
    input: { password: string; code: string },
    context: MfaContext,
  ): Promise<void> {
    const { db, engine } = this.#deps;
    const user = await this.#userWithPassword(principal, input.password);
    const row = await findMfa(db, user.id);
    if (row === null || !row.enabled) {
      throw new CorebankError('MFA_NOT_ENABLED', 'two-factor authentication is not on');
    }
    const keys = keysOf(db);
    const accepted =
      (await acceptTotp(db, keys, user.id, row, input.code, Date.now())) ||
      (await acceptRecoveryCode(db, keys, user.id, input.code));
    if (!accepted) {
      throw new CorebankError(
        'INVALID_OTP',
        'the one-time code is wrong or was already used',
        'code',
      );
    }
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', user.id).execute();
      await trx.deleteFrom('user_mfa').where('user_id', '=', user.id).execute();
      await appendAudit(trx, engine, {
        actorUserId: user.id,
        action: 'auth.mfa_disabled',
        target: `user:${user.id}`,
        outcome: 'success',
        ip: context.ip,
      });
    });
  }
}
