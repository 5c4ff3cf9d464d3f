import { currencyMatches, destinationAccepts, notFrozen, sufficientFunds } from '../rules.ts';
import type { CommandKind, TransferCommand } from './command.ts';

/**
 * A customer moves money from their own account to another customer account of the same
 * currency, confirmed with their PIN. Staff have no powers here: only the owner transfers.
 */
export const transfer: CommandKind<TransferCommand> = {
  kind: 'transfer',
  staffAction: null,
  needsPin: true,
  outgoing: true,
  locks: (command) => [command.accountNumber, command.toAccountNumber],
  plan({ batch, account }, command) {
    const amountMinor = command.amountMinor;
    const destination = batch.accounts.get(command.toAccountNumber);
    const refusal =
      currencyMatches(account, command.currency) ??
      notFrozen(account) ??
      destinationAccepts(command.actor, account, destination) ??
      sufficientFunds(account, amountMinor);
    if (refusal !== null) return refusal;
    if (destination === undefined) throw new Error('destination passed its rule but is missing');
    return [
      { account, direction: 'debit', amountMinor, counterparty: destination },
      { account: destination, direction: 'credit', amountMinor, counterparty: account },
    ];
  },
};
