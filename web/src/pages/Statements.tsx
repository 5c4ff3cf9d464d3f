import { useEffect, useState } from 'react';
import { groupAccountNumber } from '../account-number';
import { api, type Problem, problemOf } from '../api/client';
import type { paths } from '../api/schema';
import { accountLabel, useAccounts } from '../hooks';
import { Empty, ErrorMessage, Field, formatDate, Loading, Money, Select } from '../ui';

type Statement =
  paths['/api/v1/accounts/{accountNumber}/statements/{month}']['get']['responses']['200']['content']['application/json'];

const TYPE_LABELS: Record<string, string> = {
  deposit: 'Deposit',
  withdrawal: 'Withdrawal',
  transfer_in: 'Transfer in',
  transfer_out: 'Transfer out',
};

function thisMonth(): string {
  return new Date().toISOString().slice(0, 7);
}

/** Saves a blob under a file name, through a temporary link (no inline script needed). */
function save(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Monthly statements: pick an account and a month; view it, or download it as CSV or PDF. */
export function StatementsPage() {
  const { accounts, problem: loadProblem } = useAccounts();
  const [accountNumber, setAccountNumber] = useState('');
  const [month, setMonth] = useState(thisMonth());
  const [statement, setStatement] = useState<Statement | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (accountNumber === '' && accounts?.[0]) setAccountNumber(accounts[0].accountNumber);
  }, [accounts, accountNumber]);

  useEffect(() => {
    if (accountNumber === '' || !/^\d{4}-\d{2}$/.test(month)) return;
    let live = true;
    setStatement(null);
    setProblem(null);
    api
      .GET('/api/v1/accounts/{accountNumber}/statements/{month}', {
        params: { path: { accountNumber, month } },
      })
      .then(
        ({ data, error, response }) => {
          if (!live) return;
          if (data !== undefined) setStatement(data as Statement);
          else setProblem(problemOf(error, response));
        },
        (error: unknown) => live && setProblem(problemOf(error)),
      );
    return () => {
      live = false;
    };
  }, [accountNumber, month]);

  async function download(format: 'csv' | 'pdf') {
    setBusy(true);
    setProblem(null);
    try {
      const { data, error, response } = await api.GET(
        '/api/v1/accounts/{accountNumber}/statements/{month}',
        {
          params: { path: { accountNumber, month } },
          headers: { accept: format === 'csv' ? 'text/csv' : 'application/pdf' },
          parseAs: 'blob',
        },
      );
      if (data === undefined) {
        setProblem(problemOf(error, response));
        return;
      }
      save(data as Blob, `statement-${accountNumber}-${month}.${format}`);
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  if (loadProblem !== null) return <ErrorMessage problem={loadProblem} />;
  if (accounts === null) return <Loading what="your accounts" />;
  if (accounts.length === 0) return <Empty>Open an account on the Accounts page first.</Empty>;

  return (
    <section aria-labelledby="statements-title">
      <div className="page-head">
        <h1 id="statements-title">Statements</h1>
      </div>
      <form
        className="card filters"
        onSubmit={(event) => event.preventDefault()}
        aria-label="Statement"
      >
        <Select
          label="Account"
          name="account"
          value={accountNumber}
          onChange={setAccountNumber}
          options={accounts.map((a) => ({ value: a.accountNumber, label: accountLabel(a) }))}
        />
        <Field label="Month" name="month" type="month" value={month} onChange={setMonth} />
        <button
          type="button"
          className="button button-secondary"
          disabled={busy || statement === null}
          onClick={() => void download('csv')}
        >
          Download CSV
        </button>
        <button
          type="button"
          className="button button-secondary"
          disabled={busy || statement === null}
          onClick={() => void download('pdf')}
        >
          Download PDF
        </button>
      </form>
      <ErrorMessage problem={problem} />
      {statement === null && problem === null ? <Loading what="the statement" /> : null}
      {statement !== null ? (
        <>
          <dl className="card statement-summary" aria-label="Summary">
            <div>
              <dt>Period</dt>
              <dd>
                {formatDate(statement.period.from)} – {formatDate(statement.period.to)}
                {statement.monthToDate ? ' (month to date)' : ''}
              </dd>
            </div>
            <div>
              <dt>Opening balance</dt>
              <dd>
                <Money amount={statement.openingBalance} currency={statement.currency} />
              </dd>
            </div>
            <div>
              <dt>Money in</dt>
              <dd>
                <Money amount={statement.totalCredits} currency={statement.currency} />
              </dd>
            </div>
            <div>
              <dt>Money out</dt>
              <dd>
                <Money amount={statement.totalDebits} currency={statement.currency} />
              </dd>
            </div>
            <div>
              <dt>Closing balance</dt>
              <dd data-testid="closing-balance">
                <Money amount={statement.closingBalance} currency={statement.currency} />
              </dd>
            </div>
          </dl>
          {statement.lines.length === 0 ? (
            <Empty>No transactions in this month.</Empty>
          ) : (
            <div className="card table-card">
              <table className="tx-table">
                <caption className="sr-only">Statement lines, oldest first</caption>
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
                  {statement.lines.map((t) => (
                    <tr key={t.id}>
                      <td data-label="Date">{formatDate(t.createdAt)}</td>
                      <td data-label="Description" className="tx-description">
                        <span className="tx-text">{t.description ?? TYPE_LABELS[t.type]}</span>
                        {t.counterpartyAccount ? (
                          <span className="tx-counterparty">
                            {t.direction === 'debit' ? 'To' : 'From'}{' '}
                            {groupAccountNumber(t.counterpartyAccount)}
                          </span>
                        ) : null}
                      </td>
                      <td data-label="Type">{TYPE_LABELS[t.type] ?? t.type}</td>
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
            </div>
          )}
        </>
      ) : null}
    </section>
  );
}
