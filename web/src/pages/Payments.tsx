import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { api, idempotencyKey, type Problem, problemOf } from '../api/client';
import type { paths } from '../api/schema';
import { accountLabel, useAccounts } from '../hooks';
import { amountProblem, decimalsOf, fromMinor, toMinor } from '../money';
import { useQuery } from '../router';
import {
  Empty,
  ErrorMessage,
  Field,
  fieldOf,
  formatDate,
  Loading,
  Money,
  messageOf,
  Select,
  useFocusFirstError,
} from '../ui';
import {
  bankCodeProblem,
  beneficiaryNameProblem,
  type Errors,
  errorsOf,
  foreignAccountProblem,
} from '../validation';

/**
 * Payments to and from other banks (issue #12): "Pay someone at another bank" in three steps
 * whose state is in the URL (as the transfer page; the PIN never is), the account's payments
 * with each one's status history, the payment notes the transaction list shows, and the
 * staff's reconciliation with the payment network.
 */

export type Payment =
  paths['/api/v1/payments/{paymentId}']['get']['responses']['200']['content']['application/json'];
type Reconciliation =
  paths['/api/v1/admin/reconciliation']['get']['responses']['200']['content']['application/json'];

type Step = 'details' | 'review' | 'done';

/** Where a payment stops changing (until, for a settled one, the other bank sends it back). */
export const FINAL = new Set(['settled', 'rejected', 'failed', 'returned', 'credited']);

const STATUS_LABELS: Record<string, string> = {
  pending: 'Waiting to be sent',
  submitted: 'Sent to the network',
  settled: 'Settled',
  rejected: 'Rejected',
  failed: 'Failed',
  returned: 'Returned',
  credited: 'Received',
};

export function statusLabel(status: string): string {
  return STATUS_LABELS[status] ?? status;
}

function StatusBadge({ status }: { status: string }) {
  const ok = status === 'settled' || status === 'credited';
  const bad = status === 'rejected' || status === 'failed' || status === 'returned';
  return (
    <span
      className={ok ? 'pay-status pay-status-ok' : bad ? 'pay-status pay-status-bad' : 'pay-status'}
      data-testid="payment-status"
    >
      {statusLabel(status)}
    </span>
  );
}

function StatusHistory({ payment }: { payment: Payment }) {
  return (
    <ol className="status-history" aria-label="Status history">
      {payment.statusHistory.map((change, i) => (
        // A payment's history only grows, so the index is a stable key.
        // biome-ignore lint/suspicious/noArrayIndexKey: see above.
        <li key={i}>
          <strong>{statusLabel(change.status)}</strong> · {formatDate(change.at)}
          {change.reason ? <span className="muted"> ({change.reason})</span> : null}
        </li>
      ))}
    </ol>
  );
}

/** An account's payments, newest first; `reload` reads them again. */
function usePayments(accountNumber: string) {
  const [payments, setPayments] = useState<Payment[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const reload = useCallback(async () => {
    if (accountNumber === '') return;
    const { data, error, response } = await api.GET('/api/v1/accounts/{accountNumber}/payments', {
      params: { path: { accountNumber }, query: { limit: 100 } },
    });
    if (data !== undefined) {
      setPayments(data.data);
      setProblem(null);
    } else setProblem(problemOf(error, response));
  }, [accountNumber]);
  useEffect(() => {
    setPayments(null);
    void reload().catch((error: unknown) => setProblem(problemOf(error)));
  }, [reload]);
  return { payments, problem, reload };
}

/**
 * What the transaction list says about movements that were payments with another bank:
 * by transaction id, a type ("Payment in") and who was on the other side.
 */
export function usePaymentNotes(
  accountNumber: string,
): Map<string, { type: string; text: string }> {
  const { payments } = usePayments(accountNumber);
  const notes = new Map<string, { type: string; text: string }>();
  for (const payment of payments ?? []) {
    const who = `${payment.counterparty.name} · ${payment.counterparty.accountNumber} at ${payment.counterparty.bankCode}`;
    if (payment.transactionId !== null) {
      notes.set(
        payment.transactionId,
        payment.direction === 'inbound'
          ? { type: 'Payment in', text: `From ${who}` }
          : { type: 'Payment out', text: `To ${who}` },
      );
    }
    if (payment.returnTransactionId !== undefined) {
      notes.set(payment.returnTransactionId, {
        type: 'Payment returned',
        text: `Sent back by ${who}`,
      });
    }
  }
  return notes;
}

export function PaymentsPage() {
  const { accounts, problem: loadProblem, reload: reloadAccounts } = useAccounts();
  const [query, setQuery] = useQuery();
  const urlStep = query.get('step');
  const step: Step = urlStep === 'review' || urlStep === 'done' ? urlStep : 'details';
  const [from, setFrom] = useState(query.get('from') ?? '');
  const [name, setName] = useState(query.get('name') ?? '');
  const [bankCode, setBankCode] = useState(query.get('bank') ?? '');
  const [account, setAccount] = useState(query.get('to') ?? '');
  const [amount, setAmount] = useState(query.get('amount') ?? '');
  const [reference, setReference] = useState(query.get('ref') ?? '');
  const [pin, setPin] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const [made, setMade] = useState<Payment | null>(null);
  // One key per confirmed payment: a double click or a retry cannot send it twice.
  const [key, setKey] = useState(idempotencyKey);
  const form = useRef<HTMLFormElement>(null);
  useFocusFirstError(form, attempt);

  const search = query.toString();
  useEffect(() => {
    const params = new URLSearchParams(search);
    if (params.get('step') === 'review') {
      setFrom(params.get('from') ?? '');
      setName(params.get('name') ?? '');
      setBankCode(params.get('bank') ?? '');
      setAccount(params.get('to') ?? '');
      setAmount(params.get('amount') ?? '');
      setReference(params.get('ref') ?? '');
    }
  }, [search]);

  useEffect(() => {
    if (from === '' && accounts?.[0]) setFrom(accounts[0].accountNumber);
  }, [accounts, from]);

  const { payments, problem: listProblem, reload: reloadPayments } = usePayments(from);

  // A sent payment is watched until it settles (or is rejected): the network answers
  // asynchronously. The payment id is in the URL, so a reload keeps watching it.
  const paymentId = query.get('payment');
  useEffect(() => {
    if (step !== 'done' || paymentId === null) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      const { data } = await api.GET('/api/v1/payments/{paymentId}', {
        params: { path: { paymentId } },
      });
      if (!live) return;
      if (data !== undefined) setMade(data);
      if (data === undefined || !FINAL.has(data.status)) {
        timer = setTimeout(() => void poll(), 1_000);
      } else {
        void reloadPayments();
        void reloadAccounts();
      }
    };
    void poll();
    return () => {
      live = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [step, paymentId, reloadPayments, reloadAccounts]);

  if (loadProblem !== null) return <ErrorMessage problem={loadProblem} />;
  if (accounts === null) return <Loading what="your accounts" />;
  if (accounts.length === 0) return <Empty>Open an account on the Accounts page first.</Empty>;

  const source = accounts.find((a) => a.accountNumber === from);
  const decimals = source ? decimalsOf(source.currency) : 2;
  const minor = toMinor(amount, decimals);
  const available = source ? toMinor(source.availableBalance, decimals) : null;
  const afterMinor = minor !== null && available !== null ? available - minor : null;
  const code = bankCode.trim().toUpperCase();
  const toAccount = account.replace(/\s/g, '');

  function review(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const found = errorsOf({
      name: beneficiaryNameProblem(name),
      bankCode: bankCodeProblem(bankCode),
      account: foreignAccountProblem(account),
      amount:
        (source ? amountProblem(amount, source.currency) : null) ??
        (afterMinor !== null && afterMinor < 0n
          ? 'This is more than the available balance.'
          : null),
      reference: reference.trim().length > 140 ? 'A reference has at most 140 characters.' : null,
    });
    setErrors(found);
    setAttempt((n) => n + 1);
    if (Object.keys(found).length > 0 || source === undefined) return;
    setQuery(
      {
        step: 'review',
        from,
        name: name.trim(),
        bank: code,
        to: toAccount,
        amount: amount.trim(),
        ref: reference.trim(),
      },
      { push: true },
    );
  }

  async function confirm(event: FormEvent) {
    event.preventDefault();
    if (source === undefined) return;
    const found = errorsOf({ pin: pin === '' ? 'Enter your transaction PIN.' : null });
    setErrors(found);
    setAttempt((n) => n + 1);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    setProblem(null);
    try {
      const { data, error, response } = await api.POST(
        '/api/v1/accounts/{accountNumber}/payments',
        {
          params: {
            path: { accountNumber: source.accountNumber },
            header: { 'idempotency-key': key },
          },
          body: {
            amount: amount.trim(),
            pin,
            beneficiary: { name: name.trim(), bankCode: code, accountNumber: toAccount },
            ...(reference.trim() ? { reference: reference.trim() } : {}),
          },
        },
      );
      setPin('');
      if (data !== undefined) {
        setMade(data);
        setKey(idempotencyKey());
        // Replace the review entry: back from the result must not offer to pay again.
        setQuery({ step: 'done', payment: data.id }, { push: false });
        await reloadAccounts();
      } else {
        const refused = problemOf(error, response);
        if (refused.code === 'INVALID_PIN' || refused.code === 'USER_LOCKED') {
          refused.field = 'body.pin';
        }
        setProblem(refused);
        setAttempt((n) => n + 1);
        setKey(idempotencyKey());
      }
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  function again() {
    setName('');
    setBankCode('');
    setAccount('');
    setAmount('');
    setReference('');
    setMade(null);
    setProblem(null);
    setErrors({});
    setQuery(
      {
        step: null,
        name: null,
        bank: null,
        to: null,
        amount: null,
        ref: null,
        payment: null,
      },
      { push: true },
    );
  }

  const field = fieldOf(problem);
  const problemText = problem === null ? null : messageOf(problem);
  return (
    <>
      <section className="card narrow" aria-labelledby="pay-title">
        <h1 id="pay-title">Pay someone at another bank</h1>
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
            <Field
              label="Beneficiary name"
              name="beneficiaryName"
              value={name}
              onChange={setName}
              autoComplete="off"
              maxLength={140}
              error={errors.name}
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
              error={errors.bankCode}
              required
            />
            <Field
              label="Account number"
              name="beneficiaryAccount"
              value={account}
              onChange={setAccount}
              autoComplete="off"
              maxLength={40}
              hint="As the recipient’s bank writes it: 4 to 34 letters or digits."
              error={errors.account}
              required
            />
            <Field
              label={`Amount (${source?.currency ?? ''})`}
              name="amount"
              value={amount}
              onChange={setAmount}
              inputMode="decimal"
              placeholder="0.00"
              error={errors.amount ?? (field === 'amount' ? problemText : undefined)}
              required
            />
            <Field
              label="Reference (optional)"
              name="reference"
              value={reference}
              onChange={setReference}
              maxLength={140}
              hint="The recipient sees it, for example an invoice number."
              error={errors.reference}
            />
            <ErrorMessage problem={field === 'amount' ? null : problem} />
            <button type="submit" className="button">
              Review payment
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
              <dd data-testid="beneficiary">
                {name.trim()} · {toAccount} · bank {code}
              </dd>
              <dt>Amount</dt>
              <dd className="summary-amount">
                <Money amount={amount.trim()} currency={source.currency} />
              </dd>
              {reference.trim() ? (
                <>
                  <dt>Reference</dt>
                  <dd>{reference.trim()}</dd>
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
            <p className="muted">
              The amount is reserved in your account at once and leaves it when the payment network
              settles the payment. If the other bank cannot take it, the reservation is released.
              After 3 wrong PINs in a row your access is locked.
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
              error={errors.pin ?? (field === 'pin' ? problemText : undefined)}
              required
            />
            <ErrorMessage problem={field === 'pin' ? null : problem} />
            <div className="actions">
              <button
                type="button"
                className="button button-secondary"
                onClick={() => setQuery({ step: null }, { push: true })}
              >
                Back
              </button>
              <button type="submit" className="button" disabled={busy}>
                {busy ? 'Sending…' : 'Confirm payment'}
              </button>
            </div>
          </form>
        ) : null}

        {step === 'done' ? (
          <div className="result">
            {made === null ? (
              <Loading what="the payment" />
            ) : (
              <>
                <p className="result-icon" aria-hidden="true">
                  {made.status === 'settled' ? '✓' : '…'}
                </p>
                <h2>
                  {made.status === 'settled'
                    ? 'Payment settled'
                    : FINAL.has(made.status)
                      ? 'Payment not made'
                      : 'Payment on its way'}
                </h2>
                <p role="status" aria-live="polite">
                  <Money amount={made.amount} currency={made.currency} /> to{' '}
                  {made.counterparty.name}: <StatusBadge status={made.status} />
                </p>
                {FINAL.has(made.status) ? null : (
                  <p className="muted">
                    The network settles payments in a few seconds; this page updates by itself.
                  </p>
                )}
                <StatusHistory payment={made} />
              </>
            )}
            <div className="actions">
              <button type="button" className="button button-secondary" onClick={again}>
                Make another payment
              </button>
            </div>
          </div>
        ) : null}
      </section>

      <section className="card" aria-labelledby="payments-title">
        <h2 id="payments-title">Payments with other banks</h2>
        <p className="muted">
          {source ? accountLabel(source) : ''}: payments you sent and received, newest first. Open
          one to see each step it went through.
        </p>
        {listProblem !== null ? <ErrorMessage problem={listProblem} /> : null}
        {payments === null && listProblem === null ? <Loading what="your payments" /> : null}
        {payments !== null && payments.length === 0 ? (
          <Empty>No payments with other banks on this account yet.</Empty>
        ) : null}
        {payments !== null && payments.length > 0 ? (
          <ul className="payment-list">
            {payments.map((payment) => (
              <li key={payment.id} data-testid="payment-row">
                <details>
                  <summary>
                    <span>
                      {payment.direction === 'outbound' ? 'To' : 'From'} {payment.counterparty.name}{' '}
                      <span className="muted">
                        ({payment.counterparty.accountNumber} at {payment.counterparty.bankCode})
                      </span>
                    </span>{' '}
                    <span className={payment.direction === 'inbound' ? 'credit' : undefined}>
                      {payment.direction === 'inbound' ? '+' : '−'}
                      <Money amount={payment.amount} currency={payment.currency} />
                    </span>{' '}
                    <StatusBadge status={payment.status} />
                  </summary>
                  <p className="muted">
                    {formatDate(payment.createdAt)}
                    {payment.reference ? ` · ${payment.reference}` : ''}
                  </p>
                  <StatusHistory payment={payment} />
                </details>
              </li>
            ))}
          </ul>
        ) : null}
      </section>
    </>
  );
}

function todayUtc(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Staff: one day of the ledger against the payment network's settlement report. */
export function ReconciliationPage() {
  const [query, setQuery] = useQuery();
  const date = query.get('date') ?? todayUtc();
  const [input, setInput] = useState(date);
  const [report, setReport] = useState<Reconciliation | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [dateError, setDateError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    setReport(null);
    setProblem(null);
    void api
      .GET('/api/v1/admin/reconciliation', { params: { query: { date } } })
      .then(({ data, error, response }) => {
        if (!live) return;
        if (data !== undefined) setReport(data);
        else setProblem(problemOf(error, response));
      })
      .catch((error: unknown) => live && setProblem(problemOf(error)));
    return () => {
      live = false;
    };
  }, [date]);

  function check(event: FormEvent) {
    event.preventDefault();
    if (!/^\d{4}-\d{2}-\d{2}$/.test(input)) {
      setDateError('Choose a day, like 2026-12-01.');
      return;
    }
    setDateError(null);
    setQuery({ date: input }, { push: true });
  }

  const mismatches = report
    ? [
        ...report.missingInLedger.map((item) => ({
          ...item,
          what: 'The network has it; the ledger does not',
          network: item.amount,
          ledger: '—',
        })),
        ...report.missingInNetwork.map((item) => ({
          ...item,
          what: 'The ledger has it; the network does not',
          network: '—',
          ledger: item.amount,
        })),
        ...report.amountMismatches.map((item) => ({
          ...item,
          what: 'The amounts differ',
          network: item.networkAmount,
          ledger: item.amount,
        })),
      ]
    : [];
  return (
    <section aria-labelledby="recon-title">
      <div className="page-head">
        <h1 id="recon-title">Reconciliation</h1>
      </div>
      <div className="card">
        <p className="muted">
          One day (UTC) of payments and returns in the ledger, compared with the payment network’s
          settlement report. Operators run the same check with{' '}
          <code>npm run corebank -- reconcile --date {date}</code>.
        </p>
        <form className="filters" onSubmit={check} noValidate aria-label="Day">
          <Field
            label="Day (UTC)"
            name="date"
            type="date"
            value={input}
            onChange={setInput}
            error={dateError}
          />
          <button type="submit" className="button">
            Compare
          </button>
        </form>
        {problem !== null ? <ErrorMessage problem={problem} /> : null}
        {report === null && problem === null ? <Loading what="the comparison" /> : null}
        {report !== null ? (
          <div aria-live="polite">
            {mismatches.length === 0 ? (
              <p className="alert alert-success" role="status" data-testid="reconciliation-result">
                {report.date}:{' '}
                {report.matched === 1
                  ? 'the one movement matches'
                  : `all ${report.matched} movements match`}{' '}
                the network’s report.
              </p>
            ) : (
              <p className="alert alert-error" role="status" data-testid="reconciliation-result">
                {report.date}: {mismatches.length} mismatch{mismatches.length === 1 ? '' : 'es'} to
                look into ({report.matched} movements match).
              </p>
            )}
          </div>
        ) : null}
      </div>
      {mismatches.length > 0 ? (
        <div className="card table-card">
          <table className="tx-table">
            <caption className="sr-only">Mismatches</caption>
            <thead>
              <tr>
                <th scope="col">What</th>
                <th scope="col">Movement</th>
                <th scope="col">Payment</th>
                <th scope="col" className="num">
                  Ledger
                </th>
                <th scope="col" className="num">
                  Network
                </th>
              </tr>
            </thead>
            <tbody>
              {mismatches.map((item) => (
                <tr key={`${item.what}:${item.kind}:${item.paymentId}:${item.networkPaymentId}`}>
                  <td data-label="What">{item.what}</td>
                  <td data-label="Movement">
                    {item.kind === 'return' ? 'Return' : 'Payment'}{' '}
                    {item.direction === 'inbound' ? 'in' : 'out'}
                  </td>
                  <td data-label="Payment" className="tx-description">
                    {item.paymentId ?? item.networkPaymentId ?? '—'}
                  </td>
                  <td data-label="Ledger" className="num">
                    {item.ledger === '—' ? (
                      '—'
                    ) : (
                      <Money amount={item.ledger} currency={item.currency} />
                    )}
                  </td>
                  <td data-label="Network" className="num">
                    {item.network === '—' ? (
                      '—'
                    ) : (
                      <Money amount={item.network} currency={item.currency} />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
