import { type FormEvent, useEffect, useRef, useState } from 'react';
import { accountNumberProblem, groupAccountNumber } from '../account-number';
import { api, idempotencyKey, type Problem, problemOf, type Transaction } from '../api/client';
import { accountLabel, useAccounts, usePinAttemptsLeft } from '../hooks';
import { amountProblem, decimalsOf, fromMinor, toMinor } from '../money';
import { Receipt } from '../receipt';
import { Link, useQuery } from '../router';
import {
  Empty,
  ErrorMessage,
  Field,
  fieldMessage,
  fieldOf,
  Loading,
  Money,
  messageOf,
  pinAttemptsHint,
  Select,
  useFocusFirstError,
} from '../ui';
import { type Errors, errorsOf } from '../validation';

type Step = 'details' | 'review' | 'done';
type Holder = NonNullable<
  Awaited<
    ReturnType<
      typeof api.GET<
        '/api/v1/account-holders/{accountNumber}',
        { params: { path: { accountNumber: string } } }
      >
    >
  >['data']
>;

/**
 * Transfer in three steps whose state is in the URL (step, from, to, amount, description),
 * so back, forward and reload keep it. The PIN never goes into the URL.
 */
export function TransferPage() {
  const { accounts, problem: loadProblem, reload } = useAccounts();
  const [query, setQuery] = useQuery();
  const urlStep = query.get('step');
  const step: Step = urlStep === 'review' || urlStep === 'done' ? urlStep : 'details';
  const [from, setFrom] = useState(query.get('from') ?? '');
  const [to, setTo] = useState(query.get('to') ?? '');
  const [amount, setAmount] = useState(query.get('amount') ?? '');
  const [description, setDescription] = useState(query.get('desc') ?? '');
  const [mine, setMine] = useState(false);
  const [pin, setPin] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [result, setResult] = useState<Transaction | null>(null);
  const pinLeft = usePinAttemptsLeft(problem, result);
  const [holder, setHolder] = useState<Holder | null>(null);
  const [holderProblem, setHolderProblem] = useState<Problem | null>(null);
  const [recent, setRecent] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  // One key per confirmed transfer: a double click or a retry cannot send it twice.
  const [key, setKey] = useState(idempotencyKey);
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, attempt);

  // Back and forward change the URL; the fields follow it.
  const search = query.toString();
  useEffect(() => {
    const params = new URLSearchParams(search);
    const at = params.get('step');
    if (at === 'review' || at === 'done') {
      setFrom(params.get('from') ?? '');
      setTo(params.get('to') ?? '');
      setAmount(params.get('amount') ?? '');
      setDescription(params.get('desc') ?? '');
    }
  }, [search]);

  useEffect(() => {
    if (from === '' && accounts?.[0]) setFrom(accounts[0].accountNumber);
  }, [accounts, from]);

  const source = accounts?.find((a) => a.accountNumber === from);
  const destination = to.replace(/\s/g, '');
  const decimals = source ? decimalsOf(source.currency) : 2;
  const minor = toMinor(amount, decimals);
  const available = source ? toMinor(source.availableBalance, decimals) : null;
  const afterMinor = minor !== null && available !== null ? available - minor : null;

  function detailsErrors(): Errors {
    return errorsOf({
      toAccount:
        accountNumberProblem(to) ??
        (destination === from ? 'You cannot transfer to the same account.' : null),
      amount:
        (source ? amountProblem(amount, source.currency) : null) ??
        (afterMinor !== null && afterMinor < 0n
          ? 'This is more than the available balance.'
          : null),
    });
  }

  // Recent recipients: the latest accounts this source sent money to.
  useEffect(() => {
    if (from === '') return;
    let live = true;
    void api
      .GET('/api/v1/accounts/{accountNumber}/transactions', {
        params: { path: { accountNumber: from }, query: { limit: 50 } },
      })
      .then(({ data }) => {
        if (!live || data === undefined) return;
        const seen: string[] = [];
        for (const t of data.data) {
          const other = t.counterpartyAccount;
          if (t.type === 'transfer_out' && other && !seen.includes(other)) seen.push(other);
        }
        setRecent(seen.slice(0, 5));
      });
    return () => {
      live = false;
    };
  }, [from]);

  // The review says who gets the money before the PIN is asked for.
  useEffect(() => {
    if (step !== 'review' || accountNumberProblem(destination) !== null) return;
    let live = true;
    setHolder(null);
    setHolderProblem(null);
    void api
      .GET('/api/v1/account-holders/{accountNumber}', {
        params: { path: { accountNumber: destination } },
      })
      .then(({ data, error, response }) => {
        if (!live) return;
        if (data !== undefined) setHolder(data);
        else setHolderProblem(problemOf(error, response));
      });
    return () => {
      live = false;
    };
  }, [step, destination]);

  // A finished transfer survives a reload: its receipt is found again by reference.
  const ref = query.get('ref');
  useEffect(() => {
    if (step !== 'done' || ref === null || result?.id === ref || from === '') return;
    let live = true;
    void api
      .GET('/api/v1/accounts/{accountNumber}/transactions', {
        params: { path: { accountNumber: from }, query: { limit: 100 } },
      })
      .then(({ data }) => {
        const found = data?.data.find((t) => t.id === ref);
        if (live && found) setResult(found);
      });
    return () => {
      live = false;
    };
  }, [step, ref, from, result]);

  if (loadProblem !== null) return <ErrorMessage problem={loadProblem} />;
  if (accounts === null) return <Loading what="your accounts" />;
  if (accounts.length === 0) return <Empty>Open an account on the Accounts page first.</Empty>;

  function review(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const found = detailsErrors();
    setErrors(found);
    setAttempt((n) => n + 1);
    if (Object.keys(found).length > 0 || source === undefined) return;
    setQuery(
      { step: 'review', from, to: destination, amount: amount.trim(), desc: description.trim() },
      { push: true },
    );
  }

  const blocker =
    source === undefined
      ? null
      : source.status === 'frozen'
        ? 'Your account is frozen, so no money can leave it. Contact the bank.'
        : holder !== null && holder.currency !== source.currency
          ? `The recipient's account holds ${holder.currency} and yours holds ${source.currency}. A transfer needs the same currency on both sides.`
          : holder !== null && !holder.canReceive
            ? "The recipient's account cannot receive money at the moment (it is frozen)."
            : null;

  async function confirm(event: FormEvent) {
    event.preventDefault();
    if (source === undefined || blocker !== null) return;
    const found = errorsOf({ pin: pin === '' ? 'Enter your transaction PIN.' : null });
    setErrors(found);
    setAttempt((n) => n + 1);
    if (Object.keys(found).length > 0) return;
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
      setPin('');
      if (data !== undefined) {
        setResult(data);
        setKey(idempotencyKey());
        // Replace the review entry: back from the result must not offer to send it again.
        setQuery({ step: 'done', ref: data.id }, { push: false });
        await reload();
      } else {
        const refused = problemOf(error, response);
        if (refused.code === 'INVALID_PIN' || refused.code === 'USER_LOCKED') {
          refused.field = 'body.pin';
        }
        setProblem(refused);
        setAttempt((n) => n + 1);
        // A refused transfer moved nothing, so a corrected one is a new request.
        setKey(idempotencyKey());
        if (refused.field === 'body.toAccount' || refused.field === 'body.amount') {
          setQuery({ step: null }, { push: true });
        }
      }
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  function again() {
    setTo('');
    setAmount('');
    setDescription('');
    setResult(null);
    setProblem(null);
    setErrors({});
    setQuery({ step: null, to: null, amount: null, desc: null, ref: null }, { push: true });
  }

  const field = fieldOf(problem);
  const others = accounts.filter((a) => a.accountNumber !== from);
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
        <form ref={form} onSubmit={review} noValidate>
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
          {others.length > 0 ? (
            <fieldset className="segmented">
              <legend className="sr-only">Who gets the money?</legend>
              {[
                [false, 'Someone else'],
                [true, 'Between my accounts'],
              ].map(([value, label]) => (
                <label
                  key={String(value)}
                  className={mine === value ? 'segment selected' : 'segment'}
                >
                  <input
                    type="radio"
                    name="recipientKind"
                    checked={mine === value}
                    onChange={() => {
                      setMine(value === true);
                      setTo(value === true ? (others[0]?.accountNumber ?? '') : '');
                    }}
                  />
                  {label}
                </label>
              ))}
            </fieldset>
          ) : null}
          {mine ? (
            <Select
              label="To my account"
              name="toMine"
              value={destination}
              onChange={setTo}
              options={others.map((a) => ({ value: a.accountNumber, label: accountLabel(a) }))}
            />
          ) : (
            <>
              <Field
                label="To account number"
                name="toAccount"
                value={to}
                onChange={setTo}
                inputMode="numeric"
                autoComplete="off"
                maxLength={15}
                hint="12 digits. We check it as you type."
                error={
                  errors.toAccount ??
                  (to !== '' && accountNumberProblem(to)?.includes('check digits')
                    ? (accountNumberProblem(to) ?? undefined)
                    : fieldMessage('toAccount', null, problem))
                }
                required
              />
              {to !== '' && accountNumberProblem(to) === null && destination !== from ? (
                <p className="field-ok" role="status">
                  ✓ Valid account number
                </p>
              ) : null}
              {recent.length > 0 ? (
                <div className="recent">
                  <p className="hint" id="recent-label">
                    Recent recipients
                  </p>
                  <ul className="chips" aria-labelledby="recent-label">
                    {recent.map((n) => (
                      <li key={n}>
                        <button type="button" className="chip" onClick={() => setTo(n)}>
                          {groupAccountNumber(n)}
                        </button>
                      </li>
                    ))}
                  </ul>
                </div>
              ) : null}
            </>
          )}
          <Field
            label={`Amount (${source?.currency ?? ''})`}
            name="amount"
            value={amount}
            onChange={setAmount}
            inputMode="decimal"
            placeholder="0.00"
            error={fieldMessage('amount', errors.amount, problem)}
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
        <form ref={form} onSubmit={confirm} noValidate>
          <h2>Check the details</h2>
          <dl className="summary">
            <dt>From</dt>
            <dd>{accountLabel(source)}</dd>
            <dt>To</dt>
            <dd data-testid="recipient">
              {holder !== null ? (
                <>
                  {holder.ownAccount ? 'You' : holder.holderName} ·{' '}
                  {groupAccountNumber(destination)} · {holder.currency}
                </>
              ) : holderProblem !== null ? (
                groupAccountNumber(destination)
              ) : (
                <Loading what="the recipient" />
              )}
            </dd>
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
          {holderProblem !== null ? (
            <div className="alert alert-error" role="alert">
              {holderProblem.code === 'NOT_FOUND'
                ? 'No customer of this bank holds that account number. Check it and go back.'
                : messageOf(holderProblem)}
            </div>
          ) : null}
          {blocker !== null ? (
            <div className="alert alert-error" role="alert">
              {blocker}
            </div>
          ) : null}
          {blocker === null && holderProblem === null ? (
            <>
              <p className="muted">
                The money leaves your account immediately and cannot be recalled. After 3 wrong PINs
                in a row your access is locked until the bank unlocks it.
              </p>
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
                error={fieldMessage('pin', errors.pin, problem)}
                required
              />
              <ErrorMessage problem={field === 'pin' ? null : problem} />
            </>
          ) : null}
          <div className="actions">
            <button
              type="button"
              className="button button-secondary"
              onClick={() => setQuery({ step: null }, { push: true })}
            >
              Back
            </button>
            {blocker === null && holderProblem === null ? (
              <button type="submit" className="button" disabled={busy || holder === null}>
                {busy ? 'Sending…' : 'Confirm transfer'}
              </button>
            ) : null}
          </div>
        </form>
      ) : null}

      {step === 'done' ? (
        <div className="result">
          <p className="result-icon" aria-hidden="true">
            ✓
          </p>
          <h2>Transfer sent</h2>
          {result ? (
            <>
              <p role="status">
                New balance: <Money amount={result.balanceAfter} currency={result.currency} />
              </p>
              <Receipt
                transaction={result}
                counterparty={
                  holder !== null && holder.accountNumber === result.counterpartyAccount
                    ? `${holder.holderName} · ${groupAccountNumber(holder.accountNumber)}`
                    : undefined
                }
              />
            </>
          ) : (
            <Loading what="the receipt" />
          )}
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
