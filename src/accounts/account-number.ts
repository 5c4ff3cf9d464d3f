import { randomInt } from 'node:crypto';

/**
 * Customer account numbers: 12 ASCII digits, a 10-digit random body followed by two ISO 7064
 * MOD 97-10 check digits (the scheme IBAN uses).
 *
 * Why MOD 97-10: 97 is a prime that divides neither a digit difference (1 to 9) nor any power of
 * ten, so changing one digit, or swapping two adjacent different digits, always changes the
 * remainder. Every single-digit typo and every adjacent transposition is therefore caught before
 * a lookup is made, so a mistyped payee number is reported as a typo instead of silently paying
 * a different customer. It is also a well-known, documented standard that other systems and
 * staff can check by hand.
 *
 * Why random rather than sequential: sequential numbers reveal how many customers the bank has
 * and let anyone who knows one number guess its neighbours, which helps account enumeration and
 * social engineering. The body comes from `crypto.randomInt`, a CSPRNG, so numbers are not
 * predictable from one another. Uniqueness is still enforced by the database, which is where a
 * (rare) collision must be retried.
 */

const BODY_MIN = 1_000_000_000;
/** Exclusive upper bound: the body is 10 digits and never starts with 0. */
const BODY_MAX_EXCLUSIVE = 10_000_000_000;

const ACCOUNT_NUMBER_PATTERN = /^[0-9]{12}$/;

/** Computes the two MOD 97-10 check digits for a body of ASCII digits. */
function checkDigits(body: string): string {
  const check = 98n - ((BigInt(body) * 100n) % 97n);
  return check.toString().padStart(2, '0');
}

export function generateAccountNumber(): string {
  // The first digit is 1 to 9 so the number never starts with 0; a leading zero is easily lost
  // when a number passes through a spreadsheet or a numeric field.
  const body = randomInt(BODY_MIN, BODY_MAX_EXCLUSIVE).toString();
  const accountNumber = `${body}${checkDigits(body)}`;
  // Assert the invariant where the number is made, so a bug here can never issue a number that
  // our own validation would later refuse.
  if (!isValidAccountNumber(accountNumber)) {
    throw new Error(`generated an invalid account number: ${accountNumber}`);
  }
  return accountNumber;
}

/**
 * Returns a human-readable reason why `value` is not a valid account number, or null when it is
 * valid. The messages are safe to show to API clients: they describe only the input.
 */
export function accountNumberProblem(value: string): string | null {
  // `[0-9]` rather than `\p{Nd}` keeps out non-ASCII digits, which BigInt would reject anyway.
  if (!ACCOUNT_NUMBER_PATTERN.test(value)) {
    return 'account number must be 12 digits';
  }
  if (BigInt(value) % 97n !== 1n) {
    return 'account number check digits do not match; check for a typo';
  }
  return null;
}

export function isValidAccountNumber(value: string): boolean {
  return accountNumberProblem(value) === null;
}
