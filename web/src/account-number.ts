/**
 * The account-number check the server makes (src/accounts/account-number.ts): 12 digits
 * whose value mod 97 is 1 (ISO 7064 MOD 97-10). Checked as the customer types, so a typo is
 * caught before anything is sent.
 */
export function accountNumberProblem(value: string): string | null {
  const digits = value.replace(/\s/g, '');
  if (digits === '') return 'Enter the account number.';
  if (!/^[0-9]*$/.test(digits)) return 'An account number has digits only.';
  if (digits.length < 12) return `An account number has 12 digits (${digits.length} so far).`;
  if (digits.length > 12) return 'An account number has 12 digits.';
  if (BigInt(digits) % 97n !== 1n) {
    return 'This account number is not valid: its check digits do not match. Check for a typo.';
  }
  return null;
}

/** "123456789012" → "1234 5678 9012", easier to read aloud and compare. */
export function groupAccountNumber(value: string): string {
  return value.replace(/(\d{4})(?=\d)/g, '$1 ');
}
