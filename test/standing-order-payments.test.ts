import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type SandboxNetwork, startSandboxNetwork } from '../src/clearing-house/sandbox.ts';
import { CommandBatcher } from '../src/ledger/batcher.ts';
import { LedgerEngine } from '../src/ledger/engine.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import { PaymentDispatcher } from '../src/payments/dispatcher.ts';
import { PaymentNetworkClient } from '../src/payments/network-client.ts';
import { PaymentsService } from '../src/payments/payments-service.ts';
import { StandingOrderScheduler } from '../src/standing-orders/scheduler.ts';
import { assertProblem } from './support/auth-helpers.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { freePort } from './support/process.ts';
import { WRONG_PIN } from './support/staff.ts';

/**
 * Standing orders that pay another bank, against the payment network's sandbox (the real
 * clearing-house code over HTTP, as in test/payments.test.ts): each due date becomes one
 * outbound payment through the payments service (hold, dispatcher, network, settlement),
 * made once whatever the number of schedulers. The scheduler's clock is the test's (due
 * dates in 2027); the payments themselves move in real time.
 */

const TIMEOUT = { timeout: 180_000 };
const BANK_CODE = 'CORBUS33';

interface OrderBody {
  id: string;
  toAccount: string | null;
  beneficiary: { name: string; bankCode: string; accountNumber: string } | null;
  amount: string;
  status: string;
  nextDueDate: string | null;
}

interface RunBody {
  dueDate: string;
  attempt: number;
  status: 'done' | 'failed';
  transactionId?: string;
  paymentId?: string;
  paymentStatus?: string;
  reason?: string;
}

interface PaymentBody {
  id: string;
  status: string;
  amount: string;
  reference: string | null;
  counterparty: { name: string; bankCode: string; accountNumber: string };
}

const at = (date: string, time = '08:00:00') => new Date(`${date}T${time}.000Z`);

for (const engine of ENGINES) {
  describe(`standing orders to other banks [${engine}]`, () => {
    let t: TestApp;
    let sandbox: SandboxNetwork;
    let network: PaymentNetworkClient;

    before(async () => {
      const port = await freePort();
      sandbox = await startSandboxNetwork({
        bankCode: BANK_CODE,
        webhookUrl: `http://127.0.0.1:${port}/api/v1/network/events`,
      });
      t = await createTestApp(engine, {
        BANK_CODE,
        PAYMENT_NETWORK_URL: sandbox.url,
        PAYMENT_NETWORK_CLIENT_ID: sandbox.clientId,
        PAYMENT_NETWORK_CLIENT_SECRET: sandbox.clientSecret,
        PAYMENT_NETWORK_WEBHOOK_SECRET: sandbox.webhookSecret,
        PAYMENT_DISPATCH_INTERVAL_MS: '50',
        STANDING_ORDERS_SCHEDULER: 'off',
        STANDING_ORDERS_LEASE_MS: '60000',
      });
      await t.app.listen({ host: '127.0.0.1', port });
      network = new PaymentNetworkClient({
        baseUrl: sandbox.url,
        clientId: sandbox.clientId,
        clientSecret: sandbox.clientSecret,
      });
    });
    after(async () => {
      await t?.close();
      await sandbox?.close();
    });
    // The scheduler sees every due order in the shared database: each test ends its own.
    afterEach(async () => {
      const db = t.runtime.database.db;
      await db.deleteFrom('standing_order_runs').where('status', '=', 'pending').execute();
      await db
        .updateTable('standing_orders')
        .set({ status: 'cancelled', next_due_date: null })
        .where('status', '=', 'active')
        .execute();
    });

    const scheduler = () => t.app.standingOrderScheduler;
    const beneficiary = () => ({
      name: 'Landlord Ltd',
      bankCode: sandbox.sandboxBankCode,
      accountNumber: 'GB000123456',
    });

    function post(user: TestUser, from: string, body: Record<string, unknown>) {
      return t.request<OrderBody>('POST', `/api/v1/accounts/${from}/standing-orders`, {
        token: user.token,
        body: { pin: DEFAULT_PIN, beneficiary: beneficiary(), ...body },
      });
    }

    async function create(
      user: TestUser,
      from: string,
      body: Record<string, unknown>,
    ): Promise<OrderBody> {
      const response = await post(user, from, body);
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body;
    }

    async function runsOf(user: TestUser, id: string): Promise<RunBody[]> {
      const response = await t.request<{ data: RunBody[] }>(
        'GET',
        `/api/v1/standing-orders/${id}/runs?limit=100`,
        { token: user.token },
      );
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.data;
    }

    async function paymentsOf(user: TestUser, account: string): Promise<PaymentBody[]> {
      const response = await t.request<{ data: PaymentBody[] }>(
        'GET',
        `/api/v1/accounts/${account}/payments`,
        { token: user.token },
      );
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.data;
    }

    async function settled(user: TestUser, id: string): Promise<PaymentBody> {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const got = await t.request<PaymentBody>('GET', `/api/v1/payments/${id}`, {
          token: user.token,
        });
        assert.equal(got.status, 200);
        if (got.body.status === 'settled') return got.body;
        if (Date.now() > deadline) assert.fail(`payment ${id} is ${got.body.status}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    async function clearing(): Promise<bigint> {
      const row = await t.runtime.database.db
        .selectFrom('accounts')
        .select(['balance_minor'])
        .where('account_number', '=', 'CLEARING-USD')
        .executeTakeFirst();
      return row?.balance_minor ?? 0n;
    }

    it(
      'a beneficiary order runs on its due date as one payment that settles',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const o = await create(user, account, {
          amount: '12.50',
          frequency: 'monthly',
          startDate: '2027-03-05',
          description: 'Rent March',
        });
        assert.equal(o.toAccount, null);
        assert.deepEqual(o.beneficiary, beneficiary());
        assert.equal(o.nextDueDate, '2027-03-05');
        const clearingBefore = await clearing();

        await scheduler().runDue(at('2027-03-04', '23:59:59'));
        assert.deepEqual(await runsOf(user, o.id), [], 'nothing before the due date');
        await scheduler().runDue(at('2027-03-05'));
        await scheduler().runDue(at('2027-03-05', '19:00:00'));
        const runs = await runsOf(user, o.id);
        assert.equal(runs.length, 1, 'the due date runs once');
        const [run] = runs;
        assert.equal(run?.status, 'done');
        assert.equal(run?.transactionId, undefined);
        const paymentId = run?.paymentId;
        assert.ok(paymentId !== undefined, 'the run records its payment');

        const payment = await settled(user, paymentId);
        assert.equal(payment.amount, '12.50');
        assert.equal(payment.reference, 'Rent March');
        assert.deepEqual(payment.counterparty, beneficiary());
        assert.deepEqual(
          (await paymentsOf(user, account)).map((p) => p.id),
          [paymentId],
        );
        assert.equal(await t.balance(user, account), '87.50');
        assert.equal((await clearing()) - clearingBefore, 1250n);
        // The run shows the payment's outcome as it is now.
        assert.equal((await runsOf(user, o.id))[0]?.paymentStatus, 'settled');
        // The network has it, under our payment id as its instruction id.
        const seen = await network.getPayment(paymentId);
        assert.ok(seen.ok && seen.value !== undefined, 'the network knows the payment');
        assert.equal(seen.value.instructionId, paymentId);
        const verify = await verifyLedger(t.runtime.database.db);
        assert.ok(verify.ok, verify.ok ? '' : verify.problem);
      },
    );

    it(
      'two schedulers and two dispatchers racing make one payment per due date, submitted once',
      TIMEOUT,
      async () => {
        // What another process has: its own engine, batcher, payments service, scheduler
        // and dispatcher, on the same database and network.
        const { database, secrets, config } = t.runtime;
        const otherBatcher = new CommandBatcher(
          database.db,
          new LedgerEngine({
            engine: database.engine,
            pinPepper: secrets.pinPepper,
            pinMaxAttempts: config.pinMaxAttempts,
          }),
          { maxBatchSize: 64, maxQueueSize: 1000, concurrency: 2 },
        );
        const otherPayments = new PaymentsService({
          db: database.db,
          batcher: otherBatcher,
          maxAmountMajor: config.maxAmountMajor,
          bankCode: config.bankCode,
        });
        const other = new StandingOrderScheduler({
          db: database.db,
          engine: database.engine,
          batcher: otherBatcher,
          payments: otherPayments,
          clock: () => new Date(),
          options: config.standingOrders,
          log: t.app.log,
        });
        const otherDispatcher = new PaymentDispatcher({
          db: database.db,
          client: new PaymentNetworkClient({
            baseUrl: sandbox.url,
            clientId: sandbox.clientId,
            clientSecret: sandbox.clientSecret,
          }),
          payments: otherPayments,
          options: { ...config.paymentDispatch, intervalMs: 50 },
          log: t.app.log,
        });
        otherDispatcher.start();
        try {
          const payers = await Promise.all(
            Array.from({ length: 6 }, () => t.fundedCustomer('30.00')),
          );
          const orders: OrderBody[] = [];
          for (const payer of payers) {
            orders.push(
              await create(payer.user, payer.account, {
                amount: '3.00',
                frequency: 'daily',
                startDate: '2027-08-01',
              }),
            );
          }
          for (const day of ['2027-08-01', '2027-08-02']) {
            const passes = await Promise.all([
              scheduler().runDue(at(day)),
              other.runDue(at(day)),
              scheduler().runDue(at(day)),
              other.runDue(at(day)),
            ]);
            assert.equal(
              passes.reduce((sum, pass) => sum + pass.ran, 0),
              payers.length,
              `${day}: every run recorded once`,
            );
          }
          const paymentIds: string[] = [];
          for (const [i, payer] of payers.entries()) {
            const runs = await runsOf(payer.user, orders[i]?.id ?? '');
            assert.deepEqual(
              runs.map((r) => [r.dueDate, r.status]),
              [
                ['2027-08-02', 'done'],
                ['2027-08-01', 'done'],
              ],
            );
            const made = await paymentsOf(payer.user, payer.account);
            assert.equal(made.length, 2, 'one payment per due date');
            assert.deepEqual(runs.map((r) => r.paymentId).sort(), made.map((p) => p.id).sort());
            for (const p of made) {
              await settled(payer.user, p.id);
              paymentIds.push(p.id);
            }
            assert.equal(await t.balance(payer.user, payer.account), '24.00');
          }
          // The network's own report of today: each payment reached it exactly once.
          const today = new Date().toISOString().slice(0, 10);
          const report = await network.getSettlementReport(today);
          assert.ok(report.ok);
          const reported = report.value.entries
            .filter((e) => e.kind === 'payment' && paymentIds.includes(e.instructionId))
            .map((e) => e.instructionId);
          assert.deepEqual(reported.sort(), [...paymentIds].sort());
        } finally {
          await otherDispatcher.stop();
        }
      },
    );

    it(
      'lack of funds: the run fails, makes no payment, and is retried once the next day',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('5.00');
        const o = await create(user, account, {
          amount: '10.00',
          frequency: 'monthly',
          startDate: '2027-04-10',
        });
        await scheduler().runDue(at('2027-04-10'));
        await scheduler().runDue(at('2027-04-10', '21:00:00'));
        let runs = await runsOf(user, o.id);
        assert.deepEqual(
          runs.map((r) => [r.dueDate, r.attempt, r.status, r.reason, r.paymentId]),
          [['2027-04-10', 1, 'failed', 'INSUFFICIENT_FUNDS', undefined]],
        );
        assert.deepEqual(await paymentsOf(user, account), [], 'no payment was made');
        assert.equal((await t.deposit(user, account, '20.00')).status, 201);
        await scheduler().runDue(at('2027-04-11'));
        await scheduler().runDue(at('2027-04-12'));
        runs = await runsOf(user, o.id);
        assert.deepEqual(
          runs.map((r) => [r.dueDate, r.attempt, r.status]),
          [
            ['2027-04-10', 2, 'done'],
            ['2027-04-10', 1, 'failed'],
          ],
        );
        const paymentId = runs[0]?.paymentId;
        assert.ok(paymentId !== undefined);
        await settled(user, paymentId);
        assert.equal(await t.balance(user, account), '15.00');
      },
    );

    it('daily outgoing limits bind the runs as they bind payments', TIMEOUT, async () => {
      const { user, account } = await t.fundedCustomer('100.00');
      const admin = await t.staff('admin');
      const limit = await t.request('PUT', `/api/v1/admin/users/${user.id}/limits`, {
        token: admin.token,
        body: {
          dailyOutgoing: { USD: '20.00' },
          ...(admin.mfaSecret === undefined ? {} : { otp: await t.staffOtp(admin) }),
        },
      });
      assert.equal(limit.status, 200, JSON.stringify(limit.body));
      const o = await create(user, account, {
        amount: '25.00',
        frequency: 'monthly',
        startDate: '2027-05-03',
      });
      await scheduler().runDue(at('2027-05-03'));
      assert.deepEqual(
        (await runsOf(user, o.id)).map((r) => [r.status, r.reason]),
        [['failed', 'LIMIT_EXCEEDED']],
      );
      assert.deepEqual(await paymentsOf(user, account), []);
      assert.equal(await t.balance(user, account), '100.00');
    });

    it(
      'another customer can neither see nor cancel it; the owner cancels it',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('50.00');
        const stranger = await t.fundedCustomer('50.00');
        const o = await create(user, account, {
          amount: '1.00',
          frequency: 'daily',
          startDate: '2027-06-01',
        });
        await scheduler().runDue(at('2027-06-01'));
        const [run] = await runsOf(user, o.id);
        assert.ok(run?.paymentId !== undefined);
        for (const [method, path] of [
          ['GET', `/api/v1/standing-orders/${o.id}/runs`],
          ['DELETE', `/api/v1/standing-orders/${o.id}`],
          ['GET', `/api/v1/accounts/${account}/standing-orders`],
          ['GET', `/api/v1/payments/${run.paymentId}`],
        ] as const) {
          assertProblem(
            await t.request(method, path, { token: stranger.user.token }),
            404,
            'NOT_FOUND',
          );
        }
        // Nor create one paying from the victim's account (404 like a missing account).
        assertProblem(
          await t.request('POST', `/api/v1/accounts/${account}/standing-orders`, {
            token: stranger.user.token,
            body: {
              beneficiary: beneficiary(),
              amount: '1.00',
              frequency: 'daily',
              startDate: '2027-06-01',
              pin: DEFAULT_PIN,
            },
          }),
          404,
          'NOT_FOUND',
        );
        assert.equal(
          (await t.request('DELETE', `/api/v1/standing-orders/${o.id}`, { token: user.token }))
            .status,
          204,
        );
        await scheduler().runDue(at('2027-06-02'));
        await scheduler().runDue(at('2027-06-03'));
        assert.equal((await runsOf(user, o.id)).length, 1, 'nothing runs after cancelling');
        assert.equal((await paymentsOf(user, account)).length, 1);
      },
    );

    it('refuses bad beneficiaries exactly as payments do', TIMEOUT, async () => {
      const { user, account } = await t.fundedCustomer('50.00');
      const payee = await t.fundedCustomer('1.00');
      const base = { amount: '1.00', frequency: 'monthly', startDate: '2027-07-01' };
      const withBeneficiary = (change: Record<string, unknown>) =>
        post(user, account, { ...base, beneficiary: { ...beneficiary(), ...change } });
      for (const [change, field] of [
        [{ bankCode: 'bad' }, /beneficiary/],
        [{ bankCode: 'corbus33' }, /beneficiary\.bankCode/],
        [{ bankCode: '12345678' }, /beneficiary\.bankCode/],
        [{ bankCode: BANK_CODE }, /beneficiary\.bankCode/],
        [{ accountNumber: 'GB-12' }, /beneficiary/],
        [{ accountNumber: 'A1' }, /beneficiary/],
        [{ name: '' }, /beneficiary/],
        [{ iban: 'DE89370400440532013000' }, /beneficiary/],
      ] as const) {
        const bad = await withBeneficiary(change);
        assertProblem(bad, 400, 'VALIDATION_FAILED');
        assert.match(String((bad.body as { field?: string }).field), field, JSON.stringify(change));
      }
      assertProblem(
        await post(user, account, { ...base, beneficiary: { name: 'X', bankCode: 'SBOXUS33' } }),
        400,
        'VALIDATION_FAILED',
      );
      assertProblem(
        await post(user, account, { ...base, toAccount: payee.account }),
        400,
        'VALIDATION_FAILED',
        'beneficiary',
      );
      assertProblem(
        await post(user, account, { ...base, amount: '0.00' }),
        400,
        'VALIDATION_FAILED',
        'amount',
      );
      assertProblem(await post(user, account, { ...base, pin: WRONG_PIN }), 403, 'INVALID_PIN');
      const list = await t.request<{ data: unknown[] }>(
        'GET',
        `/api/v1/accounts/${account}/standing-orders`,
        { token: user.token },
      );
      assert.deepEqual(list.body.data, [], 'no refused order was stored');
    });
  });
}
