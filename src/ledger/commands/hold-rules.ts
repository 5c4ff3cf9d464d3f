import type { LockedAccount, LockedHold, Refusal } from './command.ts';
import { refuse } from './command.ts';

/**
 * Rules shared by the hold kinds (place, capture, void). Holds are the bank's tool: tellers
 * and admins use them on customers' accounts; a customer reaches a hold only through a
 * payment, never by this API.
 */
export function staffOnly(
  access: 'owner' | 'staff',
  forPayment?: { paymentId: string },
): Refusal | null {
  // A payment's own hold is settled or released on its customer's behalf (the PIN was
  // checked when the payment was made).
  return access === 'staff' || (access === 'owner' && forPayment !== undefined)
    ? null
    : refuse('FORBIDDEN', 'holds are placed, captured and voided by tellers and admins');
}

/**
 * The hold a command names, on the command's account, still pending and unexpired. An
 * expired hold answers HOLD_EXPIRED whether or not the sweeper has recorded it yet.
 */
export function pendingHold(
  hold: LockedHold | undefined,
  account: LockedAccount,
  now: string,
): LockedHold | Refusal {
  if (hold === undefined || hold.accountId !== account.id) {
    return refuse('NOT_FOUND', 'hold not found');
  }
  if (hold.status === 'expired' || (hold.status === 'pending' && hold.expiresAt <= now)) {
    return refuse('HOLD_EXPIRED', `hold ${hold.id} expired at ${hold.expiresAt}`);
  }
  if (hold.status !== 'pending') {
    return refuse('HOLD_NOT_PENDING', `hold ${hold.id} is ${hold.status}, not pending`);
  }
  return hold;
}
