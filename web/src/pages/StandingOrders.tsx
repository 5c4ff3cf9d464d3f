import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { accountNumberProblem, groupAccountNumber } from '../account-number';
import { api, type Problem, problemOf } from '../api/client';
import type { paths } from '../api/schema';
import { accountLabel, useAccounts } from '../hooks';
import { amountProblem } from '../money';
import {
  Empty,
  ErrorMessage,
  Field,
  fieldMessage,
  fieldOf,
  Loading,
  Money,
  Select,
  Success,
  useFocusFirstError,
} from '../ui';
import {
  bankCodeProblem,
  beneficiaryNameProblem,
  type Errors,
  errorsOf,
  foreignAccountProblem,
  pinProblem,
} from '../validation';
import { FINAL, statusLabel } from './Payments';

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

/** Who an order pays: one of our accounts, or someone at another bank. */
function payeeOf(order: Order): string {
  if (order.toAccount !== null) return groupAccountNumber(order.toAccount);
  const b = order.beneficiary;
  return b ? `${b.name}, account ${b.accountNumber} at ${b.bankCode}` : 'nobody';
}

/** A run's outcome in words: the transfer, or the payment to the other bank and where it is. */
function runText(run: Run): string {
  const reason = run.reason ? ` — ${run.reason.replaceAll('_', ' ').toLowerCase()}` : '';
  if (run.status === 'failed') return `failed${reason}`;
  if (run.paymentId !== undefined) {
    return `payment ${statusLabel(run.paymentStatus ?? 'pending').toLowerCase()}${reason}`;
  }
  return `paid${reason}`;
}

/**
 * An order's runs. While a run may still appear (the order is due) or a run's payment is
 * still on its way, they are read again every few seconds, so the page follows the scheduler
 * and the payment network without a reload; `onChange` then refreshes the order itself.
 */
function Runs({ order, onChange }: { order: Order; onChange: () => void }) {
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const orderId = order.id;
  const due =
    order.status === 'active' && order.nextDueDate !== null && order.nextDueDate <= today();
  const seen = useRef<string | null>(null);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const { data, error, response } = await api.GET('/api/v1/standing-orders/{id}/runs', {
          params: { path: { id: orderId }, query: { limit: 20 } },
        });
        if (!live) return;
        if (data === undefined) {
          setProblem(problemOf(error, response));
          return;
        }
        setRuns(data.data);
        const signature = JSON.stringify(data.data);
        if (seen.current !== null && seen.current !== signature) onChange();
        seen.current = signature;
        const moving = data.data.some(
          (run) => run.paymentId !== undefined && !FINAL.has(run.paymentStatus ?? 'pending'),
        );
        if (due || moving) timer = setTimeout(() => void load(), 2_000);
      } catch (error) {
        if (live) setProblem(problemOf(error));
      }
    };
    void load();
    return () => {
      live = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [orderId, due, onChange]);
  if (problem !== null) return <ErrorMessage problem={problem} />;
  if (runs === null) return <Loading what="runs" />;
  if (runs.length === 0) return <p className="muted">No runs yet.</p>;
  return (
    <ul className="runs" aria-label="Past runs">
      {runs.map((run) => (
        <li key={`${run.dueDate}-${run.attempt}`} data-run-status={run.status}>
          {run.dueDate}
          {run.attempt > 1 ? ' (retry)' : ''}: {runText(run)}
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
  const [payee, setPayee] = useState<'ours' | 'other'>('ours');
  const [toAccount, setToAccount] = useState('');
  const [name, setName] = useState('');
  const [bankCode, setBankCode] = useState('');
  const [foreignAccount, setForeignAccount] = useState('');
  const [amount, setAmount] = useState('');
  const [frequency, setFrequency] = useState('monthly');
  const [startDate, setStartDate] = useState(today());
  const [endDate, setEndDate] = useState('');
  const [description, setDescription] = useState('');
  const [pin, setPin] = useState('');
  const [created, setCreated] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [attempt, setAttempt] = useState(0);
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, attempt);

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
  const refresh = useCallback(() => void reload(), [reload]);

  const source = accounts?.find((a) => a.accountNumber === accountNumber);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    setCreated(null);
    // The browser checks every field first, in plain sentences (the server stays the
    // authority and answers the same), and sends nothing while one is wrong.
    const destination = toAccount.replace(/\s/g, '');
    const found = errorsOf({
      ...(payee === 'ours'
        ? {
            toAccount:
              accountNumberProblem(toAccount) ??
              (destination === accountNumber
                ? 'An order cannot pay the account it is from.'
                : null),
          }
        : {
            'beneficiary.name': beneficiaryNameProblem(name),
            'beneficiary.bankCode': bankCodeProblem(bankCode),
            'beneficiary.accountNumber': foreignAccountProblem(foreignAccount),
          }),
      amount: source ? amountProblem(amount, source.currency) : null,
      startDate: startDate === '' ? 'Choose the date of the first payment.' : null,
      endDate:
        endDate !== '' && endDate < startDate
          ? 'The last payment cannot be before the first one.'
          : null,
      description:
        description.trim().length > 140 ? 'A description has at most 140 characters.' : null,
      pin: pinProblem(pin),
    });
    setErrors(found);
    setAttempt((n) => n + 1);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const { data, error, response } = await api.POST(
        '/api/v1/accounts/{accountNumber}/standing-orders',
        {
          params: { path: { accountNumber } },
          body: {
            ...(payee === 'ours'
              ? { toAccount: destination }
              : {
                  beneficiary: {
                    name: name.trim(),
                    bankCode: bankCode.trim().toUpperCase(),
                    accountNumber: foreignAccount.replace(/\s/g, ''),
                  },
                }),
            amount: amount.trim(),
            frequency: frequency as 'daily' | 'weekly' | 'monthly',
            startDate,
            pin,
            ...(endDate ? { endDate } : {}),
            ...(description.trim() ? { description: description.trim() } : {}),
          },
        },
      );
      if (data === undefined) {
        setPin('');
        setProblem(problemOf(error, response));
        setAttempt((n) => n + 1);
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
  const errorFor = (fieldName: string) => fieldMessage(fieldName, errors[fieldName], problem);
  const formFields = [
    'toAccount',
    'beneficiary.name',
    'beneficiary.bankCode',
    'beneficiary.accountNumber',
    'amount',
    'startDate',
    'endDate',
    'description',
    'pin',
  ];

  return (
    <section aria-labelledby="orders-title">
      <div className="page-head">
        <h1 id="orders-title">Standing orders</h1>
      </div>
      <form
        ref={form}
        className="card form"
        onSubmit={submit}
        aria-label="New standing order"
        noValidate
      >
        <Select
          label="From account"
          name="account"
          value={accountNumber}
          onChange={setAccountNumber}
          options={accounts.map((a) => ({ value: a.accountNumber, label: accountLabel(a) }))}
        />
        <fieldset className="segmented">
          <legend>Who is paid?</legend>
          {(
            [
              ['ours', 'To an account at this bank'],
              ['other', 'To someone at another bank'],
            ] as const
          ).map(([value, label]) => (
            <label key={value} className={payee === value ? 'segment selected' : 'segment'}>
              <input
                type="radio"
                name="payee"
                value={value}
                checked={payee === value}
                onChange={() => {
                  setPayee(value);
                  setErrors({});
                  setProblem(null);
                }}
              />
              {label}
            </label>
          ))}
        </fieldset>
        {payee === 'ours' ? (
          <Field
            label="To account"
            name="toAccount"
            value={toAccount}
            onChange={setToAccount}
            inputMode="numeric"
            hint="The 12-digit account number at this bank."
            error={errorFor('toAccount')}
            required
          />
        ) : (
          <>
            <Field
              label="Beneficiary name"
              name="beneficiaryName"
              value={name}
              onChange={setName}
              autoComplete="off"
              maxLength={140}
              error={errorFor('beneficiary.name')}
              required
            />
            <Field
              label="Bank code"
              name="bankCode"
              value={bankCode}
              onChange={(value) => setBankCode(value.toUpperCase())}
              autoComplete="off"
              maxLength={8}
              hint="The 8-character code of the recipient’s bank (BIC), like SBOXUS33."
              error={errorFor('beneficiary.bankCode')}
              required
            />
            <Field
              label="Account number"
              name="beneficiaryAccount"
              value={foreignAccount}
              onChange={setForeignAccount}
              autoComplete="off"
              maxLength={40}
              hint="As the recipient’s bank writes it: 4 to 34 letters or digits."
              error={errorFor('beneficiary.accountNumber')}
              required
            />
          </>
        )}
        <Field
          label={`Amount${source ? ` (${source.currency})` : ''}`}
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
          error={errorFor('description')}
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
      {field === undefined || !formFields.includes(field) ? (
        <ErrorMessage problem={problem} />
      ) : null}
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
                {order.frequency} to <span data-testid="payee">{payeeOf(order)}</span>
                {order.description ? ` · ${order.description}` : ''}
              </p>
              <p>
                Status: {order.status}
                {order.stopReason
                  ? ` (${order.stopReason.replaceAll('_', ' ').toLowerCase()})`
                  : ''}
                {order.nextDueDate ? ` · next payment ${order.nextDueDate}` : ''}
              </p>
              <Runs order={order} onChange={refresh} />
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
