import { type FormEvent, useEffect, useState } from 'react';
import { accountNumberProblem, groupAccountNumber } from '../account-number';
import { api, idempotencyKey, type Problem, problemOf, type Transaction } from '../api/client';
import { accountLabel, useAccounts } from '../hooks';
import { amountProblem, decimalsOf, fromMinor, toMinor } from '../money';
import { Link } from '../router';
import { Empty, ErrorMessage, Field, fieldOf, Loading, Money, messageOf, Select } from '../ui';

type Step = 'details' | 'review' | 'done';

export function TransferPage() {
  const { accounts, problem: loadProblem, reload } = useAccounts();
  const [step, setStep] = useState<Step>('details');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [amount, setAmount] = useState('');
  const [description, setDescription] = useState('');
  const [pin, setPin] = useState('');
  const [submitted, setSubmitted] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [result, setResult] = useState<Transaction | null>(null);
  const [busy, setBusy] = useState(false);
  // One key per confirmed transfer: a double click or a retry cannot send it twice.
  const [key, setKey] = useState(idempotencyKey);

  useEffect(() => {
    if (from === '' && accounts?.[0]) setFrom(accounts[0].accountNumber);
  }, [accounts, from]);

  if (loadProblem !== null) return <ErrorMessage problem={loadProblem} />;
  if (accounts === null) return <Loading what="your accounts" />;
  if (accounts.length === 0) return <Empty>Open an account on the Accounts page first.</Empty>;

  const source = accounts.find((a) => a.accountNumber === from);
  const destination = to.replace(/\s/g, '');
  const toError =
    to === '' && !submitted
      ? null
      : (accountNumberProblem(to) ??
        (destination === from ? 'You cannot transfer to the same account.' : null));
  const amountError =
    amount === '' && !submitted ? null : source ? amountProblem(amount, source.currency) : null;
  const decimals = source ? decimalsOf(source.currency) : 2;
  const minor = toMinor(amount, decimals);
  const available = source ? toMinor(source.availableBalance, decimals) : null;
  const afterMinor = minor !== null && available !== null ? available - minor : null;
  const short = afterMinor !== null && afterMinor < 0n;

  function review(event: FormEvent) {
    event.preventDefault();
    setSubmitted(true);
    setProblem(null);
    if (source === undefined) return;
    if (accountNumberProblem(to) !== null || destination === from) return;
    if (amountProblem(amount, source.currency) !== null || short) return;
    setStep('review');
  }

  async function confirm(event: FormEvent) {
    event.preventDefault();
    if (source === undefined) return;
    setBusy(true);
    setProblem(null);
    try {
      const { data, error, response } = await api.POST(
        '/api/v1/accounts/{accountNumber}/transfers',
        {
          params: {
            path: { accountNumber: source.accountNumber },
            header: { 'idempotency-key': key },
          },
          body: {
            toAccount: destination,
            amount: amount.trim(),
            pin,
            ...(description.trim() ? { description: description.trim() } : {}),
          },
        },
      );
      if (data !== undefined) {
        setResult(data);
        setStep('done');
        await reload();
      } else {
        const found = problemOf(error, response);
        setProblem(found);
        setPin('');
        // A refused transfer moved nothing, so a corrected one is a new request.
        setKey(idempotencyKey());
        if (found.field === 'body.toAccount' || found.field === 'body.amount') setStep('details');
      }
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  function again() {
    setStep('details');
    setTo('');
    setAmount('');
    setDescription('');
    setPin('');
    setSubmitted(false);
    setResult(null);
    setProblem(null);
    setKey(idempotencyKey());
  }

  const field = fieldOf(problem);
  return (
    <section className="card narrow" aria-labelledby="transfer-title">
      <h1 id="transfer-title">Transfer money</h1>
      <ol className="steps" aria-label="Progress">
        {(['details', 'review', 'done'] as const).map((s, i) => (
          <li
            key={s}
            className={s === step ? 'step current' : 'step'}
            aria-current={s === step ? 'step' : undefined}
          >
            {i + 1}. {s === 'details' ? 'Details' : s === 'review' ? 'Confirm' : 'Result'}
          </li>
        ))}
      </ol>

      {step === 'details' ? (
        <form onSubmit={review} noValidate>
          <Select
            label="From"
            name="from"
            value={from}
            onChange={setFrom}
            options={accounts.map((a) => ({ value: a.accountNumber, label: accountLabel(a) }))}
          />
          {source ? (
            <p className="muted">
              Available: <Money amount={source.availableBalance} currency={source.currency} />
            </p>
          ) : null}
          <Field
            label="To account number"
            name="toAccount"
            value={to}
            onChange={setTo}
            inputMode="numeric"
            autoComplete="off"
            maxLength={15}
            hint="12 digits. We check it as you type."
            error={toError ?? (field === 'toAccount' ? problem?.detail : undefined)}
            required
          />
          {to !== '' && toError === null ? (
            <p className="field-ok" role="status">
              ✓ Valid account number
            </p>
          ) : null}
          <Field
            label={`Amount (${source?.currency ?? ''})`}
            name="amount"
            value={amount}
            onChange={setAmount}
            inputMode="decimal"
            placeholder="0.00"
            error={
              amountError ??
              (short ? 'This is more than the available balance.' : null) ??
              (field === 'amount' ? problem?.detail : undefined)
            }
            required
          />
          <Field
            label="Description (optional)"
            name="description"
            value={description}
            onChange={setDescription}
            maxLength={140}
          />
          <ErrorMessage problem={field === 'toAccount' || field === 'amount' ? null : problem} />
          <button type="submit" className="button">
            Review transfer
          </button>
        </form>
      ) : null}

      {step === 'review' && source ? (
        <form onSubmit={confirm} noValidate>
          <h2>Check the details</h2>
          <dl className="summary">
            <dt>From</dt>
            <dd>{accountLabel(source)}</dd>
            <dt>To</dt>
            <dd>{groupAccountNumber(destination)}</dd>
            <dt>Amount</dt>
            <dd className="summary-amount">
              <Money amount={amount.trim()} currency={source.currency} />
            </dd>
            {description.trim() ? (
              <>
                <dt>Description</dt>
                <dd>{description.trim()}</dd>
              </>
            ) : null}
            <dt>Available afterwards</dt>
            <dd>
              {afterMinor !== null ? (
                <Money amount={fromMinor(afterMinor, decimals)} currency={source.currency} />
              ) : (
                '—'
              )}
            </dd>
          </dl>
          <p className="muted">The money leaves your account immediately and cannot be recalled.</p>
          <Field
            label="Transaction PIN"
            name="pin"
            type="password"
            value={pin}
            onChange={setPin}
            inputMode="numeric"
            autoComplete="off"
            maxLength={6}
            error={field === 'pin' && problem ? messageOf(problem) : undefined}
            required
          />
          <ErrorMessage problem={field === 'pin' ? null : problem} />
          <div className="actions">
            <button
              type="button"
              className="button button-secondary"
              onClick={() => setStep('details')}
            >
              Back
            </button>
            <button type="submit" className="button" disabled={busy || pin === ''}>
              {busy ? 'Sending…' : 'Confirm transfer'}
            </button>
          </div>
        </form>
      ) : null}

      {step === 'done' && result ? (
        <div className="result" role="status">
          <p className="result-icon" aria-hidden="true">
            ✓
          </p>
          <h2>Transfer sent</h2>
          <p>
            <Money amount={result.amount} currency={result.currency} /> went to{' '}
            {groupAccountNumber(result.counterpartyAccount ?? destination)}.
          </p>
          <p>
            New balance: <Money amount={result.balanceAfter} currency={result.currency} />
          </p>
          <p className="muted">Reference {result.id}</p>
          <div className="actions">
            <button type="button" className="button button-secondary" onClick={again}>
              Make another transfer
            </button>
            <Link to="/transactions" className="button">
              See transactions
            </Link>
          </div>
        </div>
      ) : null}
    </section>
  );
}
