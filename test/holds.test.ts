import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { verifyLedger } from '../src/ledger/verify.ts';
import {
  createTestApp,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';

/**
 * Holds (contract v1.1 "Holds"): placing, capturing and voiding by tellers and admins,
 * available balance under the write path's locks, expiry (at once, and recorded exactly
 * once by the sweeper), who may see what, idempotency, bad input, and `ledger verify`.
 */

const TIMEOUT = { timeout: 180_000 };

interface Hold {
  id: string;
  accountNumber: string;
  amount: string;
  status: string;
  capturedAmount: string;
  expiresAt: string;
}

for (const engine of ENGINES) {
  describe(`holds [${engine}]`, () => {
    let t: TestApp;
    let teller: TestUser;
    let admin: TestUser;

    before(async () => {
      t = await createTestApp(engine, { HOLD_SWEEP_INTERVAL_MS: '60000' });
      teller = await t.staff('teller');
      admin = await t.staff('admin');
    });
    after(async () => t.close());

    function place(
      by: TestUser,
      account: string,
      body: Record<string, unknown>,
      headers: Record<string, string> = {},
    ): Promise<Response<Hold & { code?: string }>> {
      return t.request('POST', `/api/v1/accounts/${account}/holds`, {
        token: by.token,
        body,
        headers,
      });
    }
    function capture(by: TestUser, id: string, body: Record<string, unknown> = {}) {
      return t.request<Record<string, string>>('POST', `/api/v1/holds/${id}/capture`, {
        token: by.token,
        body,
      });
    }
    function voidHold(by: TestUser, id: string) {
      return t.request<Hold & { code?: string }>('POST', `/api/v1/holds/${id}/void`, {
        token: by.token,
      });
    }
    async function account(user: TestUser, number: string) {
      const response = await t.request<{ balance: string; availableBalance: string }>(
        'GET',
        `/api/v1/accounts/${number}`,
        { token: user.token },
      );
      assert.equal(response.status, 200);
      return response.body;
    }
    async function verified(): Promise<void> {
      const result = await verifyLedger(t.runtime.database.db);
      assert.ok(result.ok, result.ok ? '' : result.problem);
    }

    it(
      'a hold lowers the available balance, not the balance; capture and void',
      TIMEOUT,
      async () => {
        const { user, account: number } = await t.fundedCustomer('100.00');
        const held = await place(teller, number, { amount: '30.00', description: 'card auth' });
        assert.equal(held.status, 201, JSON.stringify(held.body));
        assert.equal(held.body.status, 'pending');
        assert.equal(held.body.amount, '30.00');
        assert.equal(held.body.capturedAmount, '0.00');
        assert.deepEqual(await account(user, number), {
          ...(await account(user, number)),
          balance: '100.00',
          availableBalance: '70.00',
        });
        // Withdrawals see the available balance.
        const tooMuch = await t.withdraw(user, number, '70.01');
        assert.equal(tooMuch.status, 422);
        assert.equal(tooMuch.body.code, 'INSUFFICIENT_FUNDS');

        // Partial capture to the settlement account: the rest is released.
        const captured = await capture(teller, held.body.id, { amount: '12.50' });
        assert.equal(captured.status, 201, JSON.stringify(captured.body));
        assert.equal(captured.body.amount, '12.50');
        assert.equal(captured.body.direction, 'debit');
        assert.equal(captured.body.balanceAfter, '87.50');
        const after = await t.request<Hold>('GET', `/api/v1/holds/${held.body.id}`, {
          token: user.token,
        });
        assert.equal(after.body.status, 'captured');
        assert.equal(after.body.capturedAmount, '12.50');
        const now = await account(user, number);
        assert.equal(now.balance, '87.50');
        assert.equal(now.availableBalance, '87.50');

        // Capture twice, void after capture.
        const twice = await capture(teller, held.body.id);
        assert.equal(twice.status, 409);
        assert.equal(twice.body.code, 'HOLD_NOT_PENDING');
        const voidAfter = await voidHold(teller, held.body.id);
        assert.equal(voidAfter.status, 409);
        assert.equal(voidAfter.body.code, 'HOLD_NOT_PENDING');

        // Void releases everything; capturing it afterwards is refused.
        const second = await place(admin, number, { amount: '50.00' });
        assert.equal(second.status, 201);
        assert.equal((await account(user, number)).availableBalance, '37.50');
        const voided = await voidHold(admin, second.body.id);
        assert.equal(voided.status, 200);
        assert.equal(voided.body.status, 'voided');
        assert.equal((await account(user, number)).availableBalance, '87.50');
        const late = await capture(admin, second.body.id);
        assert.equal(late.body.code, 'HOLD_NOT_PENDING');

        // A capture to another customer's account is a transfer to it.
        const payee = await t.fundedCustomer('1.00');
        const third = await place(teller, number, { amount: '20.00' });
        const toPayee = await capture(teller, third.body.id, { toAccount: payee.account });
        assert.equal(toPayee.status, 201, JSON.stringify(toPayee.body));
        assert.equal(toPayee.body.type, 'transfer_out');
        assert.equal(await t.balance(payee.user, payee.account), '21.00');
        await verified();
      },
    );

    it(
      'capture more than held, and a hold larger than the available balance',
      TIMEOUT,
      async () => {
        const { account: number } = await t.fundedCustomer('40.00');
        const held = await place(teller, number, { amount: '25.00' });
        const more = await capture(teller, held.body.id, { amount: '25.01' });
        assert.equal(more.status, 400);
        assert.equal(more.body.code, 'VALIDATION_FAILED');
        assert.equal(more.body.field, 'amount');
        const over = await place(teller, number, { amount: '15.01' });
        assert.equal(over.status, 422);
        assert.equal(over.body.code, 'INSUFFICIENT_FUNDS');
        const exact = await place(teller, number, { amount: '15.00' });
        assert.equal(exact.status, 201);
        await verified();
      },
    );

    it(
      'an expired hold stops counting at once and cannot be captured; the sweeper records it once',
      TIMEOUT,
      async () => {
        const { user, account: number } = await t.fundedCustomer('100.00');
        const held = await place(teller, number, { amount: '60.00', expiresInSeconds: 60 });
        assert.equal(held.status, 201);
        assert.equal((await account(user, number)).availableBalance, '40.00');
        // Move the expiry into the past, as if 60 s had gone by.
        const past = new Date(Date.now() - 1000).toISOString();
        await t.runtime.database.db
          .updateTable('holds')
          .set({ expires_at: past })
          .where('id', '=', held.body.id)
          .execute();
        assert.equal((await account(user, number)).availableBalance, '100.00');
        const shown = await t.request<Hold>('GET', `/api/v1/holds/${held.body.id}`, {
          token: user.token,
        });
        assert.equal(shown.body.status, 'expired');
        const late = await capture(teller, held.body.id);
        assert.equal(late.status, 409);
        assert.equal(late.body.code, 'HOLD_EXPIRED');
        const lateVoid = await voidHold(teller, held.body.id);
        assert.equal(lateVoid.body.code, 'HOLD_EXPIRED');
        // The money is spendable at once.
        const spend = await t.withdraw(user, number, '100.00');
        assert.equal(spend.status, 201);

        // Two sweepers at once (as in two server processes): recorded exactly once.
        const counts = await Promise.all([t.app.holdSweeper.sweep(), t.app.holdSweeper.sweep()]);
        assert.equal(
          counts.reduce((a, b) => a + b, 0),
          await expiredCount(held.body.id),
        );
        const row = await t.runtime.database.db
          .selectFrom('holds')
          .select(['status'])
          .where('id', '=', held.body.id)
          .executeTakeFirstOrThrow();
        assert.equal(row.status, 'expired');
        assert.equal(await t.app.holdSweeper.sweep(), 0);
        const listed = await t.request<{ data: Hold[] }>(
          'GET',
          `/api/v1/accounts/${number}/holds?status=expired`,
          { token: user.token },
        );
        assert.deepEqual(
          listed.body.data.map((h) => h.id),
          [held.body.id],
        );
        await verified();
      },
    );

    async function expiredCount(id: string): Promise<number> {
      const row = await t.runtime.database.db
        .selectFrom('holds')
        .select(['status'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      return row.status === 'expired' ? 1 : 0;
    }

    it(
      'another customer cannot see or act on a hold; customers cannot place one',
      TIMEOUT,
      async () => {
        const owner = await t.fundedCustomer('50.00');
        const other = await t.fundedCustomer('50.00');
        const held = await place(teller, owner.account, { amount: '10.00' });
        const missing = '00000000-0000-4000-8000-000000000000';
        for (const [method, path] of [
          ['GET', `/api/v1/holds/${held.body.id}`],
          ['POST', `/api/v1/holds/${held.body.id}/capture`],
          ['POST', `/api/v1/holds/${held.body.id}/void`],
          ['GET', `/api/v1/accounts/${owner.account}/holds`],
        ] as const) {
          const foreign = await t.request(method, path, { token: other.user.token });
          assert.equal(foreign.status, 404, `${method} ${path}`);
          const gonePath = path.includes(held.body.id)
            ? path.replace(held.body.id, missing)
            : path.replace(owner.account, '0'.repeat(owner.account.length));
          const gone = await t.request(method, gonePath, { token: other.user.token });
          const { instance: _a, ...foreignBody } = foreign.body;
          const { instance: _b, ...goneBody } = gone.body;
          if (path.includes(held.body.id)) assert.deepEqual(foreignBody, goneBody);
          else assert.equal(foreignBody.code, 'NOT_FOUND');
        }
        // The owner reads it but may not capture or void it, nor place one.
        const mine = await t.request<Hold>('GET', `/api/v1/holds/${held.body.id}`, {
          token: owner.user.token,
        });
        assert.equal(mine.status, 200);
        assert.equal((await capture(owner.user, held.body.id)).status, 403);
        assert.equal((await voidHold(owner.user, held.body.id)).status, 403);
        assert.equal((await place(owner.user, owner.account, { amount: '1.00' })).status, 403);
        // A customer placing on someone else's account: as if it did not exist.
        const foreignPlace = await place(other.user, owner.account, { amount: '1.00' });
        assert.equal(foreignPlace.status, 404);
        // An auditor reads but does not act.
        const auditor = await t.staff('auditor');
        assert.equal(
          (await t.request('GET', `/api/v1/holds/${held.body.id}`, { token: auditor.token }))
            .status,
          200,
        );
        assert.equal((await capture(auditor, held.body.id)).status, 403);
        // Staff may not hold their own accounts.
        const own = await t.openAccount(teller);
        assert.equal((await place(teller, own.accountNumber, { amount: '1.00' })).status, 403);
        const still = await t.request<Hold>('GET', `/api/v1/holds/${held.body.id}`, {
          token: owner.user.token,
        });
        assert.equal(still.body.status, 'pending');
      },
    );

    it('placing a hold is idempotent under Idempotency-Key', TIMEOUT, async () => {
      const { user, account: number } = await t.fundedCustomer('100.00');
      const headers = { 'idempotency-key': `hold-${number}` };
      const [a, b] = await Promise.all([
        place(teller, number, { amount: '40.00' }, headers),
        place(teller, number, { amount: '40.00' }, headers),
      ]);
      const c = await place(teller, number, { amount: '40.00' }, headers);
      assert.equal(a.status, 201);
      assert.equal(b.status, 201);
      assert.equal(c.status, 201);
      assert.equal(a.body.id, b.body.id);
      assert.equal(a.body.id, c.body.id);
      assert.equal(c.headers['idempotent-replayed'], 'true');
      assert.equal((await account(user, number)).availableBalance, '60.00');
      const reused = await place(teller, number, { amount: '41.00' }, headers);
      assert.equal(reused.status, 409);
      assert.equal(reused.body.code, 'IDEMPOTENCY_KEY_REUSED');
      const list = await t.request<{ data: Hold[] }>(
        'GET',
        `/api/v1/accounts/${number}/holds?status=pending`,
        { token: user.token },
      );
      assert.equal(list.body.data.length, 1);
    });

    it('refuses bad input', TIMEOUT, async () => {
      const { account: number } = await t.fundedCustomer('100.00');
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ amount: '-1.00' }, 'amount'],
        [{ amount: '1.001' }, 'amount'],
        [{ amount: 5 }, 'amount'],
        [{}, 'amount'],
        [{ amount: '1.00', expiresInSeconds: 59 }, 'expiresInSeconds'],
        [{ amount: '1.00', expiresInSeconds: 2_592_001 }, 'expiresInSeconds'],
        [{ amount: '1.00', extra: true }, 'extra'],
      ];
      for (const [body, field] of cases) {
        const response = await place(teller, number, body);
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.code, 'VALIDATION_FAILED');
        assert.match(String((response.body as { field?: string }).field), new RegExp(field));
      }
      const badId = await t.request('GET', '/api/v1/holds/not-a-uuid', { token: teller.token });
      assert.equal(badId.status, 400);
      const held = await place(teller, number, { amount: '1.00' });
      const badTo = await capture(teller, held.body.id, { toAccount: '123' });
      assert.equal(badTo.status, 400);
      const badStatus = await t.request('GET', `/api/v1/accounts/${number}/holds?status=open`, {
        token: teller.token,
      });
      assert.equal(badStatus.status, 400);
    });

    it('parallel holds, withdrawals and transfers never exceed the balance', TIMEOUT, async () => {
      const { user, account: number } = await t.fundedCustomer('100.00');
      const payee = await t.fundedCustomer('0.01');
      const requests: Array<() => Promise<Response<{ code?: string }>>> = [];
      for (let i = 0; i < 12; i++) {
        requests.push(() => place(i % 2 === 0 ? teller : admin, number, { amount: '10.00' }));
        requests.push(() => t.withdraw(user, number, '10.00'));
        requests.push(() => t.transfer(user, number, payee.account, '10.00'));
      }
      const responses = await Promise.all(requests.map((r) => r()));
      const ok = responses.filter((r) => r.status === 201).length;
      const refused = responses.filter(
        (r) => r.status === 422 && r.body.code === 'INSUFFICIENT_FUNDS',
      ).length;
      assert.equal(ok, 10, 'exactly the balance is spent or reserved');
      assert.equal(ok + refused, requests.length);
      const now = await account(user, number);
      assert.equal(now.availableBalance, '0.00');
      const held = await t.request<{ data: Hold[] }>(
        'GET',
        `/api/v1/accounts/${number}/holds?status=pending`,
        { token: user.token },
      );
      const heldTotal = held.body.data.length * 10;
      assert.equal(Number(now.balance), heldTotal);
      await verified();
    });

    it('ledger verify finds pending holds larger than the balance', TIMEOUT, async () => {
      await verified();
      const { account: number } = await t.fundedCustomer('10.00');
      const held = await place(teller, number, { amount: '10.00' });
      assert.equal(held.status, 201);
      await verified();
      await sql`update holds set amount_minor = 1001 where id = ${held.body.id}`.execute(
        t.runtime.database.db,
      );
      const result = await verifyLedger(t.runtime.database.db);
      assert.equal(result.ok, false);
      assert.match(
        result.ok ? '' : result.problem,
        new RegExp(`account ${number} has pending holds`),
      );
      await sql`update holds set status = 'voided' where id = ${held.body.id}`.execute(
        t.runtime.database.db,
      );
      await verified();
    });
  });
}
