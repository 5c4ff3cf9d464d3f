import crypto from 'node:crypto';

/**
 * Transaction PINs are only 4 to 6 digits: a million guesses at most, so no hash function
 * alone protects them once the table leaks. Their protection is (a) the attempt limit,
 * enforced inside the money transaction, and (b) a keyed HMAC whose key (the pepper) lives
 * outside the database, so a stolen table without the server's secret reveals nothing.
 * HMAC is also cheap, which keeps slow hashing off the transfer path.
 */
export const PIN_PATTERN = '^[0-9]{4,6}$';

/**
 * HMAC with a raw Buffer key re-imports the key on every call (about 20 µs, a quarter of the
 * batched engine's CPU when measured); a KeyObject made once per pepper costs a few µs.
 */
const pepperKeys = new WeakMap<Buffer, crypto.KeyObject>();

function pepperKey(pepper: Buffer): crypto.KeyObject {
  let key = pepperKeys.get(pepper);
  if (key === undefined) {
    key = crypto.createSecretKey(pepper);
    pepperKeys.set(pepper, key);
  }
  return key;
}

export function hashPin(pepper: Buffer, userId: string, pin: string): string {
  // The user id is mixed in so that equal PINs of two users have different hashes.
  return crypto
    .createHmac('sha256', pepperKey(pepper))
    .update(`${userId}:${pin}`)
    .digest('base64url');
}

export function verifyPin(pepper: Buffer, userId: string, pin: string, stored: string): boolean {
  const candidate = Buffer.from(hashPin(pepper, userId, pin));
  const expected = Buffer.from(stored);
  return candidate.length === expected.length && crypto.timingSafeEqual(candidate, expected);
}

/**
 * PINs people pick first and attackers try first (DataGenetics' analysis of 3.4 million
 * PINs: the top 20 four-digit PINs cover over a quarter of all), plus keypad lines. With
 * three attempts before the lock, refusing these turns "likely" into "a 1-in-10,000 guess".
 */
const COMMON_PINS = new Set([
  '1004',
  '2000',
  '2001',
  '6969',
  '1122',
  '1313',
  '1010',
  '2580',
  '0852',
  '1379',
  '1397',
  '1470',
  '3570',
  '1590',
  '0007',
  '1230',
  '7410',
  '1478',
  '3690',
  '9630',
  '8520',
  '112233',
  '121212',
  '123123',
  '123321',
  '147258',
  '159753',
  '258369',
  '159357',
  '696969',
  '520520',
  '131313',
  '101010',
  '007007',
  '147852',
  '789456',
  '456789',
  '999888',
]);

/** Why a new PIN is refused (too common, one digit repeated, a run, a repeated pair), or null. */
export function pinProblem(pin: string): string | null {
  const digits = [...pin].map(Number);
  const same = digits.every((digit) => digit === digits[0]);
  const ascending = digits.every((digit, i) => i === 0 || digit === (digits[i - 1] ?? 0) + 1);
  const descending = digits.every((digit, i) => i === 0 || digit === (digits[i - 1] ?? 0) - 1);
  const pairRepeated = pin.length % 2 === 0 && pin === pin.slice(0, 2).repeat(pin.length / 2);
  if (same || ascending || descending || pairRepeated || COMMON_PINS.has(pin)) {
    return 'pin is too easy to guess (repeated digits, a run, a keypad line or a common PIN)';
  }
  return null;
}
