import crypto from 'node:crypto';
import { Secret, TOTP } from 'otpauth';

/**
 * TOTP multi-factor authentication (RFC 6238): HMAC-SHA-1, 6 digits, 30-second steps, the
 * parameters every authenticator app supports. One step either side is accepted for clock
 * drift. The newest accepted step is remembered per user (see repository.ts) and a code of
 * that step or an older one is refused, so a code is good once.
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

/** The keys that protect MFA data at rest; built once and passed to the MFA service. */
export interface MfaKeys {
  encryption: Buffer;
  recovery: Buffer;
}

function hkdf(pepper: Buffer, label: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', pepper, Buffer.alloc(0), label, 32));
}

export function deriveMfaKeys(pepper: Buffer): MfaKeys {
  return { encryption: hkdf(pepper, ENCRYPTION_LABEL), recovery: hkdf(pepper, RECOVERY_LABEL) };
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

export function hashRecoveryCode(key: Buffer, userId: string, code: string): string {
  // Recovery codes carry 50 random bits, so a keyed hash is enough: without the key a
  // stolen table cannot even be brute-forced, and verifying stays cheap.
  return crypto
    .createHmac('sha256', key)
    .update(`${userId}:${normaliseRecoveryCode(code)}`)
    .digest('base64url');
}

export function newRecoveryCode(): string {
  let code = '';
  for (let i = 0; i < RECOVERY_CODE_CHARS; i++) {
    code += RECOVERY_ALPHABET[crypto.randomInt(RECOVERY_ALPHABET.length)];
  }
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

export function isTotpShaped(code: string): boolean {
  return /^[0-9]{6}$/.test(code);
}

/** A new random shared secret, base32 as authenticator apps take it. */
export function newTotpSecret(): string {
  return new Secret({ size: SECRET_BYTES }).base32;
}

/** The otpauth:// URI an authenticator app scans (as a QR code). */
export function otpauthUri(label: string, secretBase32: string): string {
  return new TOTP({
    issuer: ISSUER,
    label,
    secret: Secret.fromBase32(secretBase32),
    algorithm: TOTP_ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  }).toString();
}

/** The time step a code matches (within the drift window), or null when it matches none. */
export function totpStepOf(secretBase32: string, code: string, nowMs: number): bigint | null {
  if (!isTotpShaped(code)) return null;
  const delta = TOTP.validate({
    token: code,
    secret: Secret.fromBase32(secretBase32),
    algorithm: TOTP_ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    timestamp: nowMs,
    window: TOTP_WINDOW_STEPS,
  });
  if (delta === null) return null;
  return BigInt(TOTP.counter({ period: TOTP_PERIOD_SECONDS, timestamp: nowMs }) + delta);
}
