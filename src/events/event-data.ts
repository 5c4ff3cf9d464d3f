import type { HoldView } from '../ledger/commands/command.ts';
import { formatMinor } from '../money/money.ts';
import type { PaymentView } from '../payments/payments-repository.ts';
import type { EventType, NewEvent } from './outbox.ts';

/**
 * The `data` of each event type that exists today, built in one place so every writer of a
 * type sends the same shape. Amounts are decimal strings, as in the HTTP API.
 */

export interface PostedLeg {
  postingId: bigint;
  accountNumber: string;
  direction: 'debit' | 'credit';
  balanceAfterMinor: bigint;
}

export function transactionPosted(input: {
  entryId: bigint;
  kind: string;
  amountMinor: bigint;
  currency: string;
  description: string | null;
  actorUserId: string;
  createdAt: string;
  legs: readonly PostedLeg[];
}): NewEvent {
  const [source, counter] = input.legs;
  return {
    type: 'transaction.posted',
    time: input.createdAt,
    data: {
      // The id the HTTP API shows for this transaction (its source posting).
      transactionId: source === undefined ? null : source.postingId.toString(),
      entryId: input.entryId.toString(),
      kind: input.kind,
      amount: formatMinor(input.amountMinor, input.currency),
      currency: input.currency,
      description: input.description,
      accountNumber: source?.accountNumber ?? null,
      counterpartyAccount: counter?.accountNumber ?? null,
      actorUserId: input.actorUserId,
      postings: input.legs.map((leg) => ({
        postingId: leg.postingId.toString(),
        accountNumber: leg.accountNumber,
        direction: leg.direction,
        amount: formatMinor(input.amountMinor, input.currency),
        balanceAfter: formatMinor(leg.balanceAfterMinor, input.currency),
      })),
      createdAt: input.createdAt,
    },
  };
}

export function userLocked(userId: string, reason: string, at: string): NewEvent {
  return { type: 'user.locked', time: at, data: { userId, reason, lockedAt: at } };
}

export function userUnlocked(userId: string, actorUserId: string, at: string): NewEvent {
  return { type: 'user.unlocked', time: at, data: { userId, unlockedBy: actorUserId } };
}

export function accountOpened(account: {
  accountNumber: string;
  userId: string | null;
  type: string;
  currency: string;
  createdAt: string;
}): NewEvent {
  return {
    type: 'account.opened',
    time: account.createdAt,
    data: {
      accountNumber: account.accountNumber,
      userId: account.userId,
      type: account.type,
      currency: account.currency,
    },
  };
}

export function accountStatusChanged(
  accountNumber: string,
  status: 'active' | 'frozen',
  actorUserId: string,
  reason: string | null,
  at: string,
): NewEvent {
  return {
    type: status === 'frozen' ? 'account.frozen' : 'account.unfrozen',
    time: at,
    data: { accountNumber, status, actorUserId, reason },
  };
}

/** The hold as it is after the change, with the capture's transaction when there is one. */
export function holdChanged(
  type: 'hold.created' | 'hold.captured' | 'hold.voided' | 'hold.expired',
  hold: HoldView,
  change: { actorUserId: string | null; transactionId?: string | null; paymentId?: string },
): NewEvent {
  return {
    type,
    time: hold.updatedAt,
    data: {
      holdId: hold.id,
      accountNumber: hold.accountNumber,
      amount: hold.amount,
      currency: hold.currency,
      status: hold.status,
      capturedAmount: hold.capturedAmount,
      description: hold.description,
      expiresAt: hold.expiresAt,
      transactionId: change.transactionId ?? null,
      paymentId: change.paymentId ?? null,
      actorUserId: change.actorUserId,
    },
  };
}

/** The event type of each payment status: the payment's step other systems hear about. */
const PAYMENT_EVENT = {
  pending: 'payment.created',
  submitted: 'payment.submitted',
  settled: 'payment.settled',
  rejected: 'payment.rejected',
  failed: 'payment.failed',
  credited: 'payment.received',
  returned: 'payment.returned',
} as const satisfies Record<PaymentView['status'], EventType>;

/** The payment as it is after the change (its new status names the event). */
export function paymentChanged(payment: PaymentView): NewEvent {
  const last = payment.statusHistory.at(-1);
  return {
    type: PAYMENT_EVENT[payment.status],
    time: payment.updatedAt,
    data: {
      paymentId: payment.id,
      direction: payment.direction,
      accountNumber: payment.accountNumber,
      amount: payment.amount,
      currency: payment.currency,
      counterparty: payment.counterparty,
      reference: payment.reference,
      status: payment.status,
      reason: last?.reason ?? null,
      holdId: payment.holdId,
      transactionId: payment.transactionId,
    },
  };
}

/** An approval asked for (`approval.requested`) or decided (`approval.decided`). */
export function approvalChanged(approval: {
  id: string;
  kind: string;
  status: 'pending' | 'approved' | 'rejected';
  requestedBy: string;
  decidedBy: string | null;
  reason: string | null;
  decisionReason: string | null;
  createdAt: string;
  decidedAt: string | null;
  subject: Record<string, string | null>;
  result: { transactionId: string } | null;
}): NewEvent {
  return {
    type: approval.status === 'pending' ? 'approval.requested' : 'approval.decided',
    time: approval.decidedAt ?? approval.createdAt,
    data: {
      approvalId: approval.id,
      kind: approval.kind,
      status: approval.status,
      requestedBy: approval.requestedBy,
      decidedBy: approval.decidedBy,
      reason: approval.reason,
      decisionReason: approval.decisionReason,
      subject: approval.subject,
      transactionId: approval.result?.transactionId ?? null,
    },
  };
}
