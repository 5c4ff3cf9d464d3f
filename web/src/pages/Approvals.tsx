import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { api, type Me, type Problem, problemOf } from '../api/client';
import { Empty, ErrorMessage, Field, formatDate, Loading, Select, Success } from '../ui';

/**
 * The maker-checker queue (issue #13): admins request reversals and decide what another
 * admin or a teller asked for; auditors read the queue. Who asked, who decided, when and
 * why are shown for every request.
 */

type Approvals = NonNullable<
  Awaited<ReturnType<typeof api.GET<'/api/v1/admin/approvals', object>>>['data']
>['data'];

export function ApprovalsPage({ me }: { me: Me }) {
  const isAdmin = me.roles.includes('admin');
  const [status, setStatus] = useState('pending');
  const [rows, setRows] = useState<Approvals | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [rejectReason, setRejectReason] = useState('');
  // Admins enrolled in two-step verification (every staff member must be) confirm each
  // request and decision with a current code from their app.
  const [otp, setOtp] = useState('');
  const needsOtp = isAdmin && me.mfaEnabled;
  const otpBody = (): { otp?: string } =>
    needsOtp && otp.trim() !== '' ? { otp: otp.trim() } : {};

  const load = useCallback(async () => {
    const query = status === '' ? {} : { status: status as 'pending' };
    const { data, error, response } = await api.GET('/api/v1/admin/approvals', {
      params: { query },
    });
    if (data !== undefined) setRows(data.data);
    else setProblem(problemOf(error, response));
  }, [status]);

  useEffect(() => {
    void load();
  }, [load]);

  const decide = async (id: string, verdict: 'approve' | 'reject') => {
    setProblem(null);
    setDone(null);
    const result =
      verdict === 'approve'
        ? await api.POST('/api/v1/admin/approvals/{id}/approve', {
            params: { path: { id } },
            body: otpBody(),
          })
        : await api.POST('/api/v1/admin/approvals/{id}/reject', {
            params: { path: { id } },
            body: {
              reason: rejectReason.trim() || 'rejected without a stated reason',
              ...otpBody(),
            },
          });
    if (result.data !== undefined) {
      setDone(verdict === 'approve' ? 'Approved and applied.' : 'Rejected.');
      await load();
    } else setProblem(problemOf(result.error, result.response));
  };

  return (
    <>
      <div className="page-head">
        <h1>Approvals</h1>
        <p className="muted">A second person decides what one person asked for.</p>
      </div>
      {needsOtp ? (
        <section className="card" aria-labelledby="approvals-otp-title">
          <h2 id="approvals-otp-title">Confirm actions</h2>
          <Field
            label="Code from your authenticator app"
            name="approvalsOtp"
            value={otp}
            onChange={setOtp}
            inputMode="numeric"
            autoComplete="one-time-code"
            maxLength={6}
            hint="Requests, approvals and rejections each need a current code."
          />
        </section>
      ) : null}
      {isAdmin ? <ReversalRequest onRequested={load} body={otpBody} /> : null}
      <section className="card" aria-labelledby="queue-title">
        <h2 id="queue-title">Queue</h2>
        <Select
          label="Status"
          name="approvalStatus"
          value={status}
          onChange={setStatus}
          options={[
            { value: 'pending', label: 'Pending' },
            { value: 'approved', label: 'Approved' },
            { value: 'rejected', label: 'Rejected' },
            { value: '', label: 'All' },
          ]}
        />
        {isAdmin ? (
          <Field
            label="Reason for a rejection"
            name="rejectReason"
            value={rejectReason}
            onChange={setRejectReason}
            maxLength={200}
          />
        ) : null}
        <ErrorMessage problem={problem} />
        {done ? <Success>{done}</Success> : null}
        {rows === null ? (
          <Loading what="approvals" />
        ) : rows.length === 0 ? (
          <Empty>Nothing here.</Empty>
        ) : (
          <table className="table" data-testid="approvals">
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">What</th>
                <th scope="col">Requested</th>
                <th scope="col">Decided</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((a) => {
                const subject = a.subject as Record<string, string | null>;
                return (
                  <tr key={a.id} data-approval={a.id}>
                    <td>{a.kind === 'reversal' ? 'Reversal' : 'Large deposit'}</td>
                    <td>
                      {subject.amount} {subject.currency} · account {subject.accountNumber}
                      {subject.transactionId ? ` · transaction ${subject.transactionId}` : ''}
                      {a.reason ? <div className="muted">{a.reason}</div> : null}
                    </td>
                    <td>
                      {a.requestedByUsername ?? a.requestedBy}
                      <div className="muted">{formatDate(a.createdAt)}</div>
                    </td>
                    <td>
                      {a.decidedByUsername ?? '—'}
                      {a.decidedAt ? <div className="muted">{formatDate(a.decidedAt)}</div> : null}
                      {a.decisionReason ? <div className="muted">{a.decisionReason}</div> : null}
                    </td>
                    <td>{a.status}</td>
                    <td>
                      {isAdmin && a.status === 'pending' && a.requestedBy !== me.id ? (
                        <>
                          <button type="button" onClick={() => void decide(a.id, 'approve')}>
                            Approve
                          </button>{' '}
                          <button type="button" onClick={() => void decide(a.id, 'reject')}>
                            Reject
                          </button>
                        </>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

function ReversalRequest({
  onRequested,
  body,
}: {
  onRequested: () => Promise<void>;
  body: () => { otp?: string };
}) {
  const [transactionId, setTransactionId] = useState('');
  const [reason, setReason] = useState('');
  const [problem, setProblem] = useState<Problem | null>(null);
  const [done, setDone] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setProblem(null);
    setDone(false);
    const { data, error, response } = await api.POST('/api/v1/admin/transactions/{id}/reversal', {
      params: { path: { id: transactionId.trim() } },
      body: { reason, ...body() },
    });
    if (data !== undefined) {
      setDone(true);
      setTransactionId('');
      setReason('');
      await onRequested();
    } else setProblem(problemOf(error, response));
  };
  return (
    <section className="card" aria-labelledby="reversal-title">
      <h2 id="reversal-title">Request a reversal</h2>
      <p className="muted">
        Take the transaction id from the transaction monitor. Another admin must approve it.
      </p>
      <form onSubmit={(event) => void submit(event)}>
        <Field
          label="Transaction id"
          name="reversalTransaction"
          value={transactionId}
          onChange={setTransactionId}
          inputMode="numeric"
          required
        />
        <Field label="Reason" name="reversalReason" value={reason} onChange={setReason} required />
        <ErrorMessage problem={problem} />
        {done ? <Success>Reversal requested: it waits for a second admin.</Success> : null}
        <button type="submit">Request reversal</button>
      </form>
    </section>
  );
}
