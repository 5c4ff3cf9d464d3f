/**
 * The browser's checks, in plain sentences, mirroring the server's schemas (which stay the
 * authority): every wrong field is reported at once, before anything is sent.
 */
export type Errors = Record<string, string>;

export function usernameProblem(value: string): string | null {
  if (value.trim() === '') return 'Enter a username.';
  if (!/^[A-Za-z0-9._-]{3,32}$/.test(value)) {
    return 'A username has 3 to 32 letters, digits, dots, dashes or underscores (no spaces).';
  }
  return null;
}

export function emailProblem(value: string): string | null {
  if (value.trim() === '') return 'Enter your email address.';
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value.trim())) {
    return 'Enter an email address like name@example.com.';
  }
  return null;
}

export function newPasswordProblem(value: string): string | null {
  if (value === '') return 'Choose a password.';
  if ([...value].length < 12)
    return `A password needs at least 12 characters (${[...value].length} so far).`;
  if ([...value].length > 128) return 'A password has at most 128 characters.';
  return null;
}

export function requiredProblem(value: string, what: string): string | null {
  return value.trim() === '' ? `Enter ${what}.` : null;
}

export function pinProblem(value: string): string | null {
  if (value === '') return 'Enter a PIN of 4 to 6 digits.';
  if (!/^[0-9]{4,6}$/.test(value)) return 'A PIN has 4 to 6 digits and nothing else.';
  return null;
}

export function totpProblem(value: string): string | null {
  if (value.trim() === '') return 'Enter the 6-digit code from your authenticator app.';
  if (!/^[0-9]{6}$/.test(value.trim())) return 'The code has 6 digits.';
  return null;
}

/** The name of whoever is paid at another bank (a payment's or a standing order's). */
export function beneficiaryNameProblem(value: string): string | null {
  if (value.trim() === '') return 'Enter the name of the person or company you pay.';
  if (value.trim().length > 140) return 'A name has at most 140 characters.';
  return null;
}

const BANK_CODE = /^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}$/;
const FOREIGN_ACCOUNT = /^[A-Za-z0-9]{4,34}$/;

/** Another bank's code (BIC), as the payment network's schema takes it. */
export function bankCodeProblem(value: string): string | null {
  const code = value.trim().toUpperCase();
  if (code === '') return 'Enter the bank code of the recipient’s bank.';
  if (!BANK_CODE.test(code)) {
    return 'A bank code has 8 characters: 6 letters, then 2 letters or digits (like SBOXUS33).';
  }
  return null;
}

/** An account number at another bank, spaces ignored. */
export function foreignAccountProblem(value: string): string | null {
  const account = value.replace(/\s/g, '');
  if (account === '') return 'Enter the recipient’s account number.';
  if (!FOREIGN_ACCOUNT.test(account)) {
    return 'An account number at another bank has 4 to 34 letters or digits.';
  }
  return null;
}

/** Only the entries that carry a message. */
export function errorsOf(checks: Record<string, string | null>): Errors {
  const errors: Errors = {};
  for (const [name, message] of Object.entries(checks)) if (message) errors[name] = message;
  return errors;
}
