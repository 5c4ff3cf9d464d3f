import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { groupAccountNumber } from '../account-number';
import { api, type Problem, problemOf } from '../api/client';
import type { paths } from '../api/schema';
import { accountLabel, useAccounts } from '../hooks';
import {
  Empty,
  ErrorMessage,
  Field,
  fieldOf,
  Loading,
  Money,
  messageOf,
  Select,
  Success,
} from '../ui';

type Order =
  paths['/api/v1/accounts/{accountNumber}/standing-orders']['get']['responses']['200']['content']['application/json']['data'][number];
type Run =
  paths['/api/v1/standing-orders/{id}/runs']['get']['responses']['200']['content']['application/json']['data'][number];

const FREQUENCIES = [
  { value: 'monthly', label: 'Monthly' },
  { value: 'weekly', label: 'Weekly' },
  { value: 'daily', label: 'Daily' },
];

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

function Runs({ orderId }: { orderId: string }) {
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  useEffect(() => {
    api
      .GET('/api/v1/standing-orders/{id}/runs', {
        params: { path: { id: orderId }, query: { limit: 20 } },
      })
      .then(
        ({ data, error, response }) => {
          if (data !== undefined) setRuns(data.data);
          else setProblem(problemOf(error, response));
        },
        (error: unknown) => setProblem(problemOf(error)),
      );
  }, [orderId]);
  if (problem !== null) return <ErrorMessage problem={problem} />;
  if (runs === null) return <Loading what="runs" />;
  if (runs.length === 0) return <p className="muted">No runs yet.</p>;
  return (
    <ul className="runs" aria-label="Past runs">
      {runs.map((run) => (
        <li key={`${run.dueDate}-${run.attempt}`}>
          {run.dueDate}
          {run.attempt > 1 ? ' (retry)' : ''}: {run.status === 'done' ? 'paid' : 'failed'}
          {run.reason ? ` — ${run.reason.replaceAll('_', ' ').toLowerCase()}` : ''}
          {run.paymentStatus ? ` — payment ${run.paymentStatus}` : ''}
        </li>
      ))}
    </ul>
  );
}

/** Standing orders: create one (confirmed with the PIN), see each with its runs, cancel. */
export function StandingOrdersPage() {
  const { accounts, problem: loadProblem } = useAccounts();
  const [accountNumber, setAccountNumber] = useState('');
  const [orders, setOrders] = useState<Order[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [toAccount, setToAccount] = useState('');
  const [amount, setAmount] = useState('');
  const [frequency, setFrequency] = useState('monthly');
  const [startDate, setStartDate] = useState(today());
  const [endDate, setEndDate] = useState('');
  const [description, setDescription] = useState('');
  const [pin, setPin] = useState('');
  const [created, setCreated] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (accountNumber === '' && accounts?.[0]) setAccountNumber(accounts[0].accountNumber);
  }, [accounts, accountNumber]);

  const reload = useCallback(async () => {
    if (accountNumber === '') return;
    const { data, error, response } = await api.GET(
      '/api/v1/accounts/{accountNumber}/standing-orders',
      { params: { path: { accountNumber } } },
    );
    if (data !== undefined) setOrders(data.data);
    else setProblem(problemOf(error, response));
  }, [accountNumber]);

  useEffect(() => {
    setOrders(null);
    void reload();
  }, [reload]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    setCreated(null);
    try {
      const { data, error, response } = await api.POST(
        '/api/v1/accounts/{accountNumber}/standing-orders',
        {
          params: { path: { accountNumber } },
          body: {
            toAccount: toAccount.replace(/\s/g, ''),
            amount,
            frequency: frequency as 'daily' | 'weekly' | 'monthly',
            startDate,
            pin,
            ...(endDate ? { endDate } : {}),
            ...(description ? { description } : {}),
          },
        },
      );
      if (data === undefined) {
        setProblem(problemOf(error, response));
        return;
      }
      setCreated(`Standing order created; first payment on ${data.nextDueDate}.`);
      setPin('');
      setAmount('');
      await reload();
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  async function cancel(id: string) {
    const { error, response } = await api.DELETE('/api/v1/standing-orders/{id}', {
      params: { path: { id } },
    });
    if (!response.ok) setProblem(problemOf(error, response));
    await reload();
  }

  if (loadProblem !== null) return <ErrorMessage problem={loadProblem} />;
  if (accounts === null) return <Loading what="your accounts" />;
  if (accounts.length === 0) return <Empty>Open an account on the Accounts page first.</Empty>;

  const field = fieldOf(problem);
  const errorFor = (name: string) =>
    problem !== null && field === name ? messageOf(problem) : null;

  return (
    <section aria-labelledby="orders-title">
      <div className="page-head">
        <h1 id="orders-title">Standing orders</h1>
      </div>
      <form className="card form" onSubmit={submit} aria-label="New standing order">
        <Select
          label="From account"
          name="account"
          value={accountNumber}
          onChange={setAccountNumber}
          options={accounts.map((a) => ({ value: a.accountNumber, label: accountLabel(a) }))}
        />
        <Field
          label="To account"
          name="toAccount"
          value={toAccount}
          onChange={setToAccount}
          inputMode="numeric"
          error={errorFor('toAccount')}
          required
        />
        <Field
          label="Amount"
          name="amount"
          value={amount}
          onChange={setAmount}
          inputMode="decimal"
          error={errorFor('amount')}
          required
        />
        <Select
          label="Frequency"
          name="frequency"
          value={frequency}
          onChange={setFrequency}
          options={FREQUENCIES}
        />
        <Field
          label="First payment"
          name="startDate"
          type="date"
          value={startDate}
          onChange={setStartDate}
          hint="Monthly payments on the 29th to 31st are made on the last day of shorter months."
          error={errorFor('startDate')}
          required
        />
        <Field
          label="Last payment (optional)"
          name="endDate"
          type="date"
          value={endDate}
          onChange={setEndDate}
          error={errorFor('endDate')}
        />
        <Field
          label="Description (optional)"
          name="description"
          value={description}
          onChange={setDescription}
          maxLength={140}
        />
        <Field
          label="PIN"
          name="pin"
          type="password"
          value={pin}
          onChange={setPin}
          inputMode="numeric"
          autoComplete="off"
          error={errorFor('pin')}
          required
        />
        <button type="submit" className="button" disabled={busy}>
          Create standing order
        </button>
      </form>
      {field === undefined ? <ErrorMessage problem={problem} /> : null}
      {created !== null ? <Success>{created}</Success> : null}
      {orders === null ? <Loading what="standing orders" /> : null}
      {orders !== null && orders.length === 0 ? <Empty>No standing orders yet.</Empty> : null}
      {orders !== null && orders.length > 0 ? (
        <ul className="orders" aria-label="Standing orders">
          {orders.map((order) => (
            <li key={order.id} className="card" data-status={order.status}>
              <p>
                <strong>
                  <Money amount={order.amount} currency={order.currency} />
                </strong>{' '}
                {order.frequency} to{' '}
                {order.toAccount !== null
                  ? groupAccountNumber(order.toAccount)
                  : `${order.beneficiary?.name} (${order.beneficiary?.accountNumber} at ${order.beneficiary?.bankCode})`}
                {order.description ? ` · ${order.description}` : ''}
              </p>
              <p>
                Status: {order.status}
                {order.stopReason
                  ? ` (${order.stopReason.replaceAll('_', ' ').toLowerCase()})`
                  : ''}
                {order.nextDueDate ? ` · next payment ${order.nextDueDate}` : ''}
              </p>
              <Runs orderId={order.id} />
              {order.status === 'active' ? (
                <button
                  type="button"
                  className="button button-secondary"
                  onClick={() => void cancel(order.id)}
                >
                  Cancel this order
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
