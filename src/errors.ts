/**
 * The one registry of stable error codes. Services and repositories throw `CorebankError`
 * with one of these codes; only `src/http/` maps them to HTTP statuses, so the same rule
 * produces the same answer whichever route or command hits it.
 */
export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'INVALID_CREDENTIALS',
  'USER_LOCKED',
  'PIN_NOT_SET',
  'INVALID_PIN',
  'INSUFFICIENT_FUNDS',
  'ACCOUNT_FROZEN',
  'SAME_ACCOUNT',
  'ACCOUNT_LIMIT_REACHED',
  'CURRENCY_MISMATCH',
  'USERNAME_TAKEN',
  'EMAIL_TAKEN',
  'IDEMPOTENCY_KEY_REUSED',
  'IDEMPOTENCY_KEY_IN_PROGRESS',
  'RATE_LIMITED',
  'RESET_TOKEN_INVALID',
  'MFA_REQUIRED',
  'INVALID_OTP',
  'MFA_ALREADY_ENABLED',
  'MFA_NOT_ENABLED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'SERVICE_UNAVAILABLE',
  'INTERNAL',
  'NOT_ACCEPTABLE',
  'STANDING_ORDER_LIMIT_REACHED',
  'HOLD_NOT_PENDING',
  'HOLD_EXPIRED',
  'LIMIT_EXCEEDED',
  'BULK_REFUSED',
  'SAME_PERSON',
  'MFA_ENROLMENT_REQUIRED',
  'DESTINATION_REFUSED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class CorebankError extends Error {
  readonly code: ErrorCode;
  /** The request field at fault, as a JSON pointer-ish dotted path (`body.amount`). */
  readonly field: string | undefined;
  /** For throttling answers: when the client may try again (sent as `Retry-After`). */
  readonly retryAfterSeconds: number | undefined;
  /** For a wrong PIN: how many more wrong ones the user may enter before being locked. */
  readonly attemptsLeft: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    field?: string,
    options?: { retryAfterSeconds?: number; attemptsLeft?: number },
  ) {
    super(message);
    this.name = 'CorebankError';
    this.code = code;
    this.field = field;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.attemptsLeft = options?.attemptsLeft;
  }
}

export function isCorebankError(value: unknown): value is CorebankError {
  return value instanceof CorebankError;
}
