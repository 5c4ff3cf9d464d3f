import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateAccountNumber } from '../src/accounts/account-number.ts';
import { assertProblem } from './support/auth-helpers.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { assertLedgerGrew, historyOf, ledgerMark } from './support/ledger-assertions.ts';
import { WRONG_PIN } from './support/staff.ts';

/**
 * Bulk transfers (`POST /api/v1/transfers/bulk`, issue #17 item 5) on both engines: each
 * item is an ordinary transfer through the one write path (its rules, limits, events), one
 * PIN for the request, all or nothing with `atomic`, idempotent as a whole. Every test
 * checks balances and the ledger (entries written, `verifyLedger`) from the database.
 */

const TIMEOUT = { timeout: 120_000 };

interface Item {
  fromAccount: string;
  toAccount: string;
  amount: unknown;
  description?: string;
}

interface ItemResult {
  index: number;
  status: 'posted' | 'refused' | 'skipped';
  code?: string;
  message?: string;
  field?: string;
  transaction?: { id: string; type: string; amount: string; balanceAfter: string };
}

interface BulkAnswer {
  atomic: boolean;
  postedCount: number;
  refusedCount: number;
  results: ItemResult[];
  code?: string;
  field?: string;
  failures?: ItemResult[];
}

for (const engine of ENGINES) {
  describe(`bulk transfers [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(async () => {
      await t?.close();
    });

    function bulk(
      user: TestUser,
      transfers: Item[],
      options: { atomic?: boolean; pin?: string; headers?: Record<string, string> } = {},
    ): Promise<Response<BulkAnswer>> {
      return t.request<BulkAnswer>('POST', '/api/v1/transfers/bulk', {
        token: user.token,
        body: {
          pin: options.pin ?? DEFAULT_PIN,
          ...(options.atomic === undefined ? {} : { atomic: options.atomic }),
          transfers,
        },
        headers: options.headers ?? {},
      });
    }

    async function postedEvents(): Promise<number> {
      const row = await t.runtime.database.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<bigint | number>().as('n'))
        .where('type', '=', 'transaction.posted')
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }

    it(
      'posts each item as an ordinary transfer with its own result; refused items stop nothing',
      TIMEOUT,
      async () => {
        const payer = await t.fundedCustomer('100.00');
        const second = await t.openAccount(payer.user);
        assert.equal((await t.deposit(payer.user, second.accountNumber, '5.00')).status, 201);
        const [a, b] = [await t.fundedCustomer('1.00'), await t.fundedCustomer('1.00')];
        const mark = await ledgerMark(t);
        const events = await postedEvents();
        const answer = await bulk(payer.user, [
          {
            fromAccount: payer.account,
            toAccount: a.account,
            amount: '10.00',
            description: 'Pay 1',
          },
          { fromAccount: payer.account, toAccount: b.account, amount: '20.50' },
          // More than the second account holds: refused, the others go on.
          { fromAccount: second.accountNumber, toAccount: a.account, amount: '6.00' },
          { fromAccount: second.accountNumber, toAccount: b.account, amount: '5.00' },
          // A destination that does not exist.
          { fromAccount: payer.account, toAccount: generateAccountNumber(), amount: '1.00' },
        ]);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal(answer.body.atomic, false);
        assert.equal(answer.body.postedCount, 3);
        assert.equal(answer.body.refusedCount, 2);
        assert.deepEqual(
          answer.body.results.map((r) => [r.index, r.status, r.code ?? null]),
          [
            [0, 'posted', null],
            [1, 'posted', null],
            [2, 'refused', 'INSUFFICIENT_FUNDS'],
            [3, 'posted', null],
            [4, 'refused', 'NOT_FOUND'],
          ],
        );
        const first = answer.body.results[0]?.transaction;
        assert.equal(first?.type, 'transfer_out');
        assert.equal(first?.amount, '10.00');
        assert.equal(first?.balanceAfter, '90.00');
        assert.equal(answer.body.results[1]?.transaction?.balanceAfter, '69.50');
        assert.equal(await t.balance(payer.user, payer.account), '69.50');
        assert.equal(await t.balance(payer.user, second.accountNumber), '0.00');
        assert.equal(await t.balance(a.user, a.account), '11.00');
        assert.equal(await t.balance(b.user, b.account), '26.50');
        await assertLedgerGrew(t, mark, 3);
        assert.equal(await postedEvents(), events + 3, 'one transaction.posted event per item');
        // Each appears in the history like any transfer, with its description.
        const history = await historyOf(t, payer.user, payer.account);
        const found = history.find((row) => row.id === first?.id);
        assert.equal(found?.description, 'Pay 1');
      },
    );

    it(
      'atomic: one refused item posts nothing (422 with the refused items); all valid posts all',
      TIMEOUT,
      async () => {
        const payer = await t.fundedCustomer('50.00');
        const payee = await t.fundedCustomer('1.00');
        const mark = await ledgerMark(t);
        const refused = await bulk(
          payer.user,
          [
            { fromAccount: payer.account, toAccount: payee.account, amount: '20.00' },
            { fromAccount: payer.account, toAccount: payee.account, amount: '20.00' },
            // The running balance after the first two: 10.00, so this one is refused.
            { fromAccount: payer.account, toAccount: payee.account, amount: '10.01' },
            { fromAccount: payer.account, toAccount: payee.account, amount: '1.00' },
          ],
          { atomic: true },
        );
        assertProblem(refused, 422, 'BULK_REFUSED');
        assert.deepEqual(
          refused.body.failures?.map((f) => [f.index, f.status, f.code]),
          [[2, 'refused', 'INSUFFICIENT_FUNDS']],
        );
        assert.equal(await t.balance(payer.user, payer.account), '50.00');
        assert.equal(await t.balance(payee.user, payee.account), '1.00');
        await assertLedgerGrew(t, mark, 0);

        const posted = await bulk(
          payer.user,
          [
            { fromAccount: payer.account, toAccount: payee.account, amount: '20.00' },
            { fromAccount: payer.account, toAccount: payee.account, amount: '30.00' },
          ],
          { atomic: true },
        );
        assert.equal(posted.status, 200, JSON.stringify(posted.body));
        assert.equal(posted.body.atomic, true);
        assert.deepEqual(
          posted.body.results.map((r) => r.status),
          ['posted', 'posted'],
        );
        assert.equal(await t.balance(payer.user, payer.account), '0.00');
        assert.equal(await t.balance(payee.user, payee.account), '51.00');
        await assertLedgerGrew(t, mark, 2);
      },
    );

    it(
      'another customer cannot debit someone else’s account in a bulk (404 item; atomic: nothing)',
      TIMEOUT,
      async () => {
        const victim = await t.fundedCustomer('100.00');
        const thief = await t.fundedCustomer('10.00');
        const mark = await ledgerMark(t);
        const mixed = await bulk(thief.user, [
          { fromAccount: victim.account, toAccount: thief.account, amount: '50.00' },
          { fromAccount: thief.account, toAccount: victim.account, amount: '1.00' },
          { fromAccount: generateAccountNumber(), toAccount: thief.account, amount: '5.00' },
        ]);
        assert.equal(mixed.status, 200, JSON.stringify(mixed.body));
        const [foreign, own, missing] = mixed.body.results;
        assert.equal(foreign?.status, 'refused');
        assert.equal(foreign?.code, 'NOT_FOUND');
        assert.equal(own?.status, 'posted');
        // A foreign account is refused exactly like a missing one.
        assert.deepEqual(
          { code: missing?.code, message: missing?.message },
          { code: foreign?.code, message: foreign?.message },
        );
        const atomic = await bulk(
          thief.user,
          [
            { fromAccount: thief.account, toAccount: victim.account, amount: '1.00' },
            { fromAccount: victim.account, toAccount: thief.account, amount: '50.00' },
          ],
          { atomic: true },
        );
        assertProblem(atomic, 422, 'BULK_REFUSED');
        assert.deepEqual(
          atomic.body.failures?.map((f) => [f.index, f.code]),
          [[1, 'NOT_FOUND']],
        );
        assert.equal(await t.balance(victim.user, victim.account), '101.00');
        assert.equal(await t.balance(thief.user, thief.account), '9.00');
        await assertLedgerGrew(t, mark, 1);
        // Auditors move no money, in bulk or not.
        const auditor = await t.staff('auditor');
        assertProblem(
          await bulk(auditor, [
            { fromAccount: victim.account, toAccount: thief.account, amount: '1.00' },
          ]),
          403,
          'FORBIDDEN',
        );
      },
    );

    it(
      'idempotency: the same key replays the answer and moves nothing again; another body 409',
      TIMEOUT,
      async () => {
        const payer = await t.fundedCustomer('100.00');
        const payee = await t.fundedCustomer('1.00');
        const items: Item[] = [
          { fromAccount: payer.account, toAccount: payee.account, amount: '10.00' },
          { fromAccount: payer.account, toAccount: payee.account, amount: '200.00' },
          { fromAccount: payer.account, toAccount: payee.account, amount: '5.00' },
        ];
        const key = { 'idempotency-key': `bulk-${Date.now()}` };
        const mark = await ledgerMark(t);
        const first = await bulk(payer.user, items, { headers: key });
        assert.equal(first.status, 200, JSON.stringify(first.body));
        assert.equal(first.body.postedCount, 2);
        // Retries, in parallel too, get the very same answer and post nothing.
        const again = await Promise.all([
          bulk(payer.user, items, { headers: key }),
          bulk(payer.user, items, { headers: key }),
        ]);
        for (const replay of again) {
          assert.equal(replay.status, 200);
          assert.equal(replay.headers['idempotent-replayed'], 'true');
          assert.deepEqual(replay.body, first.body);
        }
        assert.equal(await t.balance(payer.user, payer.account), '85.00');
        await assertLedgerGrew(t, mark, 2);
        // The same key with another body, even one item changed or one more: 409.
        const changed = items.map((item, i) => (i === 2 ? { ...item, amount: '5.01' } : item));
        for (const body of [changed, [...items, items[0] as Item]]) {
          assertProblem(
            await bulk(payer.user, body, { headers: key }),
            409,
            'IDEMPOTENCY_KEY_REUSED',
          );
        }
        assertProblem(
          await bulk(payer.user, items, { headers: key, atomic: true }),
          409,
          'IDEMPOTENCY_KEY_REUSED',
        );
        // A single transfer cannot reuse the bulk's key either.
        assertProblem(
          await t.transfer(payer.user, payer.account, payee.account, '10.00', { headers: key }),
          409,
          'IDEMPOTENCY_KEY_REUSED',
        );
        // An atomic refusal is an answer too: replayed as the same 422, nothing posted.
        const atomicKey = { 'idempotency-key': `bulk-atomic-${Date.now()}` };
        const refused = await bulk(payer.user, items, { headers: atomicKey, atomic: true });
        assertProblem(refused, 422, 'BULK_REFUSED');
        const replayed = await bulk(payer.user, items, { headers: atomicKey, atomic: true });
        assertProblem(replayed, 422, 'BULK_REFUSED');
        assert.deepEqual(replayed.body.failures, refused.body.failures);
        assert.equal(await t.balance(payer.user, payer.account), '85.00');
        await assertLedgerGrew(t, mark, 2);
        // Keys are the caller's: another customer's identical key is their own request.
        const other = await t.fundedCustomer('20.00');
        const theirs = await bulk(
          other.user,
          [{ fromAccount: other.account, toAccount: payee.account, amount: '1.00' }],
          { headers: key },
        );
        assert.equal(theirs.status, 200, JSON.stringify(theirs.body));
        assert.equal(theirs.headers['idempotent-replayed'], undefined);
      },
    );

    it(
      'refuses bad input before anything moves: 1,001 items, none, bad amounts (400 naming the index)',
      TIMEOUT,
      async () => {
        const payer = await t.fundedCustomer('100.00');
        const payee = await t.fundedCustomer('1.00');
        const good: Item = { fromAccount: payer.account, toAccount: payee.account, amount: '1.00' };
        const mark = await ledgerMark(t);
        assertProblem(
          await bulk(
            payer.user,
            Array.from({ length: 1001 }, () => good),
          ),
          400,
          'VALIDATION_FAILED',
          'transfers',
        );
        assertProblem(await bulk(payer.user, []), 400, 'VALIDATION_FAILED', 'transfers');
        for (const [amount, field] of [
          ['0.00', 'transfers.2.amount'],
          ['-1.00', 'transfers.2.amount'],
          ['1.001', 'transfers.2.amount'],
          ['1e3', 'transfers.2.amount'],
          ['', 'transfers.2.amount'],
          [5, 'transfers.2.amount'],
          ['99999999999999999999.00', 'transfers.2.amount'],
        ] as const) {
          assertProblem(
            await bulk(payer.user, [good, good, { ...good, amount }, good]),
            400,
            'VALIDATION_FAILED',
            field,
          );
        }
        assertProblem(
          await bulk(payer.user, [good, { ...good, toAccount: '123456789012' }]),
          400,
          'VALIDATION_FAILED',
          'transfers.1.toAccount',
        );
        assertProblem(
          await bulk(payer.user, [good, { ...good, toAccount: payer.account }]),
          400,
          'SAME_ACCOUNT',
          'transfers.1.toAccount',
        );
        assertProblem(
          await bulk(payer.user, [{ ...good, extra: 1 } as Item]),
          400,
          'VALIDATION_FAILED',
          'transfers.0.extra',
        );
        assertProblem(
          await t.request('POST', '/api/v1/transfers/bulk', {
            token: payer.user.token,
            body: { transfers: [good] },
          }),
          400,
          'VALIDATION_FAILED',
          'pin',
        );
        assertProblem(
          await t.request('POST', '/api/v1/transfers/bulk', {
            body: { pin: DEFAULT_PIN, transfers: [good] },
          }),
          401,
          'UNAUTHENTICATED',
        );
        // One PIN for the whole request, counted like any other: the third wrong one locks.
        assertProblem(await bulk(payer.user, [good, good], { pin: WRONG_PIN }), 403, 'INVALID_PIN');
        assertProblem(await bulk(payer.user, [good], { pin: WRONG_PIN }), 403, 'INVALID_PIN');
        assertProblem(await bulk(payer.user, [good], { pin: WRONG_PIN }), 423, 'USER_LOCKED');
        assertProblem(await bulk(payer.user, [good]), 423, 'USER_LOCKED');
        assert.equal(await t.balance(payer.user, payer.account), '100.00');
        await assertLedgerGrew(t, mark, 0);
      },
    );

    it('daily outgoing limits bind bulk items as they bind transfers', TIMEOUT, async () => {
      const payer = await t.fundedCustomer('500.00');
      const payee = await t.fundedCustomer('1.00');
      const admin = await t.staff('admin');
      const set = await t.request('PUT', `/api/v1/admin/users/${payer.user.id}/limits`, {
        token: admin.token,
        body: {
          dailyOutgoing: { USD: '100.00' },
          ...(admin.mfaSecret === undefined ? {} : { otp: await t.staffOtp(admin) }),
        },
      });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      const item = { fromAccount: payer.account, toAccount: payee.account, amount: '40.00' };
      const answer = await bulk(payer.user, [item, item, item]);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(
        answer.body.results.map((r) => r.code ?? r.status),
        ['posted', 'posted', 'LIMIT_EXCEEDED'],
      );
      assertProblem(
        await t.transfer(payer.user, payer.account, payee.account, '20.01'),
        422,
        'LIMIT_EXCEEDED',
      );
      assert.equal(await t.balance(payer.user, payer.account), '420.00');
    });

    it(
      'parallel bulk requests and single transfers never overdraw; atomic ones are all or nothing',
      TIMEOUT,
      async () => {
        const payer = await t.fundedCustomer('100.00');
        const payees = await Promise.all([t.fundedCustomer('0.01'), t.fundedCustomer('0.01')]);
        const to = (i: number) => payees[i % 2]?.account ?? '';
        const mark = await ledgerMark(t);
        const plain = Array.from({ length: 8 }, (_, r) =>
          bulk(
            payer.user,
            Array.from({ length: 5 }, (_, i) => ({
              fromAccount: payer.account,
              toAccount: to(r + i),
              amount: '3.00',
            })),
          ),
        );
        const atomic = Array.from({ length: 6 }, (_, r) =>
          bulk(
            payer.user,
            Array.from({ length: 4 }, (_, i) => ({
              fromAccount: payer.account,
              toAccount: to(r + i),
              amount: '2.50',
            })),
            { atomic: true },
          ),
        );
        const singles = Array.from({ length: 20 }, (_, i) =>
          t.transfer(payer.user, payer.account, to(i), '1.00'),
        );
        const [plainAnswers, atomicAnswers, singleAnswers] = await Promise.all([
          Promise.all(plain),
          Promise.all(atomic),
          Promise.all(singles),
        ]);
        let postedMinor = 0;
        let entries = 0;
        for (const answer of plainAnswers) {
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          for (const result of answer.body.results) {
            if (result.status === 'posted') {
              postedMinor += 300;
              entries += 1;
            } else assert.equal(result.code, 'INSUFFICIENT_FUNDS');
          }
        }
        for (const answer of atomicAnswers) {
          if (answer.status === 200) {
            assert.ok(answer.body.results.every((r) => r.status === 'posted'));
            postedMinor += 1000;
            entries += 4;
          } else {
            assertProblem(answer, 422, 'BULK_REFUSED');
            assert.ok(answer.body.failures?.every((f) => f.code === 'INSUFFICIENT_FUNDS'));
          }
        }
        for (const answer of singleAnswers) {
          if (answer.status === 201) {
            postedMinor += 100;
            entries += 1;
          } else assertProblem(answer, 422, 'INSUFFICIENT_FUNDS');
        }
        assert.ok(postedMinor <= 10_000, `posted ${postedMinor} of 10000`);
        const left = 10_000 - postedMinor;
        assert.equal(
          await t.balance(payer.user, payer.account),
          `${Math.floor(left / 100)}.${String(left % 100).padStart(2, '0')}`,
        );
        // The money ran out (more was asked than there was), and nothing went below zero.
        assert.ok(left < 250, `only ${left} minor units left unspent`);
        await assertLedgerGrew(t, mark, entries);
        const received = await Promise.all(payees.map((p) => t.balance(p.user, p.account)));
        const receivedMinor = received.reduce((sum, b) => sum + Math.round(Number(b) * 100) - 1, 0);
        assert.equal(receivedMinor, postedMinor, 'what left the payer reached the payees');
      },
    );
  });
}
