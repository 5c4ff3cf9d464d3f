import { Type } from 'typebox';

/** The contract's approval document (issue #13). */
export const ApprovalSchema = Type.Object(
  {
    id: Type.String(),
    kind: Type.Union([Type.Literal('reversal'), Type.Literal('large_deposit')]),
    status: Type.Union([
      Type.Literal('pending'),
      Type.Literal('approved'),
      Type.Literal('rejected'),
    ]),
    requestedBy: Type.String({ description: 'user id of the requester' }),
    requestedByUsername: Type.Union([Type.String(), Type.Null()]),
    decidedBy: Type.Union([Type.String(), Type.Null()]),
    decidedByUsername: Type.Union([Type.String(), Type.Null()]),
    reason: Type.Union([Type.String(), Type.Null()]),
    decisionReason: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    decidedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    subject: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()])),
    result: Type.Union([Type.Object({ transactionId: Type.String() }), Type.Null()]),
  },
  { title: 'Approval' },
);

const Money = Type.Record(Type.String(), Type.String());

export const LimitsSchema = Type.Object(
  {
    userId: Type.String(),
    businessDay: Type.String({ description: 'YYYY-MM-DD in timeZone' }),
    timeZone: Type.String(),
    dailyOutgoing: Money,
    usedToday: Money,
    remainingToday: Money,
  },
  { title: 'Limits' },
);
