import { sufficientFunds } from '../rules.ts';
import type { CommandKind, PostingPlan, ReversalCommand } from './command.ts';

/**
 * A reversal (issue #13): a new journal entry that mirrors an original one leg for leg
 * (each debit becomes a credit of the same amount on the same account, and back). It is
 * applied only by an approved maker-checker request (src/controls/approvals.ts), by the
 * approving admin, in the approval's own transaction; the link between the two entries
 * (`reversals`, at most one per original) is written there too.
 *
 * Customer accounts the mirror debits must still hold the money (422 `INSUFFICIENT_FUNDS`,
 * nothing posted): a deposit already spent, or a transfer the receiver moved on, cannot be
 * taken back by pushing a customer below zero. The bank's own (system) accounts may go
 * below zero as they always do. The entry keeps the original's kind (the journal's kinds
 * are fixed by a check constraint SQLite cannot alter); the `reversals` row says what it is.
 */
export const reversal: CommandKind<ReversalCommand> = {
  kind: 'reversal',
  staffAction: 'money.reversal',
  needsPin: false,
  outgoing: false,
  locks: (command) => command.legs.map((leg) => leg.accountNumber),
  entryKind: (command) => command.originalKind,
  plan({ batch }, command) {
    const plans: PostingPlan[] = [];
    for (const leg of command.legs) {
      const account = batch.accounts.get(leg.accountNumber);
      const counterparty = batch.accounts.get(leg.counterpartyNumber);
      if (account === undefined || counterparty === undefined) {
        throw new Error(
          `reversal: account of the original entry ${command.originalEntryId} missing`,
        );
      }
      const direction = leg.direction === 'debit' ? 'credit' : 'debit';
      if (direction === 'debit' && account.kind === 'customer') {
        const short = sufficientFunds(account, leg.amountMinor);
        if (short !== null) {
          return {
            ...short,
            message: `account ${account.accountNumber} no longer holds the money to reverse`,
          };
        }
      }
      plans.push({ account, direction, amountMinor: leg.amountMinor, counterparty });
    }
    return plans;
  },
};
