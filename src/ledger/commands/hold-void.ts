import { holdChanged } from '../../events/event-data.ts';
import { closeHold, toHoldView } from '../../holds/holds-repository.ts';
import { finishPayment } from '../../payments/payments-repository.ts';
import { LedgerInvariantError } from '../persist.ts';
import type { CommandKind, HoldVoidCommand } from './command.ts';
import { isRefusal } from './command.ts';
import { pendingHold, staffOnly } from './hold-rules.ts';
import { paymentEventOf } from './payment-event.ts';

/** Releases a pending hold: the money is available again, nothing is posted. */
export const holdVoid: CommandKind<HoldVoidCommand> = {
  kind: 'hold_void',
  staffAction: 'money.staff_hold_voided',
  needsPin: false,
  outgoing: false,
  locks: (command) => [command.accountNumber],
  plan({ batch, account, access }, command) {
    const denied = staffOnly(access, command.forPayment);
    if (denied !== null) return denied;
    const hold = pendingHold(batch.holds.get(command.holdId), account, batch.now);
    if (isRefusal(hold)) return hold;
    account.pendingHoldsMinor -= hold.amountMinor;
    hold.status = 'voided';
    hold.updatedAt = batch.now;
    batch.extraWrites.push(async ({ trx, now }) => {
      const rows = await closeHold(trx, { id: hold.id, status: 'voided', now });
      if (rows !== 1n) throw new LedgerInvariantError(`hold ${hold.id}: voided ${rows} rows`);
      batch.events.push(
        holdChanged('hold.voided', toHoldView(hold, batch.now), {
          actorUserId: command.actor.userId,
          ...(command.forPayment === undefined ? {} : { paymentId: command.forPayment.paymentId }),
        }),
      );
      const payment = command.forPayment;
      if (payment !== undefined) {
        const changed = await finishPayment(trx, {
          id: payment.paymentId,
          status: payment.status,
          reason: payment.reason,
          transactionId: null,
          now,
        });
        if (changed !== 1n) {
          throw new LedgerInvariantError(`payment ${payment.paymentId}: changed ${changed} rows`);
        }
        batch.events.push(await paymentEventOf(trx, payment.paymentId));
      }
    });
    return { postings: [], hold: toHoldView(hold, batch.now) };
  },
};
