import { vaultAccountNumber } from '../../accounts/accounts-repository.ts';
import { currencyMatches, notFrozen, sufficientFunds } from '../rules.ts';
import type { CommandKind, WithdrawalCommand } from './command.ts';
import { vaultOf } from './vault.ts';

/**
 * Cash paid out of a customer account: the account is debited, the vault credited. Owners
 * confirm with their PIN; tellers and admins withdraw from anyone's account (audited).
 */
export const withdrawal: CommandKind<WithdrawalCommand> = {
  kind: 'withdrawal',
  staffAction: 'money.staff_withdrawal',
  needsPin: true,
  outgoing: true,
  locks: (command) => [command.accountNumber, vaultAccountNumber(command.currency)],
  plan({ batch, account }, command) {
    const amountMinor = command.amountMinor;
    const refusal =
      currencyMatches(account, command.currency) ??
      notFrozen(account) ??
      sufficientFunds(account, amountMinor);
    if (refusal !== null) return refusal;
    const vault = vaultOf(batch, command.currency);
    return [
      { account, direction: 'debit', amountMinor, counterparty: vault },
      { account: vault, direction: 'credit', amountMinor, counterparty: account },
    ];
  },
};
