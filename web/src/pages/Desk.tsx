import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { groupAccountNumber } from '../account-number';
import {
  type Account,
  api,
  idempotencyKey,
  type Me,
  type Problem,
  problemOf,
  type Transaction,
} from '../api/client';
import type { paths } from '../api/schema';
import { amountProblem } from '../money';
import { Receipt, typeLabel } from '../receipt';
import { useQuery } from '../router';
import {
  Empty,
  ErrorMessage,
  Field,
  fieldMessage,
  fieldOf,
  formatDate,
  Loading,
  Money,
  messageOf,
  plural,
  Select,
  Success,
  useFocusFirstError,
} from '../ui';
import { type Errors, errorsOf } from '../validation';

type Customer = NonNullable<
  Awaited<
    ReturnType<typeof api.GET<'/api/v1/staff/customers', { params: { query: { q: string } } }>>
  >['data']
>['data'][number];

/**
 * The teller's cash desk: find a customer (name, username or account number), see their
 * accounts and recent movements, take or pay out cash with a printable receipt. Auditors see
 * the same, read-only. The search and the chosen account live in the URL.
 */
export function DeskPage({ me }: { me: Me }) {
  const canAct = me.roles.includes('teller') || me.roles.includes('admin');
  const [query, setQuery] = useQuery();
  const q = query.get('q') ?? '';
  const selected = query.get('account') ?? '';
  const [typed, setTyped] = useState(q);
  const [searchError, setSearchError] = useState<string | null>(null);
  const [customers, setCustomers] = useState<Customer[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [attempt, setAttempt] = useState(0);
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, attempt);

  useEffect(() => setTyped(q), [q]);

  useEffect(() => {
    if (q.trim().length < 2) {
      setCustomers(null);
      return;
    }
    let live = true;
    setCustomers(null);
    setProblem(null);
    void api
      .GET('/api/v1/staff/customers', { params: { query: { q: q.trim() } } })
      .then(({ data, error, response }) => {
        if (!live) return;
        if (data !== undefined) setCustomers(data.data);
        else setProblem(problemOf(error, response));
      });
    return () => {
      live = false;
    };
  }, [q]);

  function search(event: FormEvent) {
    event.preventDefault();
    const problemText =
      typed.trim().length < 2
        ? 'Enter at least 2 characters of a name, username or account number.'
        : null;
    setSearchError(problemText);
    setAttempt((n) => n + 1);
    if (problemText !== null) return;
    setQuery({ q: typed.trim(), account: null }, { push: true });
  }

  const holder = customers?.find((c) => c.accounts.some((a) => a.accountNumber === selected));

  return (
    <>
      <div className="page-head">
        <h1>{canAct ? 'Cash desk' : 'Customers'}</h1>
        <p className="muted">
          {canAct
            ? 'Find a customer, check the account, then take or pay out cash. Every movement is audited.'
            : 'Read-only: auditors can look up customers and accounts but move no money.'}
        </p>
      </div>
      <section className="card" aria-labelledby="find-title">
        <h2 id="find-title">Find a customer</h2>
        <form ref={form} className="form-row search-row" onSubmit={search} noValidate>
          <Field
            label="Name, username or account number"
            name="q"
            value={typed}
            onChange={setTyped}
            autoComplete="off"
            error={searchError}
          />
          <button type="submit" className="button">
            Search
          </button>
        </form>
        <ErrorMessage problem={problem} />
        {q && customers === null && problem === null ? <Loading what="customers" /> : null}
        {customers !== null && customers.length === 0 ? (
          <Empty>No customer matches “{q}”.</Empty>
        ) : null}
        {customers !== null && customers.length > 0 ? (
          <ul className="customer-list" aria-label="Customers found">
            {customers.map((c) => (
              <li key={c.id} className="customer" data-username={c.username}>
                <p className="customer-name">
                  <strong>{c.fullName}</strong> <span className="muted">@{c.username}</span>{' '}
                  {c.locked ? <span className="badge badge-warn">Locked</span> : null}
                </p>
                {c.accounts.length === 0 ? (
                  <p className="muted">No accounts yet.</p>
                ) : (
                  <ul className="customer-accounts">
                    {c.accounts.map((a) => (
                      <li key={a.accountNumber}>
                        <button
                          type="button"
                          className={
                            a.accountNumber === selected ? 'account-pick selected' : 'account-pick'
                          }
                          aria-pressed={a.accountNumber === selected}
                          onClick={() => setQuery({ account: a.accountNumber }, { push: true })}
                        >
                          <span>
                            {a.nickname ?? (a.type === 'savings' ? 'Savings' : 'Checking')} ·{' '}
                            {groupAccountNumber(a.accountNumber)}
                          </span>
                          <Money amount={a.balance} currency={a.currency} />
                          {a.status === 'frozen' ? (
                            <span className="badge badge-warn">Frozen</span>
                          ) : null}
                        </button>
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
          </ul>
        ) : null}
      </section>
      {selected ? (
        <AccountPanel
          key={selected}
          accountNumber={selected}
          holderName={holder?.fullName}
          canAct={canAct}
          staffName={me.fullName}
        />
      ) : null}
    </>
  );
}

function AccountPanel(props: {
  accountNumber: string;
  holderName: string | undefined;
  canAct: boolean;
  staffName: string;
}) {
  const [account, setAccount] = useState<Account | null>(null);
  const [movements, setMovements] = useState<Transaction[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);

  const reload = useCallback(async () => {
    const path = { accountNumber: props.accountNumber };
    const [one, history] = await Promise.all([
      api.GET('/api/v1/accounts/{accountNumber}', { params: { path } }),
      api.GET('/api/v1/accounts/{accountNumber}/transactions', {
        params: { path, query: { limit: 10 } },
      }),
    ]);
    if (one.data !== undefined) setAccount(one.data);
    else setProblem(problemOf(one.error, one.response));
    if (history.data !== undefined) setMovements(history.data.data);
  }, [props.accountNumber]);

  useEffect(() => {
    void reload();
  }, [reload]);

  if (problem !== null) return <ErrorMessage problem={problem} />;
  if (account === null) return <Loading what="the account" />;

  return (
    <div className="desk-grid">
      <section
        className="card"
        aria-labelledby="account-title"
        data-account={account.accountNumber}
      >
        <h2 id="account-title">
          {account.nickname ?? (account.type === 'savings' ? 'Savings' : 'Checking')} ·{' '}
          {groupAccountNumber(account.accountNumber)}
        </h2>
        <dl className="summary">
          <dt>Holder</dt>
          <dd>{props.holderName ?? '—'}</dd>
          <dt>Balance</dt>
          <dd data-testid="balance">
            <Money amount={account.balance} currency={account.currency} />
          </dd>
          <dt>Available</dt>
          <dd data-testid="available">
            <Money amount={account.availableBalance} currency={account.currency} />
          </dd>
          <dt>Status</dt>
          <dd>{account.status === 'frozen' ? 'Frozen: no money moves in or out' : 'Active'}</dd>
        </dl>
        <h3>Recent movements</h3>
        {movements === null ? <Loading what="movements" /> : null}
        {movements !== null && movements.length === 0 ? <Empty>No movements yet.</Empty> : null}
        {movements !== null && movements.length > 0 ? (
          <ul className="movement-list">
            {movements.map((t) => (
              <li key={t.id} className="movement">
                <span className="movement-main">
                  <span>{typeLabel(t.type)}</span>
                  <span className="muted">{formatDate(t.createdAt)}</span>
                </span>
                <span className={t.direction === 'credit' ? 'credit' : 'debit'}>
                  {t.direction === 'credit' ? '+' : '−'}
                  <Money amount={t.amount} currency={t.currency} />
                </span>
              </li>
            ))}
          </ul>
        ) : null}
        {movements !== null ? (
          <p className="muted">Showing the latest {plural(movements.length, 'movement')}.</p>
        ) : null}
      </section>
      {props.canAct ? (
        <CashForm
          account={account}
          holderName={props.holderName}
          staffName={props.staffName}
          onDone={reload}
        />
      ) : null}
      <HoldsSection account={account} canAct={props.canAct} onChanged={reload} />
    </div>
  );
}

function CashForm(props: {
  account: Account;
  holderName: string | undefined;
  staffName: string;
  onDone: () => Promise<void>;
}) {
  const { account } = props;
  const [kind, setKind] = useState<'deposit' | 'withdrawal'>('deposit');
  const [amount, setAmount] = useState('');
  const [description, setDescription] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [done, setDone] = useState<Transaction | null>(null);
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  // One key per cash movement: a double click or a retried request cannot post it twice.
  const [key, setKey] = useState(idempotencyKey);
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, attempt);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    setDone(null);
    const found = errorsOf({ amount: amountProblem(amount, account.currency) });
    setErrors(found);
    setAttempt((n) => n + 1);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const params = {
        path: { accountNumber: account.accountNumber },
        header: { 'idempotency-key': key },
      };
      const body = {
        amount: amount.trim(),
        ...(description.trim() ? { description: description.trim() } : {}),
      };
      const result =
        kind === 'deposit'
          ? await api.POST('/api/v1/accounts/{accountNumber}/deposits', { params, body })
          : await api.POST('/api/v1/accounts/{accountNumber}/withdrawals', { params, body });
      if (result.data !== undefined) {
        setDone(result.data);
        setAmount('');
        setDescription('');
        setKey(idempotencyKey());
        await props.onDone();
      } else {
        setProblem(problemOf(result.error, result.response));
        setKey(idempotencyKey());
        setAttempt((n) => n + 1);
      }
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  const field = fieldOf(problem);
  return (
    <section className="card" aria-labelledby="cash-title">
      <h2 id="cash-title">Cash</h2>
      <form ref={form} onSubmit={submit} noValidate>
        <fieldset className="segmented">
          <legend className="sr-only">Deposit or withdraw</legend>
          {(['deposit', 'withdrawal'] as const).map((value) => (
            <label key={value} className={kind === value ? 'segment selected' : 'segment'}>
              <input
                type="radio"
                name="cashKind"
                value={value}
                checked={kind === value}
                onChange={() => {
                  setKind(value);
                  setProblem(null);
                  setDone(null);
                }}
              />
              {value === 'deposit' ? 'Take cash in' : 'Pay cash out'}
            </label>
          ))}
        </fieldset>
        <Field
          label={`Amount (${account.currency})`}
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
          error={fieldMessage('description', null, problem)}
        />
        <ErrorMessage problem={field === 'amount' || field === 'description' ? null : problem} />
        <button type="submit" className="button" disabled={busy}>
          {busy ? 'Working…' : kind === 'deposit' ? 'Deposit cash' : 'Withdraw cash'}
        </button>
      </form>
      {done !== null ? (
        <div className="alert alert-success" role="status">
          {done.type === 'deposit' ? 'Deposited' : 'Paid out'}{' '}
          <Money amount={done.amount} currency={done.currency} />. New balance:{' '}
          <Money amount={done.balanceAfter} currency={done.currency} />.
        </div>
      ) : null}
      {done !== null ? (
        <Receipt transaction={done} holder={props.holderName} handledBy={props.staffName} />
      ) : null}
    </section>
  );
}

type Hold =
  paths['/api/v1/holds/{holdId}']['get']['responses']['200']['content']['application/json'];

const HOLD_EXPIRY: Array<{ value: string; label: string }> = [
  { value: '3600', label: '1 hour' },
  { value: '86400', label: '1 day' },
  { value: '604800', label: '7 days' },
  { value: '2592000', label: '30 days' },
];

/**
 * Holds at the desk: money reserved on the account (a cheque waiting to clear, a card
 * authorisation taken by phone). The teller places one, and later captures it (the money
 * goes to the bank's settlement account) or releases it. Each action is audited by the
 * server; auditors see the list only.
 */
function HoldsSection(props: {
  account: Account;
  canAct: boolean;
  onChanged: () => Promise<void>;
}) {
  const { account } = props;
  const [holds, setHolds] = useState<Hold[] | null>(null);
  const [loadProblem, setLoadProblem] = useState<Problem | null>(null);
  const [amount, setAmount] = useState('');
  const [description, setDescription] = useState('');
  const [expiry, setExpiry] = useState('604800');
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const [key, setKey] = useState(idempotencyKey);
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, attempt);

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET('/api/v1/accounts/{accountNumber}/holds', {
      params: {
        path: { accountNumber: account.accountNumber },
        query: { status: 'pending', limit: 50 },
      },
    });
    if (data !== undefined) {
      setHolds(data.data);
      setLoadProblem(null);
    } else setLoadProblem(problemOf(error, response));
  }, [account.accountNumber]);
  useEffect(() => {
    void load();
  }, [load]);

  async function afterAction(message: string) {
    setNotice(message);
    await Promise.all([load(), props.onChanged()]);
  }

  async function place(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    setNotice(null);
    const found = errorsOf({ holdAmount: amountProblem(amount, account.currency) });
    setErrors(found);
    setAttempt((n) => n + 1);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const { data, error, response } = await api.POST('/api/v1/accounts/{accountNumber}/holds', {
        params: {
          path: { accountNumber: account.accountNumber },
          header: { 'idempotency-key': key },
        },
        body: {
          amount: amount.trim(),
          expiresInSeconds: Number(expiry),
          ...(description.trim() ? { description: description.trim() } : {}),
        },
      });
      setKey(idempotencyKey());
      if (data !== undefined) {
        setAmount('');
        setDescription('');
        await afterAction(`Hold placed until ${formatDate(data.expiresAt)}.`);
      } else {
        const refused = problemOf(error, response);
        if (refused.code === 'INSUFFICIENT_FUNDS') refused.field = 'body.holdAmount';
        if (fieldOf(refused) === 'amount') refused.field = 'body.holdAmount';
        setProblem(refused);
        setAttempt((n) => n + 1);
      }
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  const field = fieldOf(problem);
  return (
    <section className="card" aria-labelledby="holds-title">
      <h2 id="holds-title">Holds</h2>
      <p className="muted">
        A hold keeps money in the account but stops it being spent, until it is captured, released
        or expires.
      </p>
      {notice !== null ? <Success>{notice}</Success> : null}
      <ErrorMessage problem={loadProblem} />
      {holds === null && loadProblem === null ? <Loading what="holds" /> : null}
      {holds !== null && holds.length === 0 ? <Empty>No pending holds.</Empty> : null}
      {holds !== null && holds.length > 0 ? (
        <ul className="hold-list" aria-label="Pending holds">
          {holds.map((hold) => (
            <HoldRow
              key={hold.id}
              hold={hold}
              canAct={props.canAct}
              onDone={(message) => afterAction(message)}
            />
          ))}
        </ul>
      ) : null}
      {props.canAct ? (
        <form ref={form} onSubmit={place} noValidate className="hold-form">
          <h3>Place a hold</h3>
          <Field
            label={`Hold amount (${account.currency})`}
            name="holdAmount"
            value={amount}
            onChange={setAmount}
            inputMode="decimal"
            placeholder="0.00"
            error={fieldMessage('holdAmount', errors.holdAmount, problem)}
            required
          />
          <Field
            label="Reason (optional)"
            name="holdDescription"
            value={description}
            onChange={setDescription}
            maxLength={140}
            hint="For example: cheque 1042 waiting to clear."
          />
          <Select
            label="Release automatically after"
            name="holdExpiry"
            value={expiry}
            onChange={setExpiry}
            options={HOLD_EXPIRY}
          />
          <ErrorMessage problem={field === 'holdAmount' ? null : problem} />
          <button type="submit" className="button" disabled={busy}>
            {busy ? 'Working…' : 'Place hold'}
          </button>
        </form>
      ) : null}
    </section>
  );
}

/** One pending hold with its two actions, each confirmed before it is sent. */
function HoldRow(props: {
  hold: Hold;
  canAct: boolean;
  onDone: (message: string) => Promise<void>;
}) {
  const { hold } = props;
  const [mode, setMode] = useState<'idle' | 'capture' | 'release'>('idle');
  const [amount, setAmount] = useState(hold.amount);
  const [error, setError] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [key, setKey] = useState(idempotencyKey);
  const [attempt, setAttempt] = useState(0);
  const row = useRef<HTMLLIElement>(null);
  useFocusFirstError(row, attempt);

  async function act() {
    setProblem(null);
    if (mode === 'capture') {
      const wrong = amountProblem(amount, hold.currency);
      setError(wrong);
      setAttempt((n) => n + 1);
      if (wrong !== null) return;
    }
    setBusy(true);
    try {
      const params = { path: { holdId: hold.id }, header: { 'idempotency-key': key } };
      const result =
        mode === 'capture'
          ? await api.POST('/api/v1/holds/{holdId}/capture', {
              params,
              body: amount.trim() === hold.amount ? {} : { amount: amount.trim() },
            })
          : await api.POST('/api/v1/holds/{holdId}/void', { params });
      setKey(idempotencyKey());
      if (result.response.ok) {
        setMode('idle');
        await props.onDone(
          mode === 'capture' ? 'Hold captured: the money has left the account.' : 'Hold released.',
        );
      } else {
        setProblem(problemOf(result.error, result.response));
        setAttempt((n) => n + 1);
      }
    } catch (failure) {
      setProblem(problemOf(failure));
    } finally {
      setBusy(false);
    }
  }

  const amountError =
    error ?? (fieldOf(problem) === 'amount' && problem ? messageOf(problem) : undefined);
  return (
    <li ref={row} className="hold" data-hold={hold.id}>
      <div className="hold-main">
        <span className="hold-amount">
          <Money amount={hold.amount} currency={hold.currency} />
        </span>
        <span>{hold.description ?? 'No reason given'}</span>
        <span className="muted">
          Placed {formatDate(hold.createdAt)} · releases {formatDate(hold.expiresAt)}
        </span>
      </div>
      {props.canAct && mode === 'idle' ? (
        <div className="actions">
          <button
            type="button"
            className="button button-secondary button-small"
            onClick={() => setMode('capture')}
          >
            Capture<span className="sr-only">{` the hold of ${hold.amount} ${hold.currency}`}</span>
            …
          </button>
          <button
            type="button"
            className="button button-secondary button-small"
            onClick={() => setMode('release')}
          >
            Release<span className="sr-only">{` the hold of ${hold.amount} ${hold.currency}`}</span>
            …
          </button>
        </div>
      ) : null}
      {mode !== 'idle' ? (
        <div className="hold-confirm">
          {mode === 'capture' ? (
            <Field
              label={`Amount to capture (${hold.currency}); the rest is released`}
              name="captureAmount"
              value={amount}
              onChange={setAmount}
              inputMode="decimal"
              error={amountError}
            />
          ) : (
            <p>
              Release the hold of <Money amount={hold.amount} currency={hold.currency} />? The money
              becomes available again.
            </p>
          )}
          <ErrorMessage problem={fieldOf(problem) === 'amount' ? null : problem} />
          <div className="actions">
            <button
              type="button"
              className="button button-secondary button-small"
              onClick={() => {
                setMode('idle');
                setProblem(null);
                setError(null);
              }}
            >
              Keep it
            </button>
            <button
              type="button"
              className={
                mode === 'capture' ? 'button button-small' : 'button button-danger button-small'
              }
              disabled={busy}
              onClick={() => void act()}
            >
              {busy ? 'Working…' : mode === 'capture' ? 'Capture now' : 'Release hold'}
            </button>
          </div>
        </div>
      ) : null}
    </li>
  );
}
