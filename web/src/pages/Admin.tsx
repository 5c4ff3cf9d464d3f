import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { accountNumberProblem, groupAccountNumber } from '../account-number';
import { api, type Me, type Problem, problemOf } from '../api/client';
import type { paths } from '../api/schema';
import { typeLabel } from '../receipt';
import { Link } from '../router';
import {
  Empty,
  ErrorMessage,
  Field,
  formatDate,
  Loading,
  Money,
  Select,
  Success,
  useFocusFirstError,
} from '../ui';

type Stats = NonNullable<Awaited<ReturnType<typeof loadStats>>['data']>;
type Users = NonNullable<Awaited<ReturnType<typeof loadLocked>>['data']>['data'];
type AdminTransactions = NonNullable<
  Awaited<ReturnType<typeof api.GET<'/api/v1/admin/transactions', object>>>['data']
>;
type AuditEvents = NonNullable<
  Awaited<ReturnType<typeof api.GET<'/api/v1/admin/audit-events', object>>>['data']
>;

const loadStats = () => api.GET('/api/v1/admin/stats');
const loadLocked = () =>
  api.GET('/api/v1/admin/users', { params: { query: { status: 'locked', limit: 100 } } });

export function AdminPage({ me }: { me: Me }) {
  const isAdmin = me.roles.includes('admin');
  // Bumped after every action, so the figures, lists and audit log show its effect.
  const [version, setVersion] = useState(0);
  const changed = () => setVersion((v) => v + 1);
  // Staff enrolled in two-step verification confirm each action with a current code.
  const [otp, setOtp] = useState('');
  const needsOtp = isAdmin && me.mfaEnabled;
  const actionBody = () => (needsOtp && otp.trim() !== '' ? { otp: otp.trim() } : {});
  return (
    <>
      <div className="page-head">
        <h1>Oversight</h1>
        <p className="muted">
          {isAdmin
            ? 'Signed in as an administrator. Every action here is audited.'
            : 'Signed in as an auditor: you can read everything here and change nothing.'}
        </p>
      </div>
      {needsOtp ? (
        <section className="card" aria-labelledby="otp-title">
          <h2 id="otp-title">Confirm actions</h2>
          <Field
            label="Code from your authenticator app"
            name="staffOtp"
            value={otp}
            onChange={setOtp}
            inputMode="numeric"
            autoComplete="one-time-code"
            maxLength={6}
            hint="Two-step verification is on for you: unlocking, freezing and asking for a reversal need a current code."
          />
        </section>
      ) : null}
      <StatsSection version={version} />
      <LockedUsers canAct={isAdmin} version={version} onChanged={changed} body={actionBody} />
      {isAdmin ? <FreezeSection onChanged={changed} body={actionBody} /> : null}
      <TransactionMonitor canReverse={isAdmin} onChanged={changed} body={actionBody} />
      <AuditLog version={version} />
    </>
  );
}

function StatsSection({ version }: { version: number }) {
  const [stats, setStats] = useState<Stats | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: version is the reload signal
  useEffect(() => {
    void loadStats().then(({ data, error, response }) =>
      data !== undefined ? setStats(data) : setProblem(problemOf(error, response)),
    );
  }, [version]);
  if (problem) return <ErrorMessage problem={problem} />;
  if (stats === null) return <Loading what="statistics" />;
  return (
    <section aria-labelledby="stats-title">
      <h2 id="stats-title" className="sr-only">
        Statistics
      </h2>
      <ul className="stats">
        <li className="stat">
          <span className="stat-label">Customers and staff</span>
          <span className="stat-value">{stats.users}</span>
        </li>
        <li className="stat">
          <span className="stat-label">Accounts</span>
          <span className="stat-value">{stats.accounts}</span>
        </li>
        <li className="stat">
          <span className="stat-label">Locked users</span>
          <span className="stat-value" data-testid="locked-count">
            {stats.lockedUsers}
          </span>
        </li>
        <li className="stat">
          <span className="stat-label">Frozen accounts</span>
          <span className="stat-value">{stats.frozenAccounts}</span>
        </li>
        {stats.balances.map((b) => (
          <li className="stat" key={b.currency}>
            <span className="stat-label">Deposits held ({b.currency})</span>
            <span className="stat-value">
              <Money amount={b.total} currency={b.currency} />
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function LockedUsers(props: {
  canAct: boolean;
  version: number;
  onChanged: () => void;
  body: () => { otp?: string };
}) {
  const { canAct } = props;
  const [users, setUsers] = useState<Users | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const reload = useCallback(async () => {
    const { data, error, response } = await loadLocked();
    if (data !== undefined) setUsers(data.data);
    else setProblem(problemOf(error, response));
  }, []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: version is the reload signal
  useEffect(() => {
    void reload();
  }, [reload, props.version]);

  async function unlock(userId: string, username: string) {
    setProblem(null);
    setMessage(null);
    const { error, response } = await api.POST('/api/v1/admin/users/{userId}/unlock', {
      params: { path: { userId } },
      body: props.body(),
    });
    if (response.ok) {
      setMessage(`${username} is unlocked.`);
      props.onChanged();
    } else setProblem(problemOf(error, response));
  }

  return (
    <section className="card" aria-labelledby="locked-title">
      <h2 id="locked-title">Locked users</h2>
      <ErrorMessage problem={problem} />
      {message ? <Success>{message}</Success> : null}
      {users === null && problem === null ? <Loading what="locked users" /> : null}
      {users !== null && users.length === 0 ? <Empty>No user is locked.</Empty> : null}
      {users !== null && users.length > 0 ? (
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Reason</th>
              <th scope="col">Since</th>
              <th scope="col">
                <span className="sr-only">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id} data-username={u.username}>
                <td data-label="User">
                  {u.fullName} <span className="muted">@{u.username}</span>
                </td>
                <td data-label="Reason">{u.lockReason ?? '—'}</td>
                <td data-label="Since">{u.lockedAt ? formatDate(u.lockedAt) : '—'}</td>
                <td>
                  {canAct ? (
                    <button
                      type="button"
                      className="button button-small"
                      onClick={() => void unlock(u.id, u.username)}
                      aria-label={`Unlock ${u.username}`}
                    >
                      Unlock
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function FreezeSection({
  onChanged,
  body: actionBody,
}: {
  onChanged: () => void;
  body: () => { otp?: string };
}) {
  const [accountNumber, setAccountNumber] = useState('');
  const [reason, setReason] = useState('');
  const [pending, setPending] = useState<'freeze' | 'unfreeze' | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const form = useRef<HTMLFormElement>(null);
  const [attempt, setAttempt] = useState(0);
  useFocusFirstError(form, attempt);

  function ask(kind: 'freeze' | 'unfreeze') {
    setProblem(null);
    setMessage(null);
    const found: Record<string, string> = {};
    const numberProblem = accountNumberProblem(accountNumber);
    if (numberProblem) found.freezeAccount = numberProblem;
    if (kind === 'freeze' && reason.trim() === '') {
      found.reason = 'Say why the account is frozen; the reason goes into the audit log.';
    }
    setErrors(found);
    setAttempt((n) => n + 1);
    if (Object.keys(found).length === 0) setPending(kind);
  }

  async function act() {
    if (pending === null) return;
    const kind = pending;
    setPending(null);
    const params = { path: { accountNumber: accountNumber.replace(/\s/g, '') } };
    const body = { ...actionBody(), ...(reason.trim() ? { reason: reason.trim() } : {}) };
    const { data, error, response } =
      kind === 'freeze'
        ? await api.POST('/api/v1/admin/accounts/{accountNumber}/freeze', { params, body })
        : await api.POST('/api/v1/admin/accounts/{accountNumber}/unfreeze', { params, body });
    if (data !== undefined) {
      setMessage(`Account ${groupAccountNumber(data.accountNumber)} is now ${data.status}.`);
      setReason('');
      onChanged();
    } else setProblem(problemOf(error, response));
  }

  return (
    <section className="card" aria-labelledby="freeze-title">
      <h2 id="freeze-title">Freeze or unfreeze an account</h2>
      <form
        ref={form}
        className="form-row"
        onSubmit={(e: FormEvent) => e.preventDefault()}
        noValidate
      >
        <Field
          label="Account number"
          name="freezeAccount"
          value={accountNumber}
          onChange={(v) => {
            setAccountNumber(v);
            setPending(null);
          }}
          inputMode="numeric"
          error={errors.freezeAccount ?? (problem?.field ? problem.detail : undefined)}
        />
        <Field
          label="Reason"
          name="reason"
          value={reason}
          onChange={setReason}
          maxLength={200}
          hint="Needed to freeze; kept in the audit log."
          error={errors.reason}
        />
        <button type="button" className="button button-danger" onClick={() => ask('freeze')}>
          Freeze
        </button>
        <button type="button" className="button button-secondary" onClick={() => ask('unfreeze')}>
          Unfreeze
        </button>
      </form>
      {pending !== null ? (
        <div className="alert alert-warn confirm" role="alertdialog" aria-labelledby="confirm-text">
          <p id="confirm-text">
            {pending === 'freeze'
              ? `Freeze account ${groupAccountNumber(accountNumber.replace(/\s/g, ''))}? No money can move in or out until it is unfrozen.`
              : `Unfreeze account ${groupAccountNumber(accountNumber.replace(/\s/g, ''))}? Money can move again at once.`}
          </p>
          <div className="actions">
            <button
              type="button"
              className="button button-secondary"
              onClick={() => setPending(null)}
            >
              Cancel
            </button>
            <button
              type="button"
              className={pending === 'freeze' ? 'button button-danger' : 'button'}
              onClick={() => void act()}
            >
              {pending === 'freeze' ? 'Yes, freeze it' : 'Yes, unfreeze it'}
            </button>
          </div>
        </div>
      ) : null}
      <ErrorMessage problem={problem?.field ? null : problem} />
      {message ? <Success>{message}</Success> : null}
    </section>
  );
}

type MonitorRow = AdminTransactions['data'][number];

function TransactionMonitor({
  canReverse,
  onChanged,
  body,
}: {
  canReverse: boolean;
  onChanged: () => void;
  body: () => { otp?: string };
}) {
  const [account, setAccount] = useState('');
  const [type, setType] = useState('');
  const [minAmount, setMinAmount] = useState('');
  const [from, setFrom] = useState('');
  const [rows, setRows] = useState<AdminTransactions | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [cursors, setCursors] = useState<string[]>([]);
  // Reversal from the monitor (issue #13): the admin picks a row, gives a reason, and a
  // reversal approval is filed for a second admin to decide in the approval queue.
  const [reversing, setReversing] = useState<MonitorRow | null>(null);
  const [requested, setRequested] = useState<ReadonlySet<string>>(new Set());
  const [reversed, setReversed] = useState<string | null>(null);
  // A row of an entry that is a reversal, or was reversed, cannot be reversed (again).
  const reversible = (t: MonitorRow) =>
    t.reversalOf === undefined && t.reversedBy === undefined && !requested.has(t.id);

  const load = useCallback(
    async (cursor?: string) => {
      setProblem(null);
      const query = {
        limit: 20,
        ...(account.trim() ? { account: account.replace(/\s/g, '') } : {}),
        ...(type ? { type: type as 'deposit' } : {}),
        ...(minAmount.trim() ? { minAmount: minAmount.trim() } : {}),
        ...(from ? { from: new Date(`${from}T00:00:00`).toISOString() } : {}),
        ...(cursor ? { cursor } : {}),
      };
      const { data, error, response } = await api.GET('/api/v1/admin/transactions', {
        params: { query },
      });
      if (data !== undefined) setRows(data);
      else setProblem(problemOf(error, response));
    },
    [account, type, minAmount, from],
  );
  // biome-ignore lint/correctness/useExhaustiveDependencies: the first page loads once; filters apply on submit
  useEffect(() => {
    void load();
  }, []);

  return (
    <section className="card" aria-labelledby="monitor-title">
      <h2 id="monitor-title">Transaction monitor</h2>
      <form
        className="filters"
        onSubmit={(event) => {
          event.preventDefault();
          setCursors([]);
          void load();
        }}
      >
        <Field
          label="Account"
          name="monitorAccount"
          value={account}
          onChange={setAccount}
          inputMode="numeric"
        />
        <Select
          label="Type"
          name="monitorType"
          value={type}
          onChange={setType}
          options={[
            { value: '', label: 'All types' },
            { value: 'deposit', label: 'Deposit' },
            { value: 'withdrawal', label: 'Withdrawal' },
            { value: 'transfer_in', label: 'Transfer in' },
            { value: 'transfer_out', label: 'Transfer out' },
          ]}
        />
        <Field
          label="Minimum amount"
          name="minAmount"
          value={minAmount}
          onChange={setMinAmount}
          inputMode="decimal"
        />
        <Field label="From date" name="monitorFrom" type="date" value={from} onChange={setFrom} />
        <button type="submit" className="button">
          Apply filters
        </button>
      </form>
      <ErrorMessage problem={problem} />
      {rows === null && problem === null ? <Loading what="transactions" /> : null}
      {rows !== null && rows.data.length === 0 ? <Empty>No transactions match.</Empty> : null}
      {rows !== null && rows.data.length > 0 ? (
        <>
          <table className="data-table">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Account</th>
                <th scope="col">Type</th>
                <th scope="col">Description</th>
                <th scope="col" className="num">
                  Amount
                </th>
                {canReverse ? (
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {rows.data.map((t) => (
                <tr key={`${t.id}-${t.accountNumber}`} data-transaction={t.id}>
                  <td data-label="Date">{formatDate(t.createdAt)}</td>
                  <td data-label="Account">{groupAccountNumber(t.accountNumber)}</td>
                  <td data-label="Type">
                    {typeLabel(t.type)}
                    {t.reversalOf !== undefined ? (
                      <div className="muted">reversal of {t.reversalOf}</div>
                    ) : null}
                    {t.reversedBy !== undefined ? (
                      <div className="muted">reversed by {t.reversedBy}</div>
                    ) : null}
                  </td>
                  <td data-label="Description">{t.description ?? '—'}</td>
                  <td data-label="Amount" className="num">
                    <Money amount={t.amount} currency={t.currency} />
                  </td>
                  {canReverse ? (
                    <td data-label="Actions">
                      {requested.has(t.id) ? (
                        <span className="muted">Reversal requested</span>
                      ) : reversible(t) ? (
                        <button
                          type="button"
                          className="button button-secondary"
                          aria-label={`Reverse transaction ${t.id}`}
                          onClick={() => {
                            setReversed(null);
                            setReversing(t);
                          }}
                        >
                          Reverse
                        </button>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
          {reversing !== null ? (
            <ReversalForm
              row={reversing}
              body={body}
              onCancel={() => setReversing(null)}
              onRequested={() => {
                setRequested((ids) => new Set([...ids, reversing.id]));
                setReversed(reversing.id);
                setReversing(null);
                onChanged();
              }}
            />
          ) : null}
          {reversed !== null ? (
            <Success>
              Reversal of transaction {reversed} requested: it waits for a second admin in the{' '}
              <Link to="/approvals">approval queue</Link>.
            </Success>
          ) : null}
          <div className="pager">
            <button
              type="button"
              className="button button-secondary"
              disabled={cursors.length === 0}
              onClick={() => {
                const previous = cursors.slice(0, -1);
                setCursors(previous);
                void load(previous[previous.length - 1]);
              }}
            >
              Newer
            </button>
            <button
              type="button"
              className="button button-secondary"
              disabled={rows.nextCursor === null}
              onClick={() => {
                if (rows.nextCursor === null) return;
                setCursors([...cursors, rows.nextCursor]);
                void load(rows.nextCursor);
              }}
            >
              Older
            </button>
          </div>
        </>
      ) : null}
    </section>
  );
}

/** Files a reversal approval for one monitor row; a second admin decides it. */
function ReversalForm({
  row,
  body,
  onCancel,
  onRequested,
}: {
  row: MonitorRow;
  body: () => { otp?: string };
  onCancel: () => void;
  onRequested: () => void;
}) {
  const [reason, setReason] = useState('');
  const [reasonError, setReasonError] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (busy) return;
    if (reason.trim() === '') {
      setReasonError('Say why it is reversed: the second admin and the audit log see it.');
      return;
    }
    setBusy(true);
    setReasonError(null);
    setProblem(null);
    const { data, error, response } = await api.POST('/api/v1/admin/transactions/{id}/reversal', {
      params: { path: { id: row.id } },
      body: { reason: reason.trim(), ...body() },
    });
    setBusy(false);
    if (data !== undefined) onRequested();
    else setProblem(problemOf(error, response));
  };
  return (
    <form
      className="alert alert-warn confirm"
      aria-labelledby="reverse-title"
      data-testid="reversal-form"
      onSubmit={(event) => void submit(event)}
    >
      <h3 id="reverse-title">Reverse transaction {row.id}</h3>
      <p>
        {typeLabel(row.type)} of <Money amount={row.amount} currency={row.currency} /> on account{' '}
        {groupAccountNumber(row.accountNumber)}, {formatDate(row.createdAt)}. A mirroring entry is
        posted only when a second admin approves it in the approval queue.
      </p>
      <Field
        label="Reason for the reversal"
        name="monitorReversalReason"
        value={reason}
        onChange={setReason}
        maxLength={200}
        error={reasonError}
        required
      />
      <ErrorMessage problem={problem} />
      <div className="actions">
        <button type="button" className="button button-secondary" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-danger" disabled={busy}>
          Request reversal
        </button>
      </div>
    </form>
  );
}

const AUDIT_LABELS: Record<string, string> = {
  'auth.login': 'Sign-in',
  'auth.logout': 'Sign-out',
  'auth.refresh_reused': 'Stolen session detected',
  'auth.password_changed': 'Password changed',
  'auth.password_reset_requested': 'Password reset asked for',
  'auth.password_reset': 'Password reset',
  'auth.pin_changed': 'PIN changed',
  'auth.mfa_enabled': 'Two-step turned on',
  'auth.mfa_disabled': 'Two-step turned off',
  'auth.mfa_recovery_codes_renewed': 'New recovery codes made',
  'auth.session_ended': 'Device signed out',
  'money.staff_hold_placed': 'Hold placed by staff',
  'money.staff_hold_captured': 'Hold captured by staff',
  'money.staff_hold_voided': 'Hold released by staff',
  'user.created': 'User created',
  'user.locked': 'User locked',
  'user.unlocked': 'User unlocked',
  'user.roles_changed': 'Roles changed',
  'account.frozen': 'Account frozen',
  'account.unfrozen': 'Account unfrozen',
  'money.staff_deposit': 'Cash deposit by staff',
  'money.staff_withdrawal': 'Cash withdrawal by staff',
};

type AuditAction = NonNullable<
  paths['/api/v1/admin/audit-events']['get']['parameters']['query']
>['action'];

function AuditLog({ version }: { version: number }) {
  const [events, setEvents] = useState<AuditEvents | null>(null);
  const [names, setNames] = useState<Map<string, string>>(new Map());
  const [problem, setProblem] = useState<Problem | null>(null);
  const [action, setAction] = useState('');
  const [outcome, setOutcome] = useState('');
  const [cursors, setCursors] = useState<string[]>([]);

  const load = useCallback(
    async (cursor?: string) => {
      setProblem(null);
      const query = {
        limit: 25,
        ...(action ? { action: action as AuditAction } : {}),
        ...(outcome ? { outcome: outcome as 'success' } : {}),
        ...(cursor ? { cursor } : {}),
      };
      const { data, error, response } = await api.GET('/api/v1/admin/audit-events', {
        params: { query },
      });
      if (data === undefined) {
        setProblem(problemOf(error, response));
        return;
      }
      setEvents(data);
      // Actors are user ids; show who they are.
      const ids = [...new Set(data.data.map((e) => e.actor).filter((id): id is string => !!id))];
      if (ids.length > 0) {
        const found = await api.GET('/api/v1/staff/users', {
          params: { query: { ids: ids.join(',') } },
        });
        if (found.data !== undefined) {
          setNames(new Map(found.data.data.map((u) => [u.id, u.username])));
        }
      }
    },
    [action, outcome],
  );
  // biome-ignore lint/correctness/useExhaustiveDependencies: filters and version reload page one
  useEffect(() => {
    setCursors([]);
    void load();
  }, [load, version]);

  return (
    <section className="card" aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      <form
        className="filters"
        onSubmit={(event) => event.preventDefault()}
        aria-label="Audit filters"
      >
        <Select
          label="Action"
          name="auditAction"
          value={action}
          onChange={setAction}
          options={[
            { value: '', label: 'All actions' },
            ...Object.entries(AUDIT_LABELS).map(([value, label]) => ({ value, label })),
          ]}
        />
        <Select
          label="Outcome"
          name="auditOutcome"
          value={outcome}
          onChange={setOutcome}
          options={[
            { value: '', label: 'All outcomes' },
            { value: 'success', label: 'Succeeded' },
            { value: 'failure', label: 'Failed' },
            { value: 'denied', label: 'Denied' },
          ]}
        />
      </form>
      <ErrorMessage problem={problem} />
      {events === null && problem === null ? <Loading what="the audit log" /> : null}
      {events !== null && events.data.length === 0 ? <Empty>No events match.</Empty> : null}
      {events !== null && events.data.length > 0 ? (
        <>
          <table className="data-table">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">What</th>
                <th scope="col">Target</th>
                <th scope="col">Outcome</th>
              </tr>
            </thead>
            <tbody>
              {events.data.map((e) => (
                <tr key={e.id}>
                  <td data-label="When">{formatDate(e.at)}</td>
                  <td data-label="Who">
                    {e.actor === null ? 'Anonymous' : (names.get(e.actor) ?? 'Unknown user')}
                  </td>
                  <td data-label="What">{AUDIT_LABELS[e.action] ?? e.action}</td>
                  <td data-label="Target">{e.target ?? '—'}</td>
                  <td data-label="Outcome">{e.outcome}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="pager">
            <button
              type="button"
              className="button button-secondary"
              disabled={cursors.length === 0}
              onClick={() => {
                const previous = cursors.slice(0, -1);
                setCursors(previous);
                void load(previous[previous.length - 1]);
              }}
            >
              Newer
            </button>
            <span>Page {cursors.length + 1}</span>
            <button
              type="button"
              className="button button-secondary"
              disabled={events.nextCursor === null}
              onClick={() => {
                if (events.nextCursor === null) return;
                setCursors([...cursors, events.nextCursor]);
                void load(events.nextCursor);
              }}
            >
              Older
            </button>
          </div>
        </>
      ) : null}
    </section>
  );
}
