import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifyAudit } from '../src/audit/audit.ts';
import {
  createTestApp,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { ledgerMark } from './support/ledger-assertions.ts';

const TIMEOUT = { timeout: 180_000 };

interface Approval {
  id: string;
  kind: string;
  status: string;
  requestedBy: string;
  decidedBy: string | null;
  reason: string | null;
  decisionReason: string | null;
  createdAt: string;
  decidedAt: string | null;
  subject: Record<string, string | null>;
  result: { transactionId: string } | null;
}

function expectProblem(
  response: { status: number; body: unknown },
  status: number,
  code: string,
): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal((response.body as { code?: unknown }).code, code, JSON.stringify(response.body));
}

for (const engine of ENGINES) {
  describe(`controls [${engine}]`, () => {
    let t: TestApp;
    let admin: TestUser;
    let admin2: TestUser;
    let admin3: TestUser;
    let teller: TestUser;
    let auditor: TestUser;
    before(async () => {
      t = await createTestApp(engine, {
        DAILY_OUTGOING_LIMIT: 'EUR=250.00',
        DUAL_CONTROL_THRESHOLD: 'USD=1000.00',
      });
      admin = await t.staff('admin');
      admin2 = await t.staff('admin');
      admin3 = await t.staff('admin');
      teller = await t.staff('teller');
      auditor = await t.staff('auditor');
    });
    after(() => t.close());

    async function auditAndLedgerVerify(): Promise<void> {
      await ledgerMark(t);
      const audit = await verifyAudit(t.runtime.database.db);
      assert.ok(
        audit.ok,
        JSON.stringify(audit, (_k, v) => (typeof v === 'bigint' ? `${v}` : v)),
      );
    }

    /** Staff send a step-up code with every action; customers have none to send. */
    async function otpOf(by: TestUser): Promise<{ otp?: string }> {
      return by.mfaSecret === undefined ? {} : { otp: await t.staffOtp(by) };
    }

    async function setLimit(by: TestUser, userId: string, limits: Record<string, string>) {
      return t.request('PUT', `/api/v1/admin/users/${userId}/limits`, {
        token: by.token,
        body: { dailyOutgoing: limits, ...(await otpOf(by)) },
      });
    }

    async function requestReversal(by: TestUser, transactionId: string) {
      return t.request<Approval>('POST', `/api/v1/admin/transactions/${transactionId}/reversal`, {
        token: by.token,
        body: { reason: 'posted in error', ...(await otpOf(by)) },
      });
    }

    async function approve(by: TestUser, id: string) {
      return t.request<Approval>('POST', `/api/v1/admin/approvals/${id}/approve`, {
        token: by.token,
        body: await otpOf(by),
      });
    }

    async function reverse(transactionId: string): Promise<Response<Approval>> {
      const requested = await requestReversal(admin, transactionId);
      assert.equal(requested.status, 202, JSON.stringify(requested.body));
      assert.equal(requested.body.status, 'pending');
      return approve(admin2, requested.body.id);
    }

    it(
      '100 parallel transfers against a limit that allows exactly 37: exactly 37 succeed',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('500.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const set = await setLimit(admin, user.id, { USD: '37.00' });
        assert.equal(set.status, 200, JSON.stringify(set.body));
        const answers = await Promise.all(
          Array.from({ length: 100 }, () => t.transfer(user, account, bobAccount, '1.00')),
        );
        const ok = answers.filter((r) => r.status === 201).length;
        const refused = answers.filter((r) => r.status === 422 && r.body.code === 'LIMIT_EXCEEDED');
        assert.equal(ok, 37);
        assert.equal(refused.length, 63);
        assert.equal(await t.balance(user, account), '463.00');
        assert.equal(await t.balance(bob, bobAccount), '37.00');
        const mine = await t.request('GET', '/api/v1/me/limits', { token: user.token });
        assert.equal(mine.status, 200);
        assert.deepEqual(mine.body.dailyOutgoing, { EUR: '250.00', USD: '37.00' });
        assert.equal((mine.body.usedToday as Record<string, string>).USD, '37.00');
        assert.equal((mine.body.remainingToday as Record<string, string>).USD, '0.00');
        await auditAndLedgerVerify();
      },
    );

    it(
      'withdrawals and transfers count together; staff cash and deposits do not',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        assert.equal((await setLimit(admin, user.id, { USD: '10.00' })).status, 200);
        assert.equal((await t.withdraw(user, account, '6.00')).status, 201);
        expectProblem(await t.transfer(user, account, bobAccount, '5.00'), 422, 'LIMIT_EXCEEDED');
        assert.equal((await t.transfer(user, account, bobAccount, '4.00')).status, 201);
        expectProblem(await t.withdraw(user, account, '0.01'), 422, 'LIMIT_EXCEEDED');
        // Money coming in is not limited; a teller's counter withdrawal is the teller's act.
        assert.equal((await t.deposit(user, account, '50.00')).status, 201);
        assert.equal((await t.withdraw(teller, account, '20.00')).status, 201);
        const mine = await t.request('GET', '/api/v1/me/limits', { token: user.token });
        assert.equal((mine.body.usedToday as Record<string, string>).USD, '10.00');
        assert.equal(await t.balance(user, account), '120.00');
        // Raising the limit lets the customer go on at once.
        assert.equal((await setLimit(admin, user.id, { USD: '11.00' })).status, 200);
        assert.equal((await t.withdraw(user, account, '1.00')).status, 201);
        expectProblem(await t.withdraw(user, account, '0.01'), 422, 'LIMIT_EXCEEDED');
      },
    );

    it('the configured default applies per currency', TIMEOUT, async () => {
      const user = await t.customer();
      const mine = await t.request('GET', '/api/v1/me/limits', { token: user.token });
      assert.equal(mine.status, 200);
      assert.deepEqual(mine.body.dailyOutgoing, { EUR: '250.00' });
      const { accountNumber } = await t.openAccount(user, { currency: 'EUR' });
      assert.equal((await t.deposit(user, accountNumber, '300.00')).status, 201);
      expectProblem(await t.withdraw(user, accountNumber, '250.01'), 422, 'LIMIT_EXCEEDED');
      assert.equal((await t.withdraw(user, accountNumber, '250.00')).status, 201);
    });

    it(
      'customers, tellers and auditors cannot change limits; bad input is refused',
      TIMEOUT,
      async () => {
        const user = await t.customer();
        for (const who of [user, teller, auditor]) {
          expectProblem(await setLimit(who, user.id, { USD: '999999.00' }), 403, 'FORBIDDEN');
        }
        expectProblem(await setLimit(admin, user.id, { USD: '-1.00' }), 400, 'VALIDATION_FAILED');
        expectProblem(await setLimit(admin, user.id, { XXX: '1.00' }), 400, 'VALIDATION_FAILED');
        expectProblem(
          await setLimit(admin, '00000000-0000-4000-8000-000000000000', { USD: '1.00' }),
          404,
          'NOT_FOUND',
        );
        const mine = await t.request('GET', '/api/v1/me/limits', { token: user.token });
        assert.deepEqual(mine.body.dailyOutgoing, { EUR: '250.00' });
        // Zero stops all outgoing money.
        assert.equal((await setLimit(admin, user.id, { USD: '0' })).status, 200);
        const { accountNumber } = await t.openAccount(user);
        assert.equal((await t.deposit(user, accountNumber, '5.00')).status, 201);
        expectProblem(await t.withdraw(user, accountNumber, '0.01'), 422, 'LIMIT_EXCEEDED');
      },
    );

    it(
      'reverses a deposit: requester cannot approve, a second admin can, once',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const history = await t.request<{ data: Array<{ id: string }> }>(
          'GET',
          `/api/v1/accounts/${account}/transactions`,
          { token: user.token },
        );
        const depositId = history.body.data[0]?.id ?? '';
        const requested = await requestReversal(admin, depositId);
        assert.equal(requested.status, 202, JSON.stringify(requested.body));
        assert.equal(requested.body.kind, 'reversal');
        assert.equal(requested.body.requestedBy, admin.id);
        assert.equal(requested.body.reason, 'posted in error');
        expectProblem(await approve(admin, requested.body.id), 403, 'SAME_PERSON');
        expectProblem(await approve(auditor, requested.body.id), 403, 'FORBIDDEN');
        expectProblem(await approve(teller, requested.body.id), 403, 'FORBIDDEN');
        assert.equal(await t.balance(user, account), '100.00');
        const approved = await approve(admin2, requested.body.id);
        assert.equal(approved.status, 200, JSON.stringify(approved.body));
        assert.equal(approved.body.status, 'approved');
        assert.equal(approved.body.decidedBy, admin2.id);
        assert.ok(approved.body.decidedAt !== null && approved.body.result !== null);
        assert.equal(await t.balance(user, account), '0.00');
        // A second reversal of the same transaction is refused, and so is a second decision.
        expectProblem(await requestReversal(admin, depositId), 409, 'CONFLICT');
        expectProblem(await approve(admin3, requested.body.id), 409, 'CONFLICT');
        await auditAndLedgerVerify();
      },
    );

    it('reverses a withdrawal and a transfer', TIMEOUT, async () => {
      const { user, account } = await t.fundedCustomer('100.00');
      const withdrawal = await t.withdraw(user, account, '30.00');
      assert.equal(withdrawal.status, 201);
      const w = await reverse(String(withdrawal.body.id));
      assert.equal(w.status, 200, JSON.stringify(w.body));
      assert.equal(await t.balance(user, account), '100.00');
      await auditAndLedgerVerify();

      const bob = await t.customer();
      const bobAccount = (await t.openAccount(bob)).accountNumber;
      const transfer = await t.transfer(user, account, bobAccount, '40.00');
      assert.equal(transfer.status, 201);
      assert.equal(await t.balance(bob, bobAccount), '40.00');
      const r = await reverse(String(transfer.body.id));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(await t.balance(user, account), '100.00');
      assert.equal(await t.balance(bob, bobAccount), '0.00');
      await auditAndLedgerVerify();
    });

    it(
      'refuses a reversal the receiver can no longer cover, posting nothing',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const transfer = await t.transfer(user, account, bobAccount, '40.00');
        assert.equal((await t.withdraw(bob, bobAccount, '30.00')).status, 201);
        const mark = await ledgerMark(t);
        const requested = await requestReversal(admin, String(transfer.body.id));
        assert.equal(requested.status, 202);
        expectProblem(await approve(admin2, requested.body.id), 422, 'INSUFFICIENT_FUNDS');
        const after = await ledgerMark(t);
        assert.deepEqual(after, mark);
        assert.equal(await t.balance(user, account), '60.00');
        assert.equal(await t.balance(bob, bobAccount), '10.00');
        const list = await t.request<{ data: Approval[] }>(
          'GET',
          '/api/v1/admin/approvals?status=pending',
          {
            token: auditor.token,
          },
        );
        assert.ok(list.body.data.some((a) => a.id === requested.body.id));
        await auditAndLedgerVerify();
      },
    );

    it('two parallel approvals apply once', TIMEOUT, async () => {
      const { user, account } = await t.fundedCustomer('100.00');
      const withdrawal = await t.withdraw(user, account, '25.00');
      const requested = await requestReversal(admin, String(withdrawal.body.id));
      const mark = await ledgerMark(t);
      const answers = await Promise.all([
        approve(admin2, requested.body.id),
        approve(admin3, requested.body.id),
      ]);
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409]);
      const after = await ledgerMark(t);
      assert.equal(after.entries - mark.entries, 1n);
      assert.equal(await t.balance(user, account), '100.00');
      await auditAndLedgerVerify();
    });

    it(
      'a rejected request changes nothing; auditors read approvals; tellers cannot request',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const withdrawal = await t.withdraw(user, account, '10.00');
        expectProblem(await requestReversal(teller, String(withdrawal.body.id)), 403, 'FORBIDDEN');
        expectProblem(await requestReversal(auditor, String(withdrawal.body.id)), 403, 'FORBIDDEN');
        expectProblem(await requestReversal(admin, '999999999'), 404, 'NOT_FOUND');
        const requested = await requestReversal(admin, String(withdrawal.body.id));
        expectProblem(await requestReversal(admin2, String(withdrawal.body.id)), 409, 'CONFLICT');
        const mark = await ledgerMark(t);
        const reject = async (by: TestUser) =>
          t.request<Approval>('POST', `/api/v1/admin/approvals/${requested.body.id}/reject`, {
            token: by.token,
            body: { reason: 'the customer really took the cash', ...(await otpOf(by)) },
          });
        expectProblem(await reject(admin), 403, 'SAME_PERSON');
        expectProblem(await reject(auditor), 403, 'FORBIDDEN');
        const rejected = await reject(admin2);
        assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
        assert.equal(rejected.body.status, 'rejected');
        assert.equal(rejected.body.decisionReason, 'the customer really took the cash');
        expectProblem(await approve(admin3, requested.body.id), 409, 'CONFLICT');
        assert.deepEqual(await ledgerMark(t), mark);
        assert.equal(await t.balance(user, account), '90.00');
        const list = await t.request<{ data: Approval[] }>(
          'GET',
          '/api/v1/admin/approvals?status=rejected',
          { token: auditor.token },
        );
        assert.equal(list.status, 200);
        assert.ok(list.body.data.some((a) => a.id === requested.body.id));
        expectProblem(
          await t.request('GET', '/api/v1/admin/approvals', { token: teller.token }),
          403,
          'FORBIDDEN',
        );
        expectProblem(
          await t.request('GET', '/api/v1/admin/approvals', { token: user.token }),
          403,
          'FORBIDDEN',
        );
        // Every step is in the audit chain.
        const events = await t.runtime.database.db
          .selectFrom('audit_events')
          .select(['action', 'outcome'])
          .where('target', '=', `approval:${requested.body.id}`)
          .execute();
        const seen = events.map((e) => `${e.action}:${e.outcome}`);
        for (const expected of [
          'approval.requested:success',
          'approval.rejected:denied',
          'approval.rejected:success',
        ]) {
          assert.ok(seen.includes(expected), `${expected} in ${seen.join(', ')}`);
        }
        await auditAndLedgerVerify();
      },
    );

    it(
      'holds a staff deposit above DUAL_CONTROL_THRESHOLD until a second person approves',
      TIMEOUT,
      async () => {
        const user = await t.customer();
        const { accountNumber } = await t.openAccount(user);
        const held = await t.deposit(teller, accountNumber, '5000.00');
        assert.equal(held.status, 202, JSON.stringify(held.body));
        assert.equal(held.body.kind, 'large_deposit');
        assert.equal(held.body.status, 'pending');
        assert.equal(await t.balance(user, accountNumber), '0.00');
        // At or under the threshold, and a customer's own deposit, post at once.
        assert.equal((await t.deposit(teller, accountNumber, '1000.00')).status, 201);
        assert.equal((await t.deposit(user, accountNumber, '2000.00')).status, 201);
        const approved = await approve(admin, String(held.body.id));
        assert.equal(approved.status, 200, JSON.stringify(approved.body));
        assert.equal(await t.balance(user, accountNumber), '8000.00');
        // An admin's own large deposit cannot be approved by that admin.
        const own = await t.deposit(admin, accountNumber, '1500.00');
        assert.equal(own.status, 202);
        expectProblem(await approve(admin, String(own.body.id)), 403, 'SAME_PERSON');
        await auditAndLedgerVerify();
      },
    );

    it(
      'a held deposit honours Idempotency-Key: a retry replays the first answer and files nothing',
      TIMEOUT,
      async () => {
        const user = await t.customer();
        const { accountNumber } = await t.openAccount(user);
        const filed = async (): Promise<number> =>
          (
            await t.runtime.database.db
              .selectFrom('approvals')
              .select('id')
              .where('subject_key', '=', `account:${accountNumber}`)
              .execute()
          ).length;
        const key = { 'Idempotency-Key': `held-${accountNumber}` };
        const first = await t.deposit(teller, accountNumber, '5000.00', key);
        assert.equal(first.status, 202, JSON.stringify(first.body));
        assert.equal(first.headers['idempotent-replayed'], undefined);
        const retry = await t.deposit(teller, accountNumber, '5000.00', key);
        assert.equal(retry.status, 202, JSON.stringify(retry.body));
        assert.equal(retry.headers['idempotent-replayed'], 'true');
        assert.deepEqual(retry.body, first.body);
        assert.equal(await filed(), 1);
        // The same key with another request, held or not, is refused; nothing is filed.
        expectProblem(
          await t.deposit(teller, accountNumber, '6000.00', key),
          409,
          'IDEMPOTENCY_KEY_REUSED',
        );
        expectProblem(
          await t.deposit(teller, accountNumber, '10.00', key),
          409,
          'IDEMPOTENCY_KEY_REUSED',
        );
        assert.equal(await filed(), 1);
        // Approved, it is posted once; a late retry still gets the first answer, no deposit.
        assert.equal((await approve(admin, String(first.body.id))).status, 200);
        const late = await t.deposit(teller, accountNumber, '5000.00', key);
        assert.equal(late.status, 202);
        assert.deepEqual(late.body, first.body);
        assert.equal(await filed(), 1);
        assert.equal(await t.balance(user, accountNumber), '5000.00');
        // Keys are per staff member: another teller's same key is their own request.
        const teller2 = await t.staff('teller');
        const theirs = await t.deposit(teller2, accountNumber, '5000.00', key);
        assert.equal(theirs.status, 202);
        assert.notEqual(theirs.body.id, first.body.id);
        assert.equal(await filed(), 2);
        await auditAndLedgerVerify();
      },
    );

    it(
      'parallel retries of a held deposit with one Idempotency-Key file one request',
      TIMEOUT,
      async () => {
        const user = await t.customer();
        const { accountNumber } = await t.openAccount(user);
        const key = { 'Idempotency-Key': `held-parallel-${accountNumber}` };
        const answers = await Promise.all(
          Array.from({ length: 12 }, () => t.deposit(teller, accountNumber, '2500.00', key)),
        );
        assert.deepEqual(
          answers.map((a) => a.status),
          Array.from({ length: 12 }, () => 202),
          JSON.stringify(answers.map((a) => a.body)),
        );
        const ids = new Set(answers.map((a) => a.body.id));
        assert.equal(ids.size, 1);
        assert.equal(answers.filter((a) => a.headers['idempotent-replayed'] === 'true').length, 11);
        for (const answer of answers) assert.deepEqual(answer.body, answers[0]?.body);
        const filed = await t.runtime.database.db
          .selectFrom('approvals')
          .select('id')
          .where('subject_key', '=', `account:${accountNumber}`)
          .execute();
        assert.equal(filed.length, 1);
        const requested = await t.runtime.database.db
          .selectFrom('audit_events')
          .select('id')
          .where('action', '=', 'approval.requested')
          .where('target', '=', `approval:${[...ids][0]}`)
          .execute();
        assert.equal(requested.length, 1);
        await auditAndLedgerVerify();
      },
    );
  });
}
