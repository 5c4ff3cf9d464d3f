import { holdChanged } from '../../events/event-data.ts';
import { insertHold, toHoldView } from '../../holds/holds-repository.ts';
import { LedgerInvariantError } from '../persist.ts';
import { currencyMatches, notFrozen, sufficientFunds } from '../rules.ts';
import type { CommandKind, HoldPlaceCommand, LockedHold } from './command.ts';
import { staffOnly } from './hold-rules.ts';

/**
 * Reserves money on an account (a card authorisation, a cheque): no balance changes, the
 * available balance drops by the amount until the hold is captured, voided or expires.
 * Checked against the available balance under the account's lock, like a withdrawal.
 */
export const holdPlace: CommandKind<HoldPlaceCommand> = {
  kind: 'hold_place',
  staffAction: 'money.staff_hold_placed',
  needsPin: false,
  outgoing: false,
  locks: (command) => [command.accountNumber],
  plan({ batch, account, access }, command) {
    const refusal =
      staffOnly(access) ??
      currencyMatches(account, command.currency) ??
      notFrozen(account) ??
      sufficientFunds(account, command.amountMinor);
    if (refusal !== null) return refusal;
    const hold: LockedHold = {
      id: command.holdId,
      accountId: account.id,
      accountNumber: account.accountNumber,
      amountMinor: command.amountMinor,
      currency: account.currency,
      status: 'pending',
      capturedMinor: 0n,
      description: command.description,
      expiresAt: command.expiresAt,
      createdAt: batch.now,
      updatedAt: batch.now,
    };
    // Later commands of the batch see the reservation.
    account.pendingHoldsMinor += hold.amountMinor;
    batch.holds.set(hold.id, hold);
    batch.extraWrites.push(async ({ trx }) => {
      const rows = await insertHold(trx, { ...hold, createdBy: command.actor.userId });
      if (rows !== 1n) throw new LedgerInvariantError(`hold ${hold.id}: inserted ${rows} rows`);
      batch.events.push(
        holdChanged('hold.created', toHoldView(hold, batch.now), {
          actorUserId: command.actor.userId,
        }),
      );
    });
    return { postings: [], hold: toHoldView(hold, batch.now) };
  },
};
