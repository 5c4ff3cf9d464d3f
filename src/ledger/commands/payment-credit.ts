import {
  clearingAccountNumber,
  insertPayment,
  returnPayment,
} from '../../payments/payments-repository.ts';
import { LedgerInvariantError } from '../persist.ts';
import { currencyMatches, notFrozen } from '../rules.ts';
import type { CommandKind, PaymentCreditCommand } from './command.ts';
import { paymentEventOf } from './payment-event.ts';

/**
 * A payment from another bank, credited to the named account from the bank's clearing
 * account, and recorded as an inbound payment (`credited`) in the same transaction. The
 * network payment id is unique in the payments table, so a second delivery of the same
 * event cannot credit twice. A frozen or other-currency account refuses it; the caller then
 * sends it back.
 */
export const paymentCredit: CommandKind<PaymentCreditCommand> = {
  kind: 'payment_credit',
  staffAction: null,
  needsPin: false,
  outgoing: false,
  entryKind: () => 'transfer',
  locks: (command) => [command.accountNumber, clearingAccountNumber(command.currency)],
  plan({ batch, account }, command) {
    const refusal = currencyMatches(account, command.currency) ?? notFrozen(account);
    if (refusal !== null) return refusal;
    const clearing = batch.accounts.get(clearingAccountNumber(command.currency));
    if (clearing === undefined || clearing.kind !== 'system') {
      throw new Error(`clearing account for ${command.currency} missing`);
    }
    const amountMinor = command.amountMinor;
    const entryIndex = batch.entries.length;
    batch.extraWrites.push(async ({ trx, now, entries }) => {
      const transactionId = entries[entryIndex]?.outcome.transaction.id ?? null;
      if (command.returnOf !== undefined) {
        const changed = await returnPayment(trx, {
          id: command.returnOf.paymentId,
          reason: command.returnOf.reason,
          networkPaymentId: command.networkPaymentId,
          transactionId,
          now,
        });
        if (changed !== 1n) {
          throw new LedgerInvariantError(
            `payment ${command.returnOf.paymentId}: changed ${changed} rows`,
          );
        }
        batch.events.push(await paymentEventOf(trx, command.returnOf.paymentId));
        return;
      }
      const rows = await insertPayment(trx, {
        id: command.paymentId,
        direction: 'inbound',
        accountId: account.id,
        userId: account.userId,
        amountMinor,
        currency: account.currency,
        counterparty: command.from,
        reference: command.reference,
        status: 'credited',
        holdId: null,
        networkPaymentId: command.networkPaymentId,
        transactionId,
        now,
      });
      if (rows !== 1n) {
        throw new LedgerInvariantError(`payment ${command.paymentId}: inserted ${rows} rows`);
      }
      batch.events.push(await paymentEventOf(trx, command.paymentId));
    });
    return [
      { account, direction: 'credit', amountMinor, counterparty: clearing },
      { account: clearing, direction: 'debit', amountMinor, counterparty: account },
    ];
  },
};
