import { Type } from 'typebox';
import type { CorebankError, ErrorCode } from '../errors.ts';

/** The one table from error code to HTTP status. */
export const STATUS_OF: Readonly<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  SAME_ACCOUNT: 400,
  CURRENCY_MISMATCH: 400,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  FORBIDDEN: 403,
  INVALID_PIN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  USERNAME_TAKEN: 409,
  EMAIL_TAKEN: 409,
  PIN_NOT_SET: 409,
  ACCOUNT_FROZEN: 409,
  ACCOUNT_LIMIT_REACHED: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  IDEMPOTENCY_KEY_IN_PROGRESS: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INSUFFICIENT_FUNDS: 422,
  USER_LOCKED: 423,
  RATE_LIMITED: 429,
  RESET_TOKEN_INVALID: 400,
  MFA_REQUIRED: 401,
  INVALID_OTP: 401,
  MFA_ALREADY_ENABLED: 409,
  MFA_NOT_ENABLED: 409,
  INTERNAL: 500,
  SERVICE_UNAVAILABLE: 503,
  NOT_ACCEPTABLE: 406,
  STANDING_ORDER_LIMIT_REACHED: 409,
  HOLD_NOT_PENDING: 409,
  HOLD_EXPIRED: 409,
  LIMIT_EXCEEDED: 422,
  BULK_REFUSED: 422,
  SAME_PERSON: 403,
  MFA_ENROLMENT_REQUIRED: 403,
  DESTINATION_REFUSED: 400,
};

const TITLE_OF: Readonly<Record<ErrorCode, string>> = {
  VALIDATION_FAILED: 'The request is not valid',
  SAME_ACCOUNT: 'Source and destination are the same account',
  CURRENCY_MISMATCH: 'Currencies do not match',
  UNAUTHENTICATED: 'Authentication is required',
  INVALID_CREDENTIALS: 'Invalid credentials',
  FORBIDDEN: 'Not allowed',
  INVALID_PIN: 'Wrong transaction PIN',
  NOT_FOUND: 'Not found',
  CONFLICT: 'Conflict',
  USERNAME_TAKEN: 'Username is taken',
  EMAIL_TAKEN: 'Email is already registered',
  PIN_NOT_SET: 'No transaction PIN is set',
  ACCOUNT_FROZEN: 'Account is frozen',
  ACCOUNT_LIMIT_REACHED: 'Too many accounts',
  IDEMPOTENCY_KEY_REUSED: 'Idempotency key reused with a different request',
  IDEMPOTENCY_KEY_IN_PROGRESS: 'A request with this idempotency key is in progress',
  PAYLOAD_TOO_LARGE: 'Request body is too large',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  INSUFFICIENT_FUNDS: 'Insufficient funds',
  USER_LOCKED: 'User is locked',
  RATE_LIMITED: 'Too many requests',
  RESET_TOKEN_INVALID: 'Password reset token is invalid or expired',
  MFA_REQUIRED: 'A one-time code is required',
  INVALID_OTP: 'Wrong one-time code',
  MFA_ALREADY_ENABLED: 'Two-factor authentication is already enabled',
  MFA_NOT_ENABLED: 'Two-factor authentication is not enabled',
  INTERNAL: 'Internal error',
  SERVICE_UNAVAILABLE: 'Service unavailable',
  NOT_ACCEPTABLE: 'No acceptable representation',
  STANDING_ORDER_LIMIT_REACHED: 'Too many standing orders',
  HOLD_NOT_PENDING: 'The hold is no longer pending',
  HOLD_EXPIRED: 'The hold has expired',
  LIMIT_EXCEEDED: 'Daily limit exceeded',
  BULK_REFUSED: 'A transfer of an atomic bulk request was refused; nothing was posted',
  SAME_PERSON: 'A second person must decide',
  MFA_ENROLMENT_REQUIRED: 'Staff must enrol two-factor authentication first',
  DESTINATION_REFUSED: 'The destination account cannot receive this',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  field?: string;
  instance?: string;
  attemptsLeft?: number;
}

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    field: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    attemptsLeft: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'INVALID_PIN only: wrong PINs left before the user is locked',
      }),
    ),
  },
  { $id: 'Problem', description: 'RFC 9457 problem document' },
);

export function problemOf(error: CorebankError, requestId?: string): Problem {
  const status = STATUS_OF[error.code];
  return {
    type: `https://corebank.dev/problems/${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLE_OF[error.code],
    status,
    // A 5xx never carries internals, whatever message the error had.
    detail: status >= 500 ? TITLE_OF[error.code] : error.message,
    code: error.code,
    ...(error.field === undefined ? {} : { field: error.field }),
    ...(requestId === undefined ? {} : { instance: `urn:corebank:request:${requestId}` }),
    ...(error.attemptsLeft === undefined ? {} : { attemptsLeft: error.attemptsLeft }),
  };
}
