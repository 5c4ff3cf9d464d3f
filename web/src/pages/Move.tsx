import { type FormEvent, useEffect, useRef, useState } from 'react';
import { api, idempotencyKey, type Problem, problemOf, type Transaction } from '../api/client';
import { accountLabel, useAccounts, usePinAttemptsLeft } from '../hooks';
import { amountProblem } from '../money';
import { Receipt } from '../receipt';
import {
  Empty,
  ErrorMessage,
  Field,
  fieldOf,
  Loading,
  Money,
  messageOf,
  pinAttemptsHint,
  Select,
  Success,
  useFocusFirstError,
} from '../ui';
import { pinProblem } from '../validation';

export function MovePage() {
  const { accounts, problem: loadProblem, reload } = useAccounts();
  const [kind, setKind] = useState<'deposit' | 'withdrawal'>('deposit');
  const [accountNumber, setAccountNumber] = useState('');
  const [amount, setAmount] = useState('');
  const [description, setDescription] = useState('');
  const [pin, setPin] = useState('');
  const [touched, setTouched] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [done, setDone] = useState<Transaction | null>(null);
  const pinLeft = usePinAttemptsLeft(problem, done);
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, attempt);

  useEffect(() => {
    if (accountNumber === '' && accounts?.[0]) setAccountNumber(accounts[0].accountNumber);
  }, [accounts, accountNumber]);

  const account = accounts?.find((a) => a.accountNumber === accountNumber);
  const amountError = touched && account ? amountProblem(amount, account.currency) : null;
  const [submitted, setSubmitted] = useState(false);
  const pinError = submitted && kind === 'withdrawal' ? pinProblem(pin) : null;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    setProblem(null);
    setDone(null);
    setAttempt((n) => n + 1);
    setSubmitted(true);
    if (account === undefined || amountProblem(amount, account.currency) !== null) return;
    if (kind === 'withdrawal' && pinProblem(pin) !== null) return;
    setBusy(true);
    try {
      const path = { accountNumber: account.accountNumber };
      const header = { 'idempotency-key': idempotencyKey() };
      const desc = description.trim() ? { description: description.trim() } : {};
      const result =
        kind === 'deposit'
          ? await api.POST('/api/v1/accounts/{accountNumber}/deposits', {
              params: { path, header },
              body: { amount: amount.trim(), ...desc },
            })
          : await api.POST('/api/v1/accounts/{accountNumber}/withdrawals', {
              params: { path, header },
              body: { amount: amount.trim(), pin, ...desc },
            });
      if (result.data !== undefined) {
        setDone(result.data);
        setAmount('');
        setDescription('');
        setPin('');
        setTouched(false);
        setSubmitted(false);
        await reload();
      } else {
        setProblem(problemOf(result.error, result.response));
        setAttempt((n) => n + 1);
      }
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  if (loadProblem !== null) return <ErrorMessage problem={loadProblem} />;
  if (accounts === null) return <Loading what="your accounts" />;
  if (accounts.length === 0) return <Empty>Open an account on the Accounts page first.</Empty>;

  const field = fieldOf(problem);
  return (
    <section className="card narrow" aria-labelledby="move-title">
      <h1 id="move-title">Deposit and withdraw</h1>
      <fieldset className="segmented">
        <legend className="sr-only">What do you want to do?</legend>
        {(['deposit', 'withdrawal'] as const).map((value) => (
          <label key={value} className={kind === value ? 'segment selected' : 'segment'}>
            <input
              type="radio"
              name="kind"
              value={value}
              checked={kind === value}
              onChange={() => {
                setKind(value);
                setProblem(null);
                setDone(null);
              }}
            />
            {value === 'deposit' ? 'Deposit' : 'Withdraw'}
          </label>
        ))}
      </fieldset>
      <form ref={form} onSubmit={submit} noValidate>
        <Select
          label="Account"
          name="account"
          value={accountNumber}
          onChange={setAccountNumber}
          options={accounts.map((a) => ({ value: a.accountNumber, label: accountLabel(a) }))}
        />
        {account ? (
          <p className="muted">
            Available: <Money amount={account.availableBalance} currency={account.currency} />
          </p>
        ) : null}
        <Field
          label={`Amount (${account?.currency ?? ''})`}
          name="amount"
          value={amount}
          onChange={(value) => {
            setAmount(value);
            setTouched(true);
          }}
          inputMode="decimal"
          placeholder="0.00"
          error={amountError ?? (field === 'amount' ? problem?.detail : undefined)}
          required
        />
        <Field
          label="Description (optional)"
          name="description"
          value={description}
          onChange={setDescription}
          maxLength={140}
          error={field === 'description' ? problem?.detail : undefined}
        />
        {kind === 'withdrawal' ? (
          <Field
            label="Transaction PIN"
            name="pin"
            type="password"
            value={pin}
            onChange={setPin}
            inputMode="numeric"
            autoComplete="off"
            maxLength={6}
            hint={pinAttemptsHint(pinLeft)}
            error={pinError ?? (field === 'pin' && problem ? messageOf(problem) : undefined)}
            required
          />
        ) : null}
        <ErrorMessage
          problem={field && ['amount', 'description', 'pin'].includes(field) ? null : problem}
        />
        <button type="submit" className="button" disabled={busy}>
          {busy ? 'Working…' : kind === 'deposit' ? 'Deposit' : 'Withdraw'}
        </button>
      </form>
      {done !== null ? (
        <Success>
          {done.type === 'deposit' ? 'Deposited' : 'Withdrew'}{' '}
          <Money amount={done.amount} currency={done.currency} />. New balance:{' '}
          <Money amount={done.balanceAfter} currency={done.currency} />.
        </Success>
      ) : null}
      {done !== null ? <Receipt transaction={done} /> : null}
    </section>
  );
}
