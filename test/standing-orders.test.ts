import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { generateAccountNumber } from '../src/accounts/account-number.ts';
import { CommandBatcher } from '../src/ledger/batcher.ts';
import { LedgerEngine } from '../src/ledger/engine.ts';
import { PaymentsService } from '../src/payments/payments-service.ts';
import {
  StandingOrderScheduler,
  submitStandingOrderTransfer,
} from '../src/standing-orders/scheduler.ts';
import { findOrder } from '../src/standing-orders/standing-orders-repository.ts';
import { assertProblem } from './support/auth-helpers.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { lockByWrongPins, WRONG_PIN } from './support/staff.ts';

/**
 * Standing orders on both engines, with the scheduler's clock in the test's hands: the
 * app's own timer is off and each test calls `runDue(instant)`, so days pass in
 * milliseconds. Due dates lie in the future of the real calendar (orders may not start in
 * the past); the fake instants are on those dates.
 */

interface OrderBody {
  id: string;
  accountNumber: string;
  toAccount: string;
  amount: string;
  frequency: string;
  startDate: string;
  status: string;
  stopReason: string | null;
  nextDueDate: string | null;
}

interface RunBody {
  dueDate: string;
  attempt: number;
  status: 'done' | 'failed';
  transactionId?: string;
  reason?: string;
}

const at = (date: string, time = '08:00:00') => new Date(`${date}T${time}.000Z`);

for (const engine of ENGINES) {
  describe(`standing orders [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, {
        STANDING_ORDERS_SCHEDULER: 'off',
        STANDING_ORDERS_LEASE_MS: '60000',
      });
    });
    after(async () => {
      await t?.close();
    });
    // Tests share one database and the scheduler sees every due order in it: each test
    // ends its orders, so the next one's passes see only its own.
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

    async function create(
      user: TestUser,
      from: string,
      body: Record<string, unknown>,
    ): Promise<OrderBody> {
      const response = await t.request<OrderBody>(
        'POST',
        `/api/v1/accounts/${from}/standing-orders`,
        { token: user.token, body: { pin: DEFAULT_PIN, ...body } },
      );
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

    async function order(user: TestUser, account: string, id: string): Promise<OrderBody> {
      const list = await t.request<{ data: OrderBody[] }>(
        'GET',
        `/api/v1/accounts/${account}/standing-orders`,
        { token: user.token },
      );
      assert.equal(list.status, 200);
      const found = list.body.data.find((o) => o.id === id);
      assert.ok(found !== undefined);
      return found;
    }

    /** Postings that credited `account` (transfers received). */
    async function creditsTo(account: string): Promise<number> {
      const row = await t.runtime.database.db
        .selectFrom('postings as p')
        .innerJoin('accounts as a', 'a.id', 'p.account_id')
        .select((eb) => eb.fn.countAll<bigint | number>().as('n'))
        .where('a.account_number', '=', account)
        .where('p.direction', '=', 'credit')
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }

    it('a daily order runs every due date once, catches up after a gap, and never repeats', async () => {
      const { user, account } = await t.fundedCustomer('100.00');
      const payee = await t.fundedCustomer('1.00');
      const o = await create(user, account, {
        toAccount: payee.account,
        amount: '2.50',
        frequency: 'daily',
        startDate: '2027-03-01',
        description: 'pocket money',
      });
      assert.equal(o.status, 'active');
      assert.equal(o.nextDueDate, '2027-03-01');
      // The day before: nothing is due.
      await scheduler().runDue(at('2027-02-28', '23:59:59'));
      assert.deepEqual(await runsOf(user, o.id), []);
      await scheduler().runDue(at('2027-03-01'));
      await scheduler().runDue(at('2027-03-01', '18:00:00'));
      assert.equal((await runsOf(user, o.id)).length, 1, 'the same day runs once');
      // The server was "down" for two days: 03-02, 03-03 and 03-04 all run, once each.
      await scheduler().runDue(at('2027-03-04'));
      await scheduler().runDue(at('2027-03-04', '09:00:00'));
      const runs = await runsOf(user, o.id);
      assert.deepEqual(
        runs.map((r) => [r.dueDate, r.attempt, r.status]),
        [
          ['2027-03-04', 1, 'done'],
          ['2027-03-03', 1, 'done'],
          ['2027-03-02', 1, 'done'],
          ['2027-03-01', 1, 'done'],
        ],
      );
      assert.equal(new Set(runs.map((r) => r.transactionId)).size, 4);
      assert.equal(await t.balance(user, account), '90.00');
      assert.equal(await t.balance(payee.user, payee.account), '11.00');
      assert.equal((await order(user, account, o.id)).nextDueDate, '2027-03-05');
      // The customer sees each run in the account history too.
      const history = await t.request<{ data: Array<{ id: string; description: string }> }>(
        'GET',
        `/api/v1/accounts/${account}/transactions?limit=10`,
        { token: user.token },
      );
      const ids = history.body.data.map((tx) => tx.id);
      for (const run of runs) assert.ok(ids.includes(run.transactionId ?? ''), 'run in history');
      assert.equal(history.body.data[0]?.description, 'pocket money');
    });

    it('monthly on the 31st runs on the last day of shorter months', async () => {
      const { user, account } = await t.fundedCustomer('100.00');
      const payee = await t.fundedCustomer('1.00');
      const o = await create(user, account, {
        toAccount: payee.account,
        amount: '1.00',
        frequency: 'monthly',
        startDate: '2027-01-31',
        endDate: '2027-05-30',
      });
      for (const day of [
        '2027-01-31',
        '2027-02-27',
        '2027-02-28',
        '2027-03-30',
        '2027-03-31',
        '2027-04-29',
        '2027-04-30',
        '2027-05-31',
        '2027-06-30',
      ]) {
        await scheduler().runDue(at(day));
      }
      const runs = await runsOf(user, o.id);
      assert.deepEqual(runs.map((r) => r.dueDate).reverse(), [
        '2027-01-31',
        '2027-02-28',
        '2027-03-31',
        '2027-04-30',
      ]);
      assert.ok(runs.every((r) => r.status === 'done'));
      // 31 May is after the end date: the order completed after April.
      const after = await order(user, account, o.id);
      assert.equal(after.status, 'completed');
      assert.equal(after.nextDueDate, null);
      assert.equal(await t.balance(user, account), '96.00');
    });

    it('lack of funds: recorded as failed with its reason, retried once the next day', async () => {
      const { user, account } = await t.fundedCustomer('5.00');
      const payee = await t.fundedCustomer('1.00');
      const o = await create(user, account, {
        toAccount: payee.account,
        amount: '10.00',
        frequency: 'monthly',
        startDate: '2027-04-10',
      });
      await scheduler().runDue(at('2027-04-10'));
      await scheduler().runDue(at('2027-04-10', '20:00:00'));
      let runs = await runsOf(user, o.id);
      assert.deepEqual(
        runs.map((r) => [r.dueDate, r.attempt, r.status, r.reason]),
        [['2027-04-10', 1, 'failed', 'INSUFFICIENT_FUNDS']],
      );
      assert.equal(await t.balance(user, account), '5.00');
      // Funds arrive; the retry the next day pays.
      assert.equal((await t.deposit(user, account, '20.00')).status, 201);
      await scheduler().runDue(at('2027-04-11'));
      runs = await runsOf(user, o.id);
      assert.deepEqual(
        runs.map((r) => [r.dueDate, r.attempt, r.status]),
        [
          ['2027-04-10', 2, 'done'],
          ['2027-04-10', 1, 'failed'],
        ],
      );
      assert.equal(await t.balance(user, account), '15.00');
      assert.equal((await order(user, account, o.id)).status, 'active');

      // Still short on both days: two failures, and no third attempt.
      const poor = await t.fundedCustomer('1.00');
      const p = await create(poor.user, poor.account, {
        toAccount: payee.account,
        amount: '3.00',
        frequency: 'monthly',
        startDate: '2027-04-10',
      });
      for (const day of ['2027-04-10', '2027-04-11', '2027-04-12', '2027-04-13']) {
        await scheduler().runDue(at(day));
      }
      assert.deepEqual(
        (await runsOf(poor.user, p.id)).map((r) => [r.attempt, r.status, r.reason]),
        [
          [2, 'failed', 'INSUFFICIENT_FUNDS'],
          [1, 'failed', 'INSUFFICIENT_FUNDS'],
        ],
      );
      assert.equal(await t.balance(poor.user, poor.account), '1.00');
    });

    it('the order stops when the account is frozen or the customer locked', async () => {
      const admin = await t.staff('admin');
      const payee = await t.fundedCustomer('1.00');

      const frozen = await t.fundedCustomer('50.00');
      const f = await create(frozen.user, frozen.account, {
        toAccount: payee.account,
        amount: '1.00',
        frequency: 'daily',
        startDate: '2027-05-01',
      });
      const freeze = await t.request('POST', `/api/v1/admin/accounts/${frozen.account}/freeze`, {
        token: admin.token,
        body: { otp: await t.staffOtp(admin) },
      });
      assert.equal(freeze.status, 200, JSON.stringify(freeze.body));
      await scheduler().runDue(at('2027-05-01'));
      await scheduler().runDue(at('2027-05-02'));
      assert.deepEqual(
        (await runsOf(frozen.user, f.id)).map((r) => [r.dueDate, r.status, r.reason]),
        [['2027-05-01', 'failed', 'ACCOUNT_FROZEN']],
      );
      const stopped = await order(frozen.user, frozen.account, f.id);
      assert.equal(stopped.status, 'stopped');
      assert.equal(stopped.stopReason, 'ACCOUNT_FROZEN');

      const locked = await t.fundedCustomer('50.00');
      const l = await create(locked.user, locked.account, {
        toAccount: payee.account,
        amount: '1.00',
        frequency: 'weekly',
        startDate: '2027-05-01',
      });
      await lockByWrongPins(t, locked.user, locked.account);
      await scheduler().runDue(at('2027-05-01'));
      await scheduler().runDue(at('2027-05-08'));
      assert.deepEqual(
        (await runsOf(locked.user, l.id)).map((r) => [r.status, r.reason]),
        [['failed', 'USER_LOCKED']],
      );
      assert.equal((await order(locked.user, locked.account, l.id)).stopReason, 'USER_LOCKED');
      assert.equal(await t.balance(locked.user, locked.account), '50.00');
    });

    it('another customer can neither see nor cancel an order; the owner cancels it', async () => {
      const { user, account } = await t.fundedCustomer('50.00');
      const payee = await t.fundedCustomer('1.00');
      const stranger = await t.customer();
      const o = await create(user, account, {
        toAccount: payee.account,
        amount: '1.00',
        frequency: 'daily',
        startDate: '2027-06-01',
      });
      const missingId = '00000000-0000-4000-8000-000000000000';
      const hiddenRuns = await t.request('GET', `/api/v1/standing-orders/${o.id}/runs`, {
        token: stranger.token,
      });
      const missingRuns = await t.request('GET', `/api/v1/standing-orders/${missingId}/runs`, {
        token: stranger.token,
      });
      assertProblem(hiddenRuns, 404, 'NOT_FOUND');
      assert.equal(
        (hiddenRuns.body as { detail: string }).detail,
        (missingRuns.body as { detail: string }).detail,
      );
      assertProblem(
        await t.request('DELETE', `/api/v1/standing-orders/${o.id}`, { token: stranger.token }),
        404,
        'NOT_FOUND',
      );
      assertProblem(
        await t.request('GET', `/api/v1/accounts/${account}/standing-orders`, {
          token: stranger.token,
        }),
        404,
        'NOT_FOUND',
      );
      // Nor create one on the victim's account (404 like a missing account, before the PIN).
      assertProblem(
        await t.request('POST', `/api/v1/accounts/${account}/standing-orders`, {
          token: stranger.token,
          body: {
            toAccount: payee.account,
            amount: '1.00',
            frequency: 'daily',
            startDate: '2027-06-01',
            pin: DEFAULT_PIN,
          },
        }),
        404,
        'NOT_FOUND',
      );
      assert.equal((await order(user, account, o.id)).status, 'active', 'still active');
      // An auditor reads it; only its owner cancels it.
      const auditor = await t.staff('auditor');
      assert.equal(
        (await t.request('GET', `/api/v1/standing-orders/${o.id}/runs`, { token: auditor.token }))
          .status,
        200,
      );
      assertProblem(
        await t.request('DELETE', `/api/v1/standing-orders/${o.id}`, { token: auditor.token }),
        404,
        'NOT_FOUND',
      );
      const cancel = await t.request('DELETE', `/api/v1/standing-orders/${o.id}`, {
        token: user.token,
      });
      assert.equal(cancel.status, 204);
      assert.equal(
        (await t.request('DELETE', `/api/v1/standing-orders/${o.id}`, { token: user.token }))
          .status,
        204,
        'cancelling again changes nothing',
      );
      await scheduler().runDue(at('2027-06-02'));
      assert.deepEqual(await runsOf(user, o.id), []);
      assert.equal((await order(user, account, o.id)).status, 'cancelled');
      assert.equal(await t.balance(user, account), '50.00');
    });

    it('refuses bad orders: no payee, wrong PIN, dates, accounts', async () => {
      const { user, account } = await t.fundedCustomer('50.00');
      const payee = await t.fundedCustomer('1.00');
      const base = {
        toAccount: payee.account,
        amount: '1.00',
        frequency: 'monthly',
        startDate: '2027-07-01',
        pin: DEFAULT_PIN,
      };
      const post = (body: Record<string, unknown>) =>
        t.request('POST', `/api/v1/accounts/${account}/standing-orders`, {
          token: user.token,
          body,
        });
      const { toAccount: _omit, ...withoutTo } = base;
      // Orders to other banks are tested in test/standing-order-payments.test.ts.
      assertProblem(await post(withoutTo), 400, 'VALIDATION_FAILED', 'toAccount');
      assertProblem(
        await post({ ...base, startDate: '2020-01-01' }),
        400,
        'VALIDATION_FAILED',
        'startDate',
      );
      assertProblem(
        await post({ ...base, startDate: '2027-02-30' }),
        400,
        'VALIDATION_FAILED',
        'startDate',
      );
      assertProblem(
        await post({ ...base, endDate: '2027-06-30' }),
        400,
        'VALIDATION_FAILED',
        'endDate',
      );
      assertProblem(await post({ ...base, frequency: 'hourly' }), 400, 'VALIDATION_FAILED');
      assertProblem(await post({ ...base, amount: 1 }), 400, 'VALIDATION_FAILED');
      assertProblem(await post({ ...base, amount: '0.00' }), 400, 'VALIDATION_FAILED', 'amount');
      assertProblem(await post({ ...base, toAccount: account }), 400, 'SAME_ACCOUNT');
      assertProblem(await post({ ...base, toAccount: '123456789012' }), 400, 'VALIDATION_FAILED');
      assertProblem(
        await post({ ...base, toAccount: generateAccountNumber() }),
        404,
        'NOT_FOUND',
        'toAccount',
      );
      assertProblem(await post({ ...base, pin: undefined }), 400, 'VALIDATION_FAILED', 'pin');
      // Wrong PINs are counted like any other: the third locks the customer.
      assertProblem(await post({ ...base, pin: WRONG_PIN }), 403, 'INVALID_PIN', 'pin');
      assertProblem(await post({ ...base, pin: WRONG_PIN }), 403, 'INVALID_PIN', 'pin');
      assertProblem(await post({ ...base, pin: WRONG_PIN }), 423, 'USER_LOCKED');
      assertProblem(await post(base), 423, 'USER_LOCKED');
      const list = await t.request<{ data: unknown[] }>(
        'GET',
        `/api/v1/accounts/${account}/standing-orders`,
        { token: user.token },
      );
      assert.deepEqual(list.body.data, [], 'no refused order was stored');
    });

    it('two schedulers racing over the same due orders run each exactly once', async () => {
      // A second scheduler with its own engine and batcher: what another process has.
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
      const other = new StandingOrderScheduler({
        db: database.db,
        engine: database.engine,
        batcher: otherBatcher,
        payments: new PaymentsService({
          db: database.db,
          batcher: otherBatcher,
          maxAmountMajor: config.maxAmountMajor,
          bankCode: config.bankCode,
        }),
        clock: () => new Date(),
        options: config.standingOrders,
        log: t.app.log,
      });
      const payee = await t.fundedCustomer('1.00');
      const payers = await Promise.all(Array.from({ length: 8 }, () => t.fundedCustomer('30.00')));
      const orders = [];
      for (const payer of payers) {
        orders.push(
          await create(payer.user, payer.account, {
            toAccount: payee.account,
            amount: '3.00',
            frequency: 'daily',
            startDate: '2027-08-01',
          }),
        );
      }
      for (const day of ['2027-08-01', '2027-08-02']) {
        const [a, b, c] = await Promise.all([
          scheduler().runDue(at(day)),
          other.runDue(at(day)),
          scheduler().runDue(at(day)),
        ]);
        assert.equal(a.ran + b.ran + c.ran, payers.length, `${day}: every run recorded once`);
      }
      for (const [i, payer] of payers.entries()) {
        const runs = await runsOf(payer.user, orders[i]?.id ?? '');
        assert.deepEqual(
          runs.map((r) => [r.dueDate, r.status]),
          [
            ['2027-08-02', 'done'],
            ['2027-08-01', 'done'],
          ],
        );
        assert.equal(await t.balance(payer.user, payer.account), '24.00');
      }
      assert.equal(await creditsTo(payee.account), 1 + 2 * payers.length);
      assert.equal(await t.balance(payee.user, payee.account), `${1 + 6 * payers.length}.00`);
    });

    it('a run whose process died after moving the money is completed once, not paid twice', async () => {
      const { user, account } = await t.fundedCustomer('20.00');
      const payee = await t.fundedCustomer('1.00');
      const o = await create(user, account, {
        toAccount: payee.account,
        amount: '4.00',
        frequency: 'monthly',
        startDate: '2027-09-15',
      });
      const db = t.runtime.database.db;
      // What a dead process leaves: the due date written, the run leased to it, the money
      // moved under the run's key, and no record of the outcome.
      const dayOne = at('2027-09-15');
      await db
        .insertInto('standing_order_runs')
        .values({
          order_id: o.id,
          due_date: '2027-09-15',
          attempt: 1n,
          run_on: '2027-09-15',
          status: 'pending',
          transaction_id: null,
          reason: null,
          detail: null,
          lease_owner: 'a process that died',
          lease_until: new Date(dayOne.getTime() + 60_000).toISOString(),
          created_at: dayOne.toISOString(),
          completed_at: null,
        })
        .execute();
      await db
        .updateTable('standing_orders')
        .set({ next_due_date: '2027-10-15' })
        .where('id', '=', o.id)
        .execute();
      const record = await findOrder(db, o.id);
      assert.ok(record !== null);
      const first = await submitStandingOrderTransfer(
        // The app's own batcher is not exposed; a fresh one is what the dead process had.
        new CommandBatcher(
          db,
          new LedgerEngine({
            engine: t.runtime.database.engine,
            pinPepper: t.runtime.secrets.pinPepper,
            pinMaxAttempts: 3,
          }),
          { maxBatchSize: 8, maxQueueSize: 8, concurrency: 1 },
        ),
        record,
        { orderId: o.id, dueDate: '2027-09-15', attempt: 1 },
      );
      assert.ok(first.ok);
      assert.equal(await t.balance(user, account), '16.00');
      // While the lease lives, nobody else takes the run.
      await scheduler().runDue(new Date(dayOne.getTime() + 30_000));
      assert.deepEqual(await runsOf(user, o.id), []);
      // After it runs out, the run is taken over: the same key replays the stored transfer.
      await scheduler().runDue(new Date(dayOne.getTime() + 61_000));
      const runs = await runsOf(user, o.id);
      assert.deepEqual(
        runs.map((r) => [r.dueDate, r.status, r.transactionId]),
        [['2027-09-15', 'done', first.transaction.id]],
      );
      assert.equal(await t.balance(user, account), '16.00', 'paid once');
      assert.equal(await creditsTo(payee.account), 2);
    });
  });
}
