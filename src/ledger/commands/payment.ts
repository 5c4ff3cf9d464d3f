import { holdChanged } from '../../events/event-data.ts';
import { insertHold, toHoldView } from '../../holds/holds-repository.ts';
import { insertPayment } from '../../payments/payments-repository.ts';
import { LedgerInvariantError } from '../persist.ts';
import { currencyMatches, notFrozen, sufficientFunds } from '../rules.ts';
import type { CommandKind, LockedHold, PaymentCommand } from './command.ts';
import { paymentEventOf } from './payment-event.ts';

/**
 * A customer pays someone at another bank: confirmed with the PIN, checked against the
 * available balance like a transfer, the amount is held at once and the payment recorded
 * `pending`, in the same batch. Nothing is posted yet: the hold is captured to the clearing
 * account when the network settles, or voided when it rejects or the bank gives up.
 */
export const payment: CommandKind<PaymentCommand> = {
  kind: 'payment',
  staffAction: null,
  needsPin: true,
  outgoing: true,
  locks: (command) => [command.accountNumber],
  plan({ batch, account }, command) {
    const refusal =
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
      description: `payment ${command.paymentId}`,
      expiresAt: command.expiresAt,
      createdAt: batch.now,
      updatedAt: batch.now,
    };
    account.pendingHoldsMinor += hold.amountMinor;
    batch.holds.set(hold.id, hold);
    batch.extraWrites.push(async ({ trx, now }) => {
      const held = await insertHold(trx, { ...hold, createdBy: command.actor.userId });
      if (held !== 1n) throw new LedgerInvariantError(`hold ${hold.id}: inserted ${held} rows`);
      const rows = await insertPayment(trx, {
        id: command.paymentId,
        direction: 'outbound',
        accountId: account.id,
        userId: command.actor.userId,
        amountMinor: command.amountMinor,
        currency: account.currency,
        counterparty: command.beneficiary,
        reference: command.reference,
        status: 'pending',
        holdId: hold.id,
        networkPaymentId: null,
        transactionId: null,
        now,
      });
      if (rows !== 1n) {
        throw new LedgerInvariantError(`payment ${command.paymentId}: inserted ${rows} rows`);
      }
      batch.events.push(
        holdChanged('hold.created', toHoldView(hold, batch.now), {
          actorUserId: command.actor.userId,
          paymentId: command.paymentId,
        }),
        await paymentEventOf(trx, command.paymentId),
      );
    });
    return { postings: [], hold: toHoldView(hold, batch.now) };
  },
};
