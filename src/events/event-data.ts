import { formatMinor } from '../money/money.ts';
import type { NewEvent } from './outbox.ts';

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
