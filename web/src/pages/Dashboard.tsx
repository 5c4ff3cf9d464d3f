import { type FormEvent, useEffect, useState } from 'react';
import { groupAccountNumber } from '../account-number';
import {
  type Account,
  api,
  type Me,
  type Problem,
  problemOf,
  type Transaction,
} from '../api/client';
import { accountLabel, useAccounts } from '../hooks';
import { currencyCodes, decimalsOf, formatMoney, fromMinor, toMinor } from '../money';
import { Link } from '../router';
import { Empty, ErrorMessage, Field, formatDate, Loading, Money, Select, Success } from '../ui';

export function DashboardPage({ me }: { me: Me }) {
  const { accounts, problem, reload } = useAccounts();
  const [chartAccount, setChartAccount] = useState<string>('');
  const selected = accounts?.find((a) => a.accountNumber === chartAccount) ?? accounts?.[0];

  return (
    <>
      <div className="page-head">
        <h1>Hello, {me.fullName.split(' ')[0]}</h1>
        {me.pinSet ? null : (
          <p className="notice">
            Set a transaction PIN before you withdraw or transfer.{' '}
            <Link to="/security">Set your PIN</Link>
          </p>
        )}
      </div>
      <section aria-labelledby="accounts-title">
        <h2 id="accounts-title">Your accounts</h2>
        <ErrorMessage problem={problem} />
        {accounts === null && problem === null ? <Loading what="your accounts" /> : null}
        {accounts !== null && accounts.length === 0 ? (
          <Empty>You have no accounts yet. Open your first one below.</Empty>
        ) : null}
        <ul className="accounts">
          {accounts?.map((account) => (
            <li
              key={account.accountNumber}
              className="account-card"
              data-account={account.accountNumber}
            >
              <div className="account-head">
                <span className="account-name">
                  {account.nickname ?? (account.type === 'savings' ? 'Savings' : 'Checking')}
                </span>
                {account.status === 'frozen' ? (
                  <span className="badge badge-warn">Frozen</span>
                ) : null}
              </div>
              <p className="account-number">
                <span className="sr-only">Account number </span>
                {groupAccountNumber(account.accountNumber)} · {account.type} · {account.currency}
              </p>
              <p className="balance">
                <span className="balance-label">Balance</span>
                <span className="balance-value" data-testid="balance">
                  <Money amount={account.balance} currency={account.currency} />
                </span>
              </p>
              <p className="available">
                Available{' '}
                <span data-testid="available">
                  <Money amount={account.availableBalance} currency={account.currency} />
                </span>
              </p>
            </li>
          ))}
        </ul>
      </section>
      {accounts !== null && accounts.length > 0 && selected !== undefined ? (
        <section className="card" aria-labelledby="chart-title">
          <div className="card-head">
            <h2 id="chart-title">Balance over time</h2>
            <Select
              label="Account"
              name="chartAccount"
              value={selected.accountNumber}
              onChange={setChartAccount}
              options={accounts.map((a) => ({ value: a.accountNumber, label: accountLabel(a) }))}
            />
          </div>
          <BalanceChart account={selected} />
        </section>
      ) : null}
      <OpenAccount onOpened={reload} />
    </>
  );
}

function OpenAccount({ onOpened }: { onOpened: () => Promise<void> }) {
  const [type, setType] = useState<'checking' | 'savings'>('checking');
  const [currency, setCurrency] = useState('USD');
  const [nickname, setNickname] = useState('');
  const [problem, setProblem] = useState<Problem | null>(null);
  const [opened, setOpened] = useState<Account | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    setOpened(null);
    try {
      const body = { type, currency, ...(nickname.trim() ? { nickname: nickname.trim() } : {}) };
      const { data, error, response } = await api.POST('/api/v1/accounts', { body });
      if (data !== undefined) {
        setOpened(data);
        setNickname('');
        await onOpened();
      } else setProblem(problemOf(error, response));
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="open-title">
      <h2 id="open-title">Open a new account</h2>
      <form onSubmit={submit} className="form-row">
        <Select
          label="Type"
          name="type"
          value={type}
          onChange={(value) => setType(value === 'savings' ? 'savings' : 'checking')}
          options={[
            { value: 'checking', label: 'Checking' },
            { value: 'savings', label: 'Savings' },
          ]}
        />
        <Select
          label="Currency"
          name="currency"
          value={currency}
          onChange={setCurrency}
          options={currencyCodes().map((c) => ({ value: c, label: c }))}
        />
        <Field
          label="Nickname (optional)"
          name="nickname"
          value={nickname}
          onChange={setNickname}
          maxLength={50}
          error={problem?.field === 'body.nickname' ? problem.detail : undefined}
        />
        <button type="submit" className="button" disabled={busy}>
          {busy ? 'Opening…' : 'Open account'}
        </button>
      </form>
      <ErrorMessage problem={problem?.field === 'body.nickname' ? null : problem} />
      {opened !== null ? (
        <Success>
          Your new {opened.type} account {groupAccountNumber(opened.accountNumber)} is open.
        </Success>
      ) : null}
    </section>
  );
}

const WIDTH = 640;
const HEIGHT = 200;
const PAD = 8;

/** An SVG line of the balance after each movement (the latest 100), oldest on the left. */
function BalanceChart({ account }: { account: Account }) {
  const [history, setHistory] = useState<Transaction[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);

  useEffect(() => {
    let live = true;
    setHistory(null);
    void (async () => {
      const { data, error, response } = await api.GET(
        '/api/v1/accounts/{accountNumber}/transactions',
        { params: { path: { accountNumber: account.accountNumber }, query: { limit: 100 } } },
      );
      if (!live) return;
      if (data !== undefined) setHistory([...data.data].reverse());
      else setProblem(problemOf(error, response));
    })();
    return () => {
      live = false;
    };
  }, [account.accountNumber]);

  if (problem !== null) return <ErrorMessage problem={problem} />;
  if (history === null) return <Loading what="the chart" />;
  if (history.length === 0) return <Empty>No movements yet, so there is nothing to chart.</Empty>;

  const decimals = decimalsOf(account.currency);
  // Minor units as bigint; only the pixel positions below are ordinary numbers.
  const values = [0n, ...history.map((t) => toMinor(t.balanceAfter, decimals) ?? 0n)];
  let max = 1n;
  let min = 0n;
  for (const value of values) {
    if (value > max) max = value;
    if (value < min) min = value;
  }
  const span = max - min === 0n ? 1n : max - min;
  const x = (i: number) => PAD + (i * (WIDTH - 2 * PAD)) / Math.max(1, values.length - 1);
  const y = (v: bigint) => PAD + Number(((max - v) * 1000n) / span) * ((HEIGHT - 2 * PAD) / 1000);
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const first = history[0];
  const last = history[history.length - 1];
  const description = `Balance rose from ${formatMoney('0', account.currency)} to ${formatMoney(
    last?.balanceAfter ?? '0',
    account.currency,
  )} over ${history.length} movements, peaking at ${formatMoney(fromMinor(max, decimals), account.currency)}.`;

  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={description}>
        <line x1={PAD} x2={WIDTH - PAD} y1={y(0n)} y2={y(0n)} className="chart-axis" />
        <polyline
          points={`${x(0)},${y(0n)} ${points} ${x(values.length - 1)},${y(0n)}`}
          className="chart-area"
        />
        <polyline points={points} className="chart-line" />
      </svg>
      <figcaption className="chart-caption">
        <span>{first ? formatDate(first.createdAt) : ''}</span>
        <span>
          High <Money amount={fromMinor(max, decimals)} currency={account.currency} />
        </span>
        <span>{last ? formatDate(last.createdAt) : ''}</span>
      </figcaption>
    </figure>
  );
}
