import type { Trx } from '../../db/database.ts';
import { paymentChanged } from '../../events/event-data.ts';
import type { NewEvent } from '../../events/outbox.ts';
import { findPayment, toPaymentView } from '../../payments/payments-repository.ts';
import { LedgerInvariantError } from '../persist.ts';

/**
 * The outbox event of a payment's change, read back in the batch's transaction right after
 * the change, so its data is the payment as it committed (status, history, transaction).
 */
export async function paymentEventOf(trx: Trx, paymentId: string): Promise<NewEvent> {
  const payment = await findPayment(trx, paymentId);
  if (payment === null) throw new LedgerInvariantError(`payment ${paymentId}: missing`);
  return paymentChanged(toPaymentView(payment));
}
