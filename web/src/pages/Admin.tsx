import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { groupAccountNumber } from '../account-number';
import { api, type Me, type Problem, problemOf } from '../api/client';
import { Empty, ErrorMessage, Field, formatDate, Loading, Money, Select, Success } from '../ui';

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
  return (
    <>
      <div className="page-head">
        <h1>Staff</h1>
        <p className="muted">Signed in as {me.roles.join(', ')}. Every action here is audited.</p>
      </div>
      <StatsSection />
      <LockedUsers canAct={isAdmin} />
      {isAdmin ? <FreezeSection /> : null}
      <TransactionMonitor />
      <AuditLog />
    </>
  );
}

function StatsSection() {
  const [stats, setStats] = useState<Stats | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  useEffect(() => {
    void loadStats().then(({ data, error, response }) =>
      data !== undefined ? setStats(data) : setProblem(problemOf(error, response)),
    );
  }, []);
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

function LockedUsers({ canAct }: { canAct: boolean }) {
  const [users, setUsers] = useState<Users | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const reload = useCallback(async () => {
    const { data, error, response } = await loadLocked();
    if (data !== undefined) setUsers(data.data);
    else setProblem(problemOf(error, response));
  }, []);
  useEffect(() => {
    void reload();
  }, [reload]);

  async function unlock(userId: string, username: string) {
    setProblem(null);
    setMessage(null);
    const { error, response } = await api.POST('/api/v1/admin/users/{userId}/unlock', {
      params: { path: { userId } },
      body: {},
    });
    if (response.ok) {
      setMessage(`${username} is unlocked.`);
      await reload();
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

function FreezeSection() {
  const [accountNumber, setAccountNumber] = useState('');
  const [problem, setProblem] = useState<Problem | null>(null);
  const [message, setMessage] = useState<string | null>(null);

  async function act(kind: 'freeze' | 'unfreeze') {
    setProblem(null);
    setMessage(null);
    const params = { path: { accountNumber: accountNumber.replace(/\s/g, '') } };
    const { data, error, response } =
      kind === 'freeze'
        ? await api.POST('/api/v1/admin/accounts/{accountNumber}/freeze', { params, body: {} })
        : await api.POST('/api/v1/admin/accounts/{accountNumber}/unfreeze', { params, body: {} });
    if (data !== undefined) {
      setMessage(`Account ${groupAccountNumber(data.accountNumber)} is now ${data.status}.`);
    } else setProblem(problemOf(error, response));
  }

  return (
    <section className="card" aria-labelledby="freeze-title">
      <h2 id="freeze-title">Freeze or unfreeze an account</h2>
      <form className="form-row" onSubmit={(e: FormEvent) => e.preventDefault()}>
        <Field
          label="Account number"
          name="freezeAccount"
          value={accountNumber}
          onChange={setAccountNumber}
          inputMode="numeric"
          error={problem?.field ? problem.detail : undefined}
        />
        <button type="button" className="button button-danger" onClick={() => void act('freeze')}>
          Freeze
        </button>
        <button
          type="button"
          className="button button-secondary"
          onClick={() => void act('unfreeze')}
        >
          Unfreeze
        </button>
      </form>
      <ErrorMessage problem={problem?.field ? null : problem} />
      {message ? <Success>{message}</Success> : null}
    </section>
  );
}

function TransactionMonitor() {
  const [account, setAccount] = useState('');
  const [type, setType] = useState('');
  const [minAmount, setMinAmount] = useState('');
  const [from, setFrom] = useState('');
  const [rows, setRows] = useState<AdminTransactions | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [cursors, setCursors] = useState<string[]>([]);

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
              </tr>
            </thead>
            <tbody>
              {rows.data.map((t) => (
                <tr key={`${t.id}-${t.accountNumber}`}>
                  <td data-label="Date">{formatDate(t.createdAt)}</td>
                  <td data-label="Account">{groupAccountNumber(t.accountNumber)}</td>
                  <td data-label="Type">{t.type}</td>
                  <td data-label="Description">{t.description ?? '—'}</td>
                  <td data-label="Amount" className="num">
                    <Money amount={t.amount} currency={t.currency} />
                  </td>
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

function AuditLog() {
  const [events, setEvents] = useState<AuditEvents | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  useEffect(() => {
    void api
      .GET('/api/v1/admin/audit-events', { params: { query: { limit: 50 } } })
      .then(({ data, error, response }) =>
        data !== undefined ? setEvents(data) : setProblem(problemOf(error, response)),
      );
  }, []);
  return (
    <section className="card" aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      <ErrorMessage problem={problem} />
      {events === null && problem === null ? <Loading what="the audit log" /> : null}
      {events !== null && events.data.length === 0 ? <Empty>No events yet.</Empty> : null}
      {events !== null && events.data.length > 0 ? (
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Outcome</th>
            </tr>
          </thead>
          <tbody>
            {events.data.map((e) => (
              <tr key={e.id}>
                <td data-label="When">{formatDate(e.at)}</td>
                <td data-label="Actor">{e.actor ?? '—'}</td>
                <td data-label="Action">{e.action}</td>
                <td data-label="Target">{e.target ?? '—'}</td>
                <td data-label="Outcome">{e.outcome}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
