import { Type } from 'typebox';
import { PIN_PATTERN } from '../auth/pin.ts';
import { ROLES } from '../auth/roles.ts';

/** Shared pieces of the route schemas; the OpenAPI document is generated from these. */

const ProblemRef = Type.Ref('Problem');

/** Standard error responses, so every route documents its problem documents. */
export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((status) => [status, ProblemRef]));
}

export const Security = [{ bearerAuth: [] }];

/** Free text from customers: bounded, and no control characters (which break logs and CSV). */
export const Description = Type.String({
  minLength: 1,
  maxLength: 140,
  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
});

export const Pin = Type.String({ pattern: PIN_PATTERN, description: '4 to 6 digits' });

export const AccountNumberParam = Type.String({
  pattern: '^[0-9]{12}$',
  description: '12 digits, the last two are ISO 7064 MOD 97-10 check digits',
});

export const CurrencyCode = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' });

export const Amount = Type.String({
  description: 'Decimal string in major units, e.g. "125.50"; never a JSON number',
  examples: ['125.50'],
});

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' }),
  ),
});

export const UserSchema = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    fullName: Type.String(),
    email: Type.String(),
    roles: Type.Array(Type.Enum([...ROLES])),
    pinSet: Type.Boolean(),
    mfaEnabled: Type.Boolean(),
    locked: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { title: 'User' },
);

export const MeSchema = Type.Object(
  {
    ...UserSchema.properties,
    pinAttemptsLeft: Type.Integer({
      minimum: 0,
      description: 'wrong transaction PINs the user may still enter before being locked',
    }),
  },
  { title: 'Me' },
);

export const AccountSchema = Type.Object(
  {
    accountNumber: Type.String(),
    currency: Type.String(),
    type: Type.Union([Type.Literal('checking'), Type.Literal('savings')]),
    nickname: Type.Union([Type.String(), Type.Null()]),
    balance: Type.String(),
    availableBalance: Type.String(),
    status: Type.Union([Type.Literal('active'), Type.Literal('frozen')]),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { title: 'Account' },
);

export const TransactionSchema = Type.Object(
  {
    id: Type.String(),
    accountNumber: Type.String(),
    type: Type.Union([
      Type.Literal('deposit'),
      Type.Literal('withdrawal'),
      Type.Literal('transfer_in'),
      Type.Literal('transfer_out'),
    ]),
    direction: Type.Union([Type.Literal('credit'), Type.Literal('debit')]),
    amount: Type.String(),
    currency: Type.String(),
    balanceAfter: Type.String(),
    counterpartyAccount: Type.Union([Type.String(), Type.Null()]),
    description: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    reversalOf: Type.Optional(Type.String({ description: 'the transaction this reverses' })),
    reversedBy: Type.Optional(Type.String({ description: 'the reversal of this one' })),
  },
  { title: 'Transaction' },
);

export const PageQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});
