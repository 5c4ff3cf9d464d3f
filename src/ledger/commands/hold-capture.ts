import { holdChanged } from '../../events/event-data.ts';
import { closeHold, settlementAccountNumber, toHoldView } from '../../holds/holds-repository.ts';
import { formatMinor } from '../../money/money.ts';
import { clearingAccountNumber, finishPayment } from '../../payments/payments-repository.ts';
import { LedgerInvariantError } from '../persist.ts';
import { destinationAccepts, sufficientFunds } from '../rules.ts';
import { type CommandKind, type HoldCaptureCommand, isRefusal, refuse } from './command.ts';
import { pendingHold, staffOnly } from './hold-rules.ts';
import { paymentEventOf } from './payment-event.ts';

/** Where a capture goes: the named account, the clearing account (payments), or settlement. */
function destinationOf(command: HoldCaptureCommand): string {
  if (command.forPayment !== undefined) return clearingAccountNumber(command.currency);
  return command.toAccountNumber ?? settlementAccountNumber(command.currency);
}

/**
 * Posts a pending hold: at most the held amount (default all of it) moves from the hold's
 * account to `toAccount`, or to the bank's settlement account of the currency; any rest is
 * released. The entry is a transfer (the customer sees `transfer_out`).
 */
export const holdCapture: CommandKind<HoldCaptureCommand> = {
  kind: 'hold_capture',
  staffAction: 'money.staff_hold_captured',
  needsPin: false,
  outgoing: false,
  entryKind: () => 'transfer',
  locks: (command) => [command.accountNumber, destinationOf(command)],
  plan({ batch, account, access }, command) {
    const denied = staffOnly(access, command.forPayment);
    if (denied !== null) return denied;
    const hold = pendingHold(batch.holds.get(command.holdId), account, batch.now);
    if (isRefusal(hold)) return hold;
    const amountMinor = command.requestedMinor ?? hold.amountMinor;
    if (amountMinor > hold.amountMinor) {
      return refuse(
        'VALIDATION_FAILED',
        `amount is more than the hold (${formatMinor(hold.amountMinor, hold.currency)})`,
        'amount',
      );
    }
    let destination = batch.accounts.get(destinationOf(command));
    if (command.toAccountNumber !== null) {
      const refusal = destinationAccepts(command.actor, account, destination);
      if (refusal !== null) return refusal;
    } else if (destination?.kind !== 'system' || destination.currency !== hold.currency) {
      destination = undefined;
    }
    if (destination === undefined) throw new Error('settlement account missing');
    // The hold's reservation is released first; the capture then spends from the balance.
    account.pendingHoldsMinor -= hold.amountMinor;
    const short = sufficientFunds(account, amountMinor);
    if (short !== null) {
      account.pendingHoldsMinor += hold.amountMinor;
      return short;
    }
    hold.status = 'captured';
    hold.capturedMinor = amountMinor;
    hold.updatedAt = batch.now;
    // The engine writes this command's entry next, at this index.
    const entryIndex = batch.entries.length;
    batch.extraWrites.push(async ({ trx, now, entries }) => {
      const transactionId = entries[entryIndex]?.outcome.transaction.id ?? null;
      const rows = await closeHold(trx, {
        id: hold.id,
        status: 'captured',
        capturedMinor: amountMinor,
        captureTransactionId: transactionId,
        now,
      });
      if (rows !== 1n) throw new LedgerInvariantError(`hold ${hold.id}: captured ${rows} rows`);
      batch.events.push(
        holdChanged('hold.captured', toHoldView(hold, batch.now), {
          actorUserId: command.actor.userId,
          transactionId,
          ...(command.forPayment === undefined ? {} : { paymentId: command.forPayment.paymentId }),
        }),
      );
      const payment = command.forPayment;
      if (payment !== undefined) {
        const changed = await finishPayment(trx, {
          id: payment.paymentId,
          status: 'settled',
          reason: null,
          transactionId,
          now,
        });
        if (changed !== 1n) {
          throw new LedgerInvariantError(`payment ${payment.paymentId}: changed ${changed} rows`);
        }
        batch.events.push(await paymentEventOf(trx, payment.paymentId));
      }
    });
    return {
      postings: [
        { account, direction: 'debit', amountMinor, counterparty: destination },
        { account: destination, direction: 'credit', amountMinor, counterparty: account },
      ],
      hold: toHoldView(hold, batch.now),
    };
  },
};
