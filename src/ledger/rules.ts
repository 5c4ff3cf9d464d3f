import type { AuditEvent } from '../audit/audit.ts';
import { verifyPin } from '../auth/pin.ts';
import { hasRole, isCashStaff, isReadingStaff, type Principal } from '../auth/roles.ts';
import { userLocked } from '../events/event-data.ts';
import type { NewEvent } from '../events/outbox.ts';
import { formatMinor } from '../money/money.ts';
import type { PinState, UserGate } from './batch-repository.ts';
import { type LockedAccount, type Refusal, refuse } from './commands/command.ts';

/**
 * The rules of money movement, each written once. Every rule returns a refusal (an outcome
 * code with its message) or null; none throws. The checks before batching (against
 * immutable, cached account facts) and the engine (against the locked rows) call the same
 * functions, so the early answer and the final one cannot disagree.
 */

/** What never changes about an account once opened: enough to decide who may touch it. */
export interface AccountFacts {
  userId: string | null;
  kind: 'customer' | 'system';
  currency: string;
}

/** Auditors read everything and move nothing. */
export function mayMoveMoney(actor: Principal): Refusal | null {
  return hasRole(actor, 'customer', 'teller', 'admin')
    ? null
    : refuse('FORBIDDEN', 'this role may not move money');
}

/**
 * How the actor reaches the account a command acts on: as its owner, or through staff
 * powers (tellers and admins, for kinds that grant them). Checked before anything that
 * reveals a fact about the account (its currency, status or balance): another customer's
 * account answers exactly like a missing one. Staff may not use any money command on
 * accounts they own themselves: whoever holds the bank's powers must not deal with
 * themselves (a teller could otherwise deposit to their own account without a PIN).
 */
export function accessTo(
  actor: Principal,
  account: AccountFacts | undefined | null,
  staffPowers: boolean,
): 'owner' | 'staff' | Refusal {
  if (account === undefined || account === null || account.kind !== 'customer') {
    return refuse('NOT_FOUND', 'account not found');
  }
  if (account.userId === actor.userId) {
    return isCashStaff(actor)
      ? refuse('FORBIDDEN', 'staff may not move money on their own accounts')
      : 'owner';
  }
  return staffPowers && isCashStaff(actor) ? 'staff' : refuse('NOT_FOUND', 'account not found');
}

export function userNotLocked(gate: UserGate): Refusal | null {
  return gate.locked
    ? refuse('USER_LOCKED', 'this user is locked; contact the bank to unlock it')
    : null;
}

export function currencyMatches(account: AccountFacts, currency: string): Refusal | null {
  return account.currency === currency
    ? null
    : refuse(
        'CURRENCY_MISMATCH',
        `the account holds ${account.currency}, not ${currency}`,
        'currency',
      );
}

export function notFrozen(account: LockedAccount): Refusal | null {
  return account.status === 'frozen'
    ? refuse('ACCOUNT_FROZEN', `account ${account.accountNumber} is frozen`)
    : null;
}

/** The refusal customers get for another customer's destination, whatever the reason. */
const DESTINATION_REFUSED = 'the destination account cannot receive this transfer';

/**
 * The destination of a transfer must exist, be a customer account in the source's
 * currency, and not be frozen. The reason is precise only to those who may read the
 * destination anyway (its owner, reading staff). Anyone else gets one refusal for every
 * reason, 400 DESTINATION_REFUSED with one detail and field: distinct codes (409
 * ACCOUNT_FROZEN, 400 CURRENCY_MISMATCH) would tell a stranger that another customer's
 * account is frozen or holds another currency (issue #10, item 11).
 */
export function destinationAccepts(
  actor: Principal,
  source: LockedAccount,
  destination: LockedAccount | undefined,
): Refusal | null {
  if (destination === undefined || destination.kind !== 'customer') {
    return refuse('NOT_FOUND', 'destination account not found', 'toAccount');
  }
  const precise = destination.userId === actor.userId || isReadingStaff(actor);
  const mismatch = destination.currency !== source.currency;
  const frozen = destination.status === 'frozen';
  if (!mismatch && !frozen) return null;
  if (!precise) return refuse('DESTINATION_REFUSED', DESTINATION_REFUSED, 'toAccount');
  return mismatch
    ? refuse(
        'CURRENCY_MISMATCH',
        `the destination account holds ${destination.currency}, not ${source.currency}`,
        'toAccount',
      )
    : refuse('ACCOUNT_FROZEN', `account ${destination.accountNumber} is frozen`);
}

/**
 * Money the account may still spend: its balance less its pending holds. The one place
 * "available" is computed; call it only on a locked account of the running batch.
 */
export function availableMinor(account: LockedAccount): bigint {
  return account.balanceMinor - account.pendingHoldsMinor;
}

export function sufficientFunds(account: LockedAccount, debitMinor: bigint): Refusal | null {
  return availableMinor(account) >= debitMinor
    ? null
    : refuse('INSUFFICIENT_FUNDS', 'the account balance is lower than the amount', 'amount');
}

export interface PinCheck {
  pepper: Buffer;
  maxAttempts: number;
  now: string;
  clientIp: string | null;
  /** Where changed attempt counters and lock events are collected for the persist step. */
  pinStates: Map<string, PinState>;
  audit: AuditEvent[];
  events: NewEvent[];
}

/**
 * Checks the transaction PIN, counting wrong ones under the user's row lock, and locks the
 * user at the limit. Refusals are not stored under the idempotency key: a retry with the
 * right PIN and the same key must still be able to go through.
 */
export function pinIsRight(gate: UserGate, pin: string | null, check: PinCheck): Refusal | null {
  if (gate.pinHash === null) {
    return refuse('PIN_NOT_SET', 'set a transaction PIN first (PUT /api/v1/me/pin)');
  }
  if (verifyPin(check.pepper, gate.id, pin ?? '', gate.pinHash)) {
    if (gate.failedPinAttempts > 0) {
      gate.failedPinAttempts = 0;
      check.pinStates.set(gate.id, { userId: gate.id, failedPinAttempts: 0, lockedAt: null });
    }
    return null;
  }
  gate.failedPinAttempts += 1;
  const lock = gate.failedPinAttempts >= check.maxAttempts;
  check.pinStates.set(gate.id, {
    userId: gate.id,
    failedPinAttempts: gate.failedPinAttempts,
    lockedAt: lock ? check.now : null,
  });
  if (!lock) {
    // Said to the user (the PIN's owner, who already knows how many they got wrong), so
    // they can stop before the lock rather than discover it.
    const attemptsLeft = check.maxAttempts - gate.failedPinAttempts;
    return {
      ...refuse(
        'INVALID_PIN',
        `the transaction PIN is wrong; ${attemptsLeft} ${attemptsLeft === 1 ? 'attempt' : 'attempts'} left before the user is locked`,
        'pin',
      ),
      attemptsLeft,
    };
  }
  gate.locked = true;
  check.audit.push({
    actorUserId: gate.id,
    action: 'user.locked',
    target: `user:${gate.id}`,
    outcome: 'success',
    ip: check.clientIp,
    details: { reason: 'too many wrong transaction PINs', attempts: gate.failedPinAttempts },
  });
  check.events.push(userLocked(gate.id, 'too many wrong transaction PINs', check.now));
  return refuse('USER_LOCKED', 'too many wrong PINs; the user is locked until the bank unlocks it');
}

/**
 * A customer's own outgoing command must fit in what is left of their daily limit for the
 * currency (`gate.dailyOutgoing`, read under the user's lock and kept running by the engine).
 */
export function withinDailyLimit(
  gate: UserGate,
  currency: string,
  amountMinor: bigint,
): Refusal | null {
  const today = gate.dailyOutgoing?.get(currency);
  if (today === undefined || today.limitMinor === null) return null;
  return today.usedMinor + amountMinor <= today.limitMinor
    ? null
    : refuse(
        'LIMIT_EXCEEDED',
        `this would exceed your daily outgoing limit of ${formatMinor(today.limitMinor, currency)} ${currency}`,
        'amount',
      );
}
