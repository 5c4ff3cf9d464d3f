import { vaultAccountNumber } from '../../accounts/accounts-repository.ts';
import { currencyMatches, notFrozen } from '../rules.ts';
import type { CommandKind, DepositCommand } from './command.ts';
import { vaultOf } from './vault.ts';

/**
 * Cash paid into a customer account: the account is credited, the bank's cash (vault)
 * account of the currency debited. Owners deposit to their own accounts; tellers and admins
 * to anyone's (audited).
 */
export const deposit: CommandKind<DepositCommand> = {
  kind: 'deposit',
  staffAction: 'money.staff_deposit',
  needsPin: false,
  outgoing: false,
  locks: (command) => [command.accountNumber, vaultAccountNumber(command.currency)],
  plan({ batch, account }, command) {
    const refusal = currencyMatches(account, command.currency) ?? notFrozen(account);
    if (refusal !== null) return refusal;
    const vault = vaultOf(batch, command.currency);
    const amountMinor = command.amountMinor;
    return [
      { account, direction: 'credit', amountMinor, counterparty: vault },
      { account: vault, direction: 'debit', amountMinor, counterparty: account },
    ];
  },
};
