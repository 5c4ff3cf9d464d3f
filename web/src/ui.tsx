import { type ReactNode, type RefObject, useEffect, useId } from 'react';
import type { Problem } from './api/client';
import { decimalsOf, formatMoney, fromMinor, toMinor } from './money';

/** Plain-language messages for the codes a customer meets; others use the server's detail. */
const FRIENDLY: Record<string, string> = {
  INVALID_PIN:
    'That PIN is wrong. Nothing was moved. After 3 wrong PINs in a row your access is locked.',
  USER_LOCKED:
    'Your access is locked after too many wrong PINs. Nothing was moved. Contact the bank to unlock it.',
  INSUFFICIENT_FUNDS: 'There is not enough available money in this account. Nothing was moved.',
  ACCOUNT_FROZEN: 'This account is frozen. Nothing was moved. Contact the bank.',
  SAME_ACCOUNT: 'You cannot transfer to the same account.',
  INVALID_CREDENTIALS: 'The username or password is wrong.',
  INVALID_OTP: 'That code is wrong or was already used. Enter the current code from your app.',
  CURRENCY_MISMATCH: 'The two accounts hold different currencies. Nothing was moved.',
  UNAUTHENTICATED: 'Your session has ended. Sign in again.',
  PIN_NOT_SET: 'Set a transaction PIN on the Security page first.',
  RATE_LIMITED: 'Too many attempts. Wait a minute and try again.',
  FORBIDDEN: 'You do not have access to this.',
  MFA_ENROLMENT_REQUIRED:
    'Staff must turn on two-step verification first: set it up on the Security page.',
  DESTINATION_REFUSED: 'That account cannot receive this transfer. Nothing was moved.',
};

/** Plain sentences for the fields whose schema messages read like code. */
const FIELD_RULES: Record<string, string> = {
  username: 'A username has 3 to 32 letters, digits, dots, dashes or underscores.',
  pin: 'A PIN has 4 to 6 digits.',
  email: 'Enter an email address like name@example.com.',
  password: 'Enter your password.',
  newPassword: 'A password has at least 12 characters.',
  fullName: 'Enter your full name.',
  amount: 'Enter an amount like 25.00.',
  toAccount: 'Enter the 12-digit account number.',
  code: 'Enter the 6-digit code from your authenticator app.',
};

/** "2 attempts left" (before the lock), for the PIN field and its errors. */
export function attemptsLeftText(left: number): string {
  return `${plural(left, 'attempt')} left before your access is locked`;
}

/** The PIN field's hint: attempts left, or nothing when unknown or already locked. */
export function pinAttemptsHint(left: number | null): string | undefined {
  return left === null || left <= 0 ? undefined : `${attemptsLeftText(left)}.`;
}

export function messageOf(problem: Problem): string {
  if (problem.code === 'INVALID_PIN' && problem.attemptsLeft !== undefined) {
    return `That PIN is wrong. Nothing was moved. ${attemptsLeftText(problem.attemptsLeft)}.`;
  }
  // On a security form the field says which password: the one just typed.
  if (problem.code === 'INVALID_CREDENTIALS' && problem.field !== undefined) {
    return 'That password is wrong. Nothing was changed.';
  }
  const friendly = FRIENDLY[problem.code];
  if (friendly !== undefined) return friendly;
  const field = fieldOf(problem);
  // "username must match pattern …" is for programmers; say the rule instead.
  if (
    problem.code === 'VALIDATION_FAILED' &&
    field !== undefined &&
    /pattern|must|format/.test(problem.detail)
  ) {
    return FIELD_RULES[field] ?? problem.detail;
  }
  return problem.detail;
}

/** The message for one field of a form: the browser's own check first, then the server's. */
export function fieldMessage(
  name: string,
  own: string | null | undefined,
  problem: Problem | null,
): string | undefined {
  if (own) return own;
  if (problem !== null && fieldOf(problem) === name) return messageOf(problem);
  return undefined;
}

/**
 * After a submit that found mistakes, focus moves to the first flagged field (not to
 * <body>), so keyboard and screen-reader users land on what to fix. `attempt` changes on
 * every submit.
 */
export function useFocusFirstError(form: RefObject<HTMLElement | null>, attempt: number): void {
  useEffect(() => {
    if (attempt === 0) return;
    const first = form.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
    first?.focus();
  }, [form, attempt]);
}

/** "1 transaction", "2 transactions". */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** The request field a problem is about, without its "body." prefix. */
export function fieldOf(problem: Problem | null): string | undefined {
  return problem?.field?.replace(/^(body|query|params)\./, '');
}

export function ErrorMessage({ problem }: { problem: Problem | null }) {
  if (problem === null) return null;
  return (
    <div className="alert alert-error" role="alert" tabIndex={-1}>
      <strong>{problem.title}.</strong> {messageOf(problem)}
    </div>
  );
}

export function Success({ children }: { children: ReactNode }) {
  return (
    <div className="alert alert-success" role="status">
      {children}
    </div>
  );
}

export function Field(props: {
  label: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
  type?: string;
  hint?: string;
  error?: string | null | undefined;
  autoComplete?: string;
  inputMode?: 'numeric' | 'decimal' | 'text' | 'email';
  required?: boolean;
  maxLength?: number;
  placeholder?: string;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [props.hint ? hintId : '', props.error ? errorId : '']
    .filter(Boolean)
    .join(' ');
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.hint ? (
        <p className="hint" id={hintId}>
          {props.hint}
        </p>
      ) : null}
      <input
        id={id}
        name={props.name}
        type={props.type ?? 'text'}
        value={props.value}
        onChange={(event) => props.onChange(event.target.value)}
        autoComplete={props.autoComplete}
        inputMode={props.inputMode}
        required={props.required}
        maxLength={props.maxLength}
        placeholder={props.placeholder}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={describedBy || undefined}
      />
      {props.error ? (
        <p className="field-error" id={errorId} role="alert">
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

export function Select(props: {
  label: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
  options: Array<{ value: string; label: string }>;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <select
        id={id}
        name={props.name}
        value={props.value}
        onChange={(event) => props.onChange(event.target.value)}
      >
        {props.options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** An amount with all its currency's decimals ("10" in USD shows as $10.00). */
export function Money({ amount, currency }: { amount: string; currency: string }) {
  const decimals = decimalsOf(currency);
  const minor = toMinor(amount, decimals);
  const full = minor === null ? amount : fromMinor(minor, decimals);
  return <span className="money">{formatMoney(full, currency)}</span>;
}

export function formatDate(iso: string): string {
  return new Date(iso).toLocaleString('en-US', {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
}
