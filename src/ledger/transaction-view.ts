import type { JournalEntriesTable, PostingsTable } from '../db/schema.ts';
import { formatMinor } from '../money/money.ts';

export type TransactionType = 'deposit' | 'withdrawal' | 'transfer_in' | 'transfer_out';

/** A posting as one account's holder sees it: the contract's `transaction`. */
export interface TransactionView {
  id: string;
  accountNumber: string;
  type: TransactionType;
  direction: PostingsTable['direction'];
  amount: string;
  currency: string;
  balanceAfter: string;
  counterpartyAccount: string | null;
  description: string | null;
  createdAt: string;
  /**
   * On history and the monitor, present only when linked: the transaction this one
   * reverses, or the one that reversed it (on the same account).
   */
  reversalOf?: string;
  reversedBy?: string;
}

export function transactionType(
  entryKind: JournalEntriesTable['kind'],
  direction: PostingsTable['direction'],
): TransactionType {
  if (entryKind === 'transfer') return direction === 'debit' ? 'transfer_out' : 'transfer_in';
  return entryKind;
}

export function toTransactionView(posting: {
  postingId: bigint;
  accountNumber: string;
  entryKind: JournalEntriesTable['kind'];
  direction: PostingsTable['direction'];
  amountMinor: bigint;
  currency: string;
  balanceAfterMinor: bigint;
  /** Only another customer's account is shown; the bank's cash account is internal. */
  counterpartyAccount: string | null;
  description: string | null;
  createdAt: string;
  reversalOf?: string | null;
  reversedBy?: string | null;
}): TransactionView {
  return {
    id: posting.postingId.toString(),
    accountNumber: posting.accountNumber,
    type: transactionType(posting.entryKind, posting.direction),
    direction: posting.direction,
    amount: formatMinor(posting.amountMinor, posting.currency),
    currency: posting.currency,
    balanceAfter: formatMinor(posting.balanceAfterMinor, posting.currency),
    counterpartyAccount: posting.counterpartyAccount,
    description: posting.description,
    createdAt: posting.createdAt,
    // Present only on linked transactions, so every other transaction keeps its shape.
    ...(posting.reversalOf == null ? {} : { reversalOf: posting.reversalOf }),
    ...(posting.reversedBy == null ? {} : { reversedBy: posting.reversedBy }),
  };
}
