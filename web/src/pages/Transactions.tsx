import { useEffect, useMemo, useState } from 'react';
import { groupAccountNumber } from '../account-number';
import { api, type Problem, problemOf, type Transaction } from '../api/client';
import { accountLabel, useAccounts } from '../hooks';
import { useQuery } from '../router';
import { Empty, ErrorMessage, Field, formatDate, Loading, Money, plural, Select } from '../ui';
import { usePaymentNotes } from './Payments';

const PAGE_SIZE = 20;
/** At most this many API pages of 100 are read for one account (10,000 movements). */
const MAX_API_PAGES = 100;

const TYPE_LABELS: Record<string, string> = {
  deposit: 'Deposit',
  withdrawal: 'Withdrawal',
  transfer_in: 'Transfer in',
  transfer_out: 'Transfer out',
};

/** Every movement of an account, newest first, walking the API's cursor pages. */
async function fullHistory(accountNumber: string): Promise<Transaction[]> {
  const all: Transaction[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_API_PAGES; page++) {
    const { data, error, response } = await api.GET(
      '/api/v1/accounts/{accountNumber}/transactions',
      {
        params: { path: { accountNumber }, query: { limit: 100, ...(cursor ? { cursor } : {}) } },
      },
    );
    if (data === undefined) throw problemOf(error, response);
    all.push(...data.data);
    if (data.nextCursor === null) break;
    cursor = data.nextCursor;
  }
  return all;
}

function csvCell(value: string): string {
  // Quote everything, and defuse spreadsheet formulas (=, +, -, @ at the start of a cell).
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replaceAll('"', '""')}"`;
}

function toCsv(rows: Transaction[]): string {
  const header = [
    'id',
    'date',
    'type',
    'direction',
    'amount',
    'currency',
    'balanceAfter',
    'counterparty',
    'description',
  ];
  const lines = rows.map((t) =>
    [
      t.id,
      t.createdAt,
      t.type,
      t.direction,
      t.amount,
      t.currency,
      t.balanceAfter,
      t.counterpartyAccount ?? '',
      t.description ?? '',
    ]
      .map(csvCell)
      .join(','),
  );
  return `${header.join(',')}\r\n${lines.join('\r\n')}\r\n`;
}

export function TransactionsPage() {
  const { accounts, problem: loadProblem } = useAccounts();
  // Account, filters and page live in the URL: back, forward and reload keep them.
  const [query, setQuery] = useQuery();
  const accountNumber = query.get('account') ?? accounts?.[0]?.accountNumber ?? '';
  const type = query.get('type') ?? '';
  const fromDate = query.get('from') ?? '';
  const toDate = query.get('to') ?? '';
  const page = Math.max(0, Number.parseInt(query.get('page') ?? '1', 10) - 1 || 0);
  const setPage = (n: number) => setQuery({ page: n === 0 ? null : String(n + 1) }, { push: true });
  const setFilter = (name: string) => (value: string) => setQuery({ [name]: value, page: null });
  const rangeError =
    fromDate !== '' && toDate !== '' && fromDate > toDate
      ? 'The from date is after the to date. Choose a from date on or before the to date.'
      : null;
  // Payments with other banks: the list names the other side and says "Payment in".
  const paymentNotes = usePaymentNotes(accountNumber);
  const [history, setHistory] = useState<Transaction[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);

  useEffect(() => {
    if (accountNumber === '') return;
    let live = true;
    setHistory(null);
    setProblem(null);
    fullHistory(accountNumber).then(
      (rows) => live && setHistory(rows),
      (error: unknown) => live && setProblem(problemOf(error)),
    );
    return () => {
      live = false;
    };
  }, [accountNumber]);

  const filtered = useMemo(() => {
    if (history === null) return [];
    // Dates are compared as local calendar days, as the customer picked them.
    const start = fromDate ? new Date(`${fromDate}T00:00:00`).getTime() : -Infinity;
    const end = toDate ? new Date(`${toDate}T23:59:59.999`).getTime() : Infinity;
    return history.filter((t) => {
      const at = new Date(t.createdAt).getTime();
      return (type === '' || t.type === type) && at >= start && at <= end;
    });
  }, [history, type, fromDate, toDate]);

  if (loadProblem !== null) return <ErrorMessage problem={loadProblem} />;
  if (accounts === null) return <Loading what="your accounts" />;
  if (accounts.length === 0) return <Empty>Open an account on the Accounts page first.</Empty>;

  const pages = Math.max(1, Math.ceil(filtered.length / PAGE_SIZE));
  const current = Math.min(page, pages - 1);
  const rows = filtered.slice(current * PAGE_SIZE, (current + 1) * PAGE_SIZE);

  function exportCsv() {
    const blob = new Blob([toCsv(filtered)], { type: 'text/csv;charset=utf-8' });
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = `corebank-${accountNumber}-transactions.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  return (
    <section aria-labelledby="tx-title">
      <div className="page-head">
        <h1 id="tx-title">Transactions</h1>
      </div>
      <form
        className="card filters"
        onSubmit={(event) => event.preventDefault()}
        aria-label="Filters"
      >
        <Select
          label="Account"
          name="account"
          value={accountNumber}
          onChange={setFilter('account')}
          options={accounts.map((a) => ({ value: a.accountNumber, label: accountLabel(a) }))}
        />
        <Select
          label="Type"
          name="type"
          value={type}
          onChange={setFilter('type')}
          options={[
            { value: '', label: 'All types' },
            ...Object.entries(TYPE_LABELS).map(([value, label]) => ({ value, label })),
          ]}
        />
        <Field
          label="From date"
          name="from"
          type="date"
          value={fromDate}
          onChange={setFilter('from')}
          error={rangeError}
        />
        <Field label="To date" name="to" type="date" value={toDate} onChange={setFilter('to')} />
        <button
          type="button"
          className="button button-secondary"
          onClick={exportCsv}
          disabled={filtered.length === 0}
        >
          Export CSV
        </button>
      </form>
      <ErrorMessage problem={problem} />
      {history === null && problem === null ? <Loading what="transactions" /> : null}
      {history !== null && filtered.length === 0 && rangeError === null ? (
        <Empty>
          {history.length === 0 ? 'No transactions yet.' : 'No transactions match these filters.'}
        </Empty>
      ) : null}
      {rows.length > 0 && rangeError === null ? (
        <div className="card table-card">
          <table className="tx-table">
            <caption className="sr-only">Transactions, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Description</th>
                <th scope="col">Type</th>
                <th scope="col" className="num">
                  Amount
                </th>
                <th scope="col" className="num">
                  Balance
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <tr key={t.id} data-type={t.type}>
                  <td data-label="Date">{formatDate(t.createdAt)}</td>
                  <td data-label="Description" className="tx-description">
                    {t.description !== null ? (
                      <span className="tx-text">{t.description}</span>
                    ) : (
                      <span className="muted">{TYPE_LABELS[t.type] ?? t.type}</span>
                    )}
                    {paymentNotes.has(t.id) ? (
                      <span className="tx-counterparty">{paymentNotes.get(t.id)?.text}</span>
                    ) : null}
                    {t.counterpartyAccount ? (
                      <span className="tx-counterparty">
                        {t.direction === 'debit' ? 'To' : 'From'}{' '}
                        {groupAccountNumber(t.counterpartyAccount)}
                      </span>
                    ) : null}
                  </td>
                  <td data-label="Type" className="tx-type">
                    {paymentNotes.get(t.id)?.type ?? TYPE_LABELS[t.type] ?? t.type}
                  </td>
                  <td
                    data-label="Amount"
                    className={t.direction === 'credit' ? 'num credit' : 'num debit'}
                  >
                    {t.direction === 'credit' ? '+' : '−'}
                    <Money amount={t.amount} currency={t.currency} />
                  </td>
                  <td data-label="Balance" className="num">
                    <Money amount={t.balanceAfter} currency={t.currency} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pager" aria-label="Pages">
            <button
              type="button"
              className="button button-secondary"
              disabled={current === 0}
              onClick={() => setPage(current - 1)}
            >
              Newer
            </button>
            <span aria-live="polite">
              Page {current + 1} of {pages} · {plural(filtered.length, 'transaction')}
            </span>
            <button
              type="button"
              className="button button-secondary"
              disabled={current >= pages - 1}
              onClick={() => setPage(current + 1)}
            >
              Older
            </button>
          </nav>
        </div>
      ) : null}
    </section>
  );
}
