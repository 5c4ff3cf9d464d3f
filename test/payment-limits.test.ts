import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type SandboxNetwork, startSandboxNetwork } from '../src/clearing-house/sandbox.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { ledgerMark } from './support/ledger-assertions.ts';
import { freePort } from './support/process.ts';

/**
 * Daily outgoing limits count payments to other banks with withdrawals, transfers and
 * standing-order runs (issue #13, decision 0017): from the moment the payment's hold is
 * placed, once (not again when the network settles it), and not at all once the network
 * rejects it. Against the payment network's sandbox, so payments really settle and reject
 * while the tests run.
 */

const TIMEOUT = { timeout: 180_000 };

interface Payment {
  id: string;
  status: string;
  code?: string;
}

interface Limits {
  usedToday: Record<string, string>;
  remainingToday: Record<string, string>;
}

for (const engine of ENGINES) {
  describe(`daily limits count payments [${engine}]`, () => {
    let t: TestApp;
    let sandbox: SandboxNetwork;
    let admin: TestUser;

    before(async () => {
      const port = await freePort();
      sandbox = await startSandboxNetwork({
        bankCode: 'CORBUS33',
        webhookUrl: `http://127.0.0.1:${port}/api/v1/network/events`,
      });
      t = await createTestApp(engine, {
        BANK_CODE: 'CORBUS33',
        PAYMENT_NETWORK_URL: sandbox.url,
        PAYMENT_NETWORK_CLIENT_ID: sandbox.clientId,
        PAYMENT_NETWORK_CLIENT_SECRET: sandbox.clientSecret,
        PAYMENT_NETWORK_WEBHOOK_SECRET: sandbox.webhookSecret,
        PAYMENT_DISPATCH_INTERVAL_MS: '50',
        // Standing orders run when the test says (runDue), on dates of its choosing.
        STANDING_ORDERS_SCHEDULER: 'off',
      });
      await t.app.listen({ host: '127.0.0.1', port });
      admin = await t.staff('admin');
    });
    after(async () => {
      await t.close();
      await sandbox.close();
    });

    function pay(
      user: TestUser,
      account: string,
      amount: string,
      options: { bankCode?: string; headers?: Record<string, string> } = {},
    ): Promise<Response<Payment>> {
      return t.request<Payment>('POST', `/api/v1/accounts/${account}/payments`, {
        token: user.token,
        body: {
          amount,
          pin: DEFAULT_PIN,
          beneficiary: {
            name: 'Bob Other',
            bankCode: options.bankCode ?? sandbox.sandboxBankCode,
            accountNumber: 'GB000123456',
          },
          reference: 'Invoice 42',
        },
        headers: options.headers ?? {},
      });
    }
    async function until(user: TestUser, id: string, status: string): Promise<void> {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const got = await t.request<Payment>('GET', `/api/v1/payments/${id}`, {
          token: user.token,
        });
        assert.equal(got.status, 200);
        if (got.body.status === status) return;
        if (Date.now() > deadline)
          assert.fail(`payment ${id} is ${got.body.status}, not ${status}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    async function setLimit(user: TestUser, usd: string): Promise<void> {
      const set = await t.request('PUT', `/api/v1/admin/users/${user.id}/limits`, {
        token: admin.token,
        body: { dailyOutgoing: { USD: usd }, otp: await t.staffOtp(admin) },
      });
      assert.equal(set.status, 200, JSON.stringify(set.body));
    }
    async function limits(user: TestUser): Promise<Limits> {
      const got = await t.request<Limits>('GET', '/api/v1/me/limits', { token: user.token });
      assert.equal(got.status, 200);
      return got.body;
    }
    function refusedForLimit(response: Response<unknown>): void {
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.equal((response.body as { code?: string }).code, 'LIMIT_EXCEEDED');
    }

    it(
      'a payment, a transfer and a withdrawal together cannot exceed the limit; settling counts nothing twice',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('200.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        await setLimit(user, '50.00');
        const key = { 'Idempotency-Key': `limit-pay-${user.id}` };
        const paid = await pay(user, account, '20.00', { headers: key });
        assert.equal(paid.status, 202, JSON.stringify(paid.body));
        // A replay of the same payment is the same payment: it counts once.
        const replay = await pay(user, account, '20.00', { headers: key });
        assert.equal(replay.status, 202);
        assert.equal(replay.body.id, paid.body.id);
        assert.equal((await limits(user)).usedToday.USD, '20.00');
        assert.equal((await t.transfer(user, account, bobAccount, '20.00')).status, 201);
        refusedForLimit(await t.withdraw(user, account, '10.01'));
        assert.equal((await t.withdraw(user, account, '10.00')).status, 201);
        refusedForLimit(await pay(user, account, '0.01'));
        refusedForLimit(await t.transfer(user, account, bobAccount, '0.01'));
        // The network settles the payment (a capture posted as a transfer by the payer): the
        // day's use stays what it was, and nothing more may leave.
        await until(user, paid.body.id, 'settled');
        const after = await limits(user);
        assert.equal(after.usedToday.USD, '50.00');
        assert.equal(after.remainingToday.USD, '0.00');
        refusedForLimit(await pay(user, account, '0.01'));
        refusedForLimit(await t.withdraw(user, account, '0.01'));
        assert.equal(await t.balance(user, account), '150.00');
        await ledgerMark(t);
      },
    );

    it('a payment counts on the day it was made, not on the day it settles', TIMEOUT, async () => {
      const { user, account } = await t.fundedCustomer('100.00');
      await setLimit(user, '30.00');
      const paid = await pay(user, account, '25.00');
      assert.equal(paid.status, 202);
      await until(user, paid.body.id, 'settled');
      assert.equal((await limits(user)).usedToday.USD, '25.00');
      // Made yesterday (as if just before midnight), settled today: today's use is nothing,
      // though the settlement's posting (by the payer) is dated today.
      const yesterday = new Date(Date.now() - 86_400_000).toISOString();
      await t.runtime.database.db
        .updateTable('payments')
        .set({ created_at: yesterday })
        .where('id', '=', paid.body.id)
        .execute();
      assert.equal((await limits(user)).usedToday.USD, '0.00');
      assert.equal((await t.withdraw(user, account, '30.00')).status, 201);
      refusedForLimit(await t.withdraw(user, account, '0.01'));
      await ledgerMark(t);
    });

    it(
      '40 parallel payments against a limit that allows exactly 13: exactly 13 are made',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        await setLimit(user, '13.00');
        const answers = await Promise.all(
          Array.from({ length: 40 }, () => pay(user, account, '1.00')),
        );
        const made = answers.filter((r) => r.status === 202);
        const refused = answers.filter((r) => r.status === 422 && r.body.code === 'LIMIT_EXCEEDED');
        assert.equal(made.length, 13, JSON.stringify(answers.map((r) => r.status)));
        assert.equal(refused.length, 27);
        const listed = await t.request<{ data: Payment[] }>(
          'GET',
          `/api/v1/accounts/${account}/payments?limit=100`,
          { token: user.token },
        );
        assert.equal(listed.body.data.length, 13);
        for (const payment of made) await until(user, payment.body.id, 'settled');
        assert.equal((await limits(user)).usedToday.USD, '13.00');
        assert.equal(await t.balance(user, account), '87.00');
        refusedForLimit(await pay(user, account, '0.01'));
        await ledgerMark(t);
      },
    );

    it(
      'parallel payments, transfers and withdrawals share one limit: exactly 17 of 45 succeed',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        await setLimit(user, '17.00');
        const answers = await Promise.all(
          Array.from({ length: 45 }, (_, i) =>
            i % 3 === 0
              ? pay(user, account, '1.00')
              : i % 3 === 1
                ? t.transfer(user, account, bobAccount, '1.00')
                : t.withdraw(user, account, '1.00'),
          ),
        );
        const ok = answers.filter((r) => r.status === 201 || r.status === 202).length;
        const refused = answers.filter(
          (r) => r.status === 422 && (r.body as { code?: string }).code === 'LIMIT_EXCEEDED',
        ).length;
        assert.equal(ok, 17, JSON.stringify(answers.map((r) => r.status)));
        assert.equal(refused, 28);
        assert.equal((await limits(user)).usedToday.USD, '17.00');
        await ledgerMark(t);
      },
    );

    it(
      'standing-order runs (transfers and payments to other banks) count: one over the limit fails',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        await setLimit(user, '35.00');
        const makeOrder = async (to: Record<string, unknown>, amount: string) => {
          const made = await t.request<{ id: string }>(
            'POST',
            `/api/v1/accounts/${account}/standing-orders`,
            {
              token: user.token,
              body: {
                pin: DEFAULT_PIN,
                amount,
                frequency: 'daily',
                startDate: '2027-07-01',
                ...to,
              },
            },
          );
          assert.equal(made.status, 201, JSON.stringify(made.body));
          return made.body.id;
        };
        const internal = await makeOrder({ toAccount: bobAccount }, '10.00');
        const external = await makeOrder(
          {
            beneficiary: {
              name: 'Bob Other',
              bankCode: sandbox.sandboxBankCode,
              accountNumber: 'GB000123456',
            },
          },
          '5.00',
        );
        assert.equal((await pay(user, account, '20.00')).status, 202);
        // The scheduler's dates are its own; the money moves, and is counted, today.
        const scheduler = t.app.standingOrderScheduler;
        await scheduler.runDue(new Date('2027-07-01T08:00:00.000Z'));
        assert.equal(await t.balance(bob, bobAccount), '10.00');
        assert.equal((await limits(user)).usedToday.USD, '35.00');
        refusedForLimit(await t.withdraw(user, account, '0.01'));
        await scheduler.runDue(new Date('2027-07-02T08:00:00.000Z'));
        for (const id of [internal, external]) {
          const runs = await t.request<{
            data: Array<{ dueDate: string; status: string; reason?: string }>;
          }>('GET', `/api/v1/standing-orders/${id}/runs?limit=10`, { token: user.token });
          assert.deepEqual(
            runs.body.data.map((r) => [r.dueDate, r.status, r.reason]),
            [
              ['2027-07-02', 'failed', 'LIMIT_EXCEEDED'],
              ['2027-07-01', 'done', undefined],
            ],
            id,
          );
          const cancelled = await t.request('DELETE', `/api/v1/standing-orders/${id}`, {
            token: user.token,
          });
          assert.ok(cancelled.status < 300, JSON.stringify(cancelled.body));
        }
        assert.equal(await t.balance(bob, bobAccount), '10.00');
        assert.equal((await limits(user)).usedToday.USD, '35.00');
        await ledgerMark(t);
      },
    );

    it(
      "a rejected payment's amount is released from the day's use; another customer's is not mine",
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const other = await t.fundedCustomer('100.00');
        await setLimit(user, '30.00');
        await setLimit(other.user, '30.00');
        // The other customer's payment does not count against this one's limit.
        const theirs = await pay(other.user, other.account, '30.00');
        assert.equal(theirs.status, 202);
        const rejected = await pay(user, account, '25.00', { bankCode: 'ZZZZUS33' });
        assert.equal(rejected.status, 202, JSON.stringify(rejected.body));
        await until(user, rejected.body.id, 'rejected');
        const mine = await limits(user);
        assert.equal(mine.usedToday.USD, '0.00');
        assert.equal(mine.remainingToday.USD, '30.00');
        // The whole limit is there again, and no more.
        const paid = await pay(user, account, '30.00');
        assert.equal(paid.status, 202, JSON.stringify(paid.body));
        refusedForLimit(await t.withdraw(user, account, '0.01'));
        refusedForLimit(await pay(other.user, other.account, '0.01'));
        await ledgerMark(t);
      },
    );
  });
}
