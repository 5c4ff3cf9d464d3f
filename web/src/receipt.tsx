import { groupAccountNumber } from './account-number';
import type { Transaction } from './api/client';
import { formatDate, Money } from './ui';

export const TYPE_LABELS: Record<string, string> = {
  deposit: 'Cash deposit',
  withdrawal: 'Cash withdrawal',
  transfer_in: 'Transfer in',
  transfer_out: 'Transfer out',
};

export function typeLabel(type: string): string {
  return TYPE_LABELS[type] ?? type.replaceAll('_', ' ');
}

/**
 * A receipt for one movement: date, amount, both parties and the reference, laid out to
 * print on its own (the print style sheet hides the rest of the page).
 */
export function Receipt(props: {
  transaction: Transaction;
  /** Who holds the account the movement is on, e.g. "Alice Archer". */
  holder?: string | undefined;
  /** The other party: a person and account for transfers, the bank's cash desk otherwise. */
  counterparty?: string | undefined;
  /** The member of staff who handled it, for cash at the desk. */
  handledBy?: string | undefined;
}) {
  const t = props.transaction;
  const debit = t.direction === 'debit';
  const account = `${groupAccountNumber(t.accountNumber)}${props.holder ? ` (${props.holder})` : ''}`;
  const other =
    props.counterparty ??
    (t.counterpartyAccount ? groupAccountNumber(t.counterpartyAccount) : 'Corebank cash desk');
  return (
    <section className="receipt" aria-labelledby={`receipt-${t.id}`}>
      <h2 id={`receipt-${t.id}`}>Receipt · {typeLabel(t.type)}</h2>
      <dl className="summary">
        <dt>Date</dt>
        <dd>{formatDate(t.createdAt)}</dd>
        <dt>Amount</dt>
        <dd className="summary-amount">
          <Money amount={t.amount} currency={t.currency} />
        </dd>
        <dt>{debit ? 'From' : 'To'}</dt>
        <dd>{account}</dd>
        <dt>{debit ? 'To' : 'From'}</dt>
        <dd>{other}</dd>
        {t.description ? (
          <>
            <dt>Description</dt>
            <dd>{t.description}</dd>
          </>
        ) : null}
        <dt>Balance afterwards</dt>
        <dd>
          <Money amount={t.balanceAfter} currency={t.currency} />
        </dd>
        {props.handledBy ? (
          <>
            <dt>Handled by</dt>
            <dd>{props.handledBy}</dd>
          </>
        ) : null}
        <dt>Reference</dt>
        <dd>
          <code>{t.id}</code>
        </dd>
      </dl>
      <button
        type="button"
        className="button button-secondary no-print"
        onClick={() => window.print()}
      >
        Print receipt
      </button>
    </section>
  );
}
