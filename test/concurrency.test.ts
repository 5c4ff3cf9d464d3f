import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Principal } from '../src/auth/roles.ts';
import { CommandBatcher } from '../src/ledger/batcher.ts';
import { type CommandOutcome, LedgerEngine } from '../src/ledger/engine.ts';
import { MoneyService } from '../src/ledger/money-service.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { assertLedgerGrew, historyOf, ledgerMark, outcomeOf } from './support/ledger-assertions.ts';

/**
 * Money operations fired in parallel. `app.inject` requests started together interleave at
 * every await, and on PostgreSQL each runs on its own pooled connection, so these races are
 * real races at the database. Every test ends by proving the ledger from the database alone
 * and by checking exact balances, history lengths and the number of journal entries written.
 */

const TIMEOUT = { timeout: 120_000 };
const WRONG_PIN = '1357';

interface Funded {
  user: TestUser;
  account: string;
}

function tally(responses: readonly Response[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const response of responses) {
    const key = outcomeOf(response);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Starts all requests before awaiting any, so they run interleaved. */
function parallel(requests: ReadonlyArray<() => Promise<Response>>): Promise<Response[]> {
  return Promise.all(requests.map((request) => request()));
}

function times<T>(count: number, make: (index: number) => T): T[] {
  return Array.from({ length: count }, (_, index) => make(index));
}

/**
 * The same items in a fixed scrambled order (multiplying by a prime permutes the indexes),
 * so requests of different kinds are mixed throughout the batch rather than in blocks.
 */
function spread<T>(items: readonly T[]): T[] {
  return items
    .map((item, index) => ({ item, order: (index * 7919) % items.length }))
    .sort((x, y) => x.order - y.order)
    .map(({ item }) => item);
}

async function customers(t: TestApp, count: number, amount: string): Promise<Funded[]> {
  return Promise.all(times(count, () => t.fundedCustomer(amount)));
}

for (const engine of ENGINES) {
  describe(`concurrency [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    it('200 parallel withdrawals of the whole balance: exactly one succeeds', TIMEOUT, async () => {
      const { user, account } = await t.fundedCustomer('50.00');
      const mark = await ledgerMark(t);

      const responses = await parallel(times(200, () => () => t.withdraw(user, account, '50.00')));

      assert.deepEqual(tally(responses), { '201': 1, '422 INSUFFICIENT_FUNDS': 199 });
      const winner = responses.find((response) => response.status === 201);
      assert.equal(winner?.body.balanceAfter, '0.00');
      assert.equal(await t.balance(user, account), '0.00');
      const history = await historyOf(t, user, account);
      assert.deepEqual(
        history.map((row) => [row.type, row.amount, row.balanceAfter]),
        [
          ['withdrawal', '50.00', '0.00'],
          ['deposit', '50.00', '50.00'],
        ],
      );
      await assertLedgerGrew(t, mark, 1);
    });

    it('200 parallel small withdrawals never overdraw and none is lost', TIMEOUT, async () => {
      // 50.00 / 0.30 = 166 whole withdrawals, 0.20 left over.
      const { user, account } = await t.fundedCustomer('50.00');
      const mark = await ledgerMark(t);

      const responses = await parallel(times(200, () => () => t.withdraw(user, account, '0.30')));

      assert.deepEqual(tally(responses), { '201': 166, '422 INSUFFICIENT_FUNDS': 34 });
      const after = responses
        .filter((response) => response.status === 201)
        .map((response) => String(response.body.balanceAfter));
      assert.equal(new Set(after).size, 166, 'every success saw a distinct balance');
      assert.equal(await t.balance(user, account), '0.20');
      assert.equal((await historyOf(t, user, account)).length, 167);
      await assertLedgerGrew(t, mark, 166);
    });

    it('opposite transfers A→B and B→A in parallel all complete', TIMEOUT, async () => {
      const [a, b] = await customers(t, 2, '100.00');
      assert.ok(a !== undefined && b !== undefined);
      const mark = await ledgerMark(t);

      // Interleaved, so both directions are in flight from the first request on.
      const responses = await parallel(
        times(100, (index) =>
          index % 2 === 0
            ? () => t.transfer(a.user, a.account, b.account, '1.00')
            : () => t.transfer(b.user, b.account, a.account, '1.00'),
        ),
      );

      assert.deepEqual(tally(responses), { '201': 100 });
      assert.equal(await t.balance(a.user, a.account), '100.00');
      assert.equal(await t.balance(b.user, b.account), '100.00');
      for (const side of [a, b]) {
        const history = await historyOf(t, side.user, side.account);
        assert.equal(history.length, 101);
        assert.equal(history.filter((row) => row.type === 'transfer_out').length, 50);
        assert.equal(history.filter((row) => row.type === 'transfer_in').length, 50);
      }
      await assertLedgerGrew(t, mark, 100);
    });

    it('opposite transfers with unequal counts and amounts end exact', TIMEOUT, async () => {
      const [a, b] = await customers(t, 2, '200.00');
      assert.ok(a !== undefined && b !== undefined);
      const mark = await ledgerMark(t);

      // A sends 40 × 2.50 = 100.00 and B sends 15 × 1.75 = 26.25; neither can run short
      // in any order, so every transfer must succeed.
      const responses = await parallel(
        spread([
          ...times(40, () => () => t.transfer(a.user, a.account, b.account, '2.50')),
          ...times(15, () => () => t.transfer(b.user, b.account, a.account, '1.75')),
        ]),
      );

      assert.deepEqual(tally(responses), { '201': 55 });
      assert.equal(await t.balance(a.user, a.account), '126.25');
      assert.equal(await t.balance(b.user, b.account), '273.75');
      assert.equal((await historyOf(t, a.user, a.account)).length, 56);
      assert.equal((await historyOf(t, b.user, b.account)).length, 56);
      await assertLedgerGrew(t, mark, 55);
    });

    it('transfers around a three-account cycle in parallel all complete', TIMEOUT, async () => {
      const ring = await customers(t, 3, '10.00');
      const mark = await ledgerMark(t);

      const responses = await parallel(
        times(90, (index) => {
          const from = ring[index % 3];
          const to = ring[(index + 1) % 3];
          assert.ok(from !== undefined && to !== undefined);
          return () => t.transfer(from.user, from.account, to.account, '0.10');
        }),
      );

      assert.deepEqual(tally(responses), { '201': 90 });
      for (const member of ring) {
        assert.equal(await t.balance(member.user, member.account), '10.00');
        assert.equal((await historyOf(t, member.user, member.account)).length, 61);
      }
      await assertLedgerGrew(t, mark, 90);
    });

    it('many customers pay into one hot account while it is withdrawn from', TIMEOUT, async () => {
      const hot = await t.fundedCustomer('30.00');
      const senders = await customers(t, 20, '20.00');
      const mark = await ledgerMark(t);

      // 20 senders × 5 × 3.00 in, 30 × 1.00 out, 10 × 2.00 cash in by the owner. The hot
      // account starts with enough for every withdrawal, so no order can make one fail.
      const requests = [
        ...senders.flatMap((sender) =>
          times(5, () => () => t.transfer(sender.user, sender.account, hot.account, '3.00')),
        ),
        ...times(30, () => () => t.withdraw(hot.user, hot.account, '1.00')),
        ...times(10, () => () => t.deposit(hot.user, hot.account, '2.00')),
      ];
      const responses = await parallel(spread(requests));

      assert.deepEqual(tally(responses), { '201': 140 });
      assert.equal(await t.balance(hot.user, hot.account), '320.00');
      const hotHistory = await historyOf(t, hot.user, hot.account);
      assert.equal(hotHistory.length, 141);
      assert.equal(hotHistory.filter((row) => row.type === 'transfer_in').length, 100);
      assert.equal(hotHistory.filter((row) => row.type === 'withdrawal').length, 30);
      assert.equal(hotHistory.filter((row) => row.type === 'deposit').length, 11);
      for (const sender of senders) {
        assert.equal(await t.balance(sender.user, sender.account), '5.00');
        assert.equal((await historyOf(t, sender.user, sender.account)).length, 6);
      }
      await assertLedgerGrew(t, mark, 140);
    });

    it(
      'double spend: 100 parallel transfers of the whole balance to 100 accounts',
      TIMEOUT,
      async () => {
        const source = await t.fundedCustomer('75.00');
        // A customer may hold at most 10 accounts: 10 payees with 10 accounts each.
        const payees = await Promise.all(times(10, () => t.customer()));
        const destinations: Funded[] = [];
        for (const payee of payees) {
          for (let n = 0; n < 10; n++) {
            destinations.push({ user: payee, account: (await t.openAccount(payee)).accountNumber });
          }
        }
        assert.equal(new Set(destinations.map((d) => d.account)).size, 100);
        const mark = await ledgerMark(t);

        const responses = await parallel(
          destinations.map(
            (destination) => () =>
              t.transfer(source.user, source.account, destination.account, '75.00'),
          ),
        );

        assert.deepEqual(tally(responses), { '201': 1, '422 INSUFFICIENT_FUNDS': 99 });
        const winner = responses.find((response) => response.status === 201);
        const paid = winner?.body.counterpartyAccount;
        assert.ok(typeof paid === 'string');
        assert.equal(await t.balance(source.user, source.account), '0.00');
        assert.equal((await historyOf(t, source.user, source.account)).length, 2);
        const credited: string[] = [];
        for (const destination of destinations) {
          const balance = await t.balance(destination.user, destination.account);
          const history = await historyOf(t, destination.user, destination.account);
          if (destination.account === paid) {
            assert.equal(balance, '75.00');
            assert.equal(history.length, 1);
          } else {
            assert.equal(balance, '0.00');
            assert.equal(history.length, 0);
          }
          if (balance !== '0.00') credited.push(destination.account);
        }
        assert.deepEqual(credited, [paid]);
        await assertLedgerGrew(t, mark, 1);
      },
    );

    it('30 parallel wrong PINs: exactly 2 INVALID_PIN, the rest USER_LOCKED', TIMEOUT, async () => {
      const { user, account } = await t.fundedCustomer('10.00');
      const mark = await ledgerMark(t);

      const responses = await parallel(
        times(30, () => () => t.withdraw(user, account, '1.00', { pin: WRONG_PIN })),
      );

      assert.deepEqual(tally(responses), { '403 INVALID_PIN': 2, '423 USER_LOCKED': 28 });
      const me = await t.request<{ locked: boolean }>('GET', '/api/v1/me', { token: user.token });
      assert.equal(me.status, 200);
      assert.equal(me.body.locked, true);
      const row = await t.runtime.database.db
        .selectFrom('users')
        .select(['failed_pin_attempts', 'locked_at'])
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(row.failed_pin_attempts), 3);
      assert.notEqual(row.locked_at, null);

      // Locked means locked: the right PIN no longer moves money either.
      const right = await t.withdraw(user, account, '1.00');
      assert.equal(outcomeOf(right), '423 USER_LOCKED');
      assert.equal(await t.balance(user, account), '10.00');
      assert.equal((await historyOf(t, user, account)).length, 1);
      await assertLedgerGrew(t, mark, 0);
    });

    /*
     * Below HTTP. Every request above reaches the database only after an asynchronous
     * token check, and node:sqlite answers synchronously, so on SQLite each request's
     * whole money path tends to run inside one turn of the event loop and the races above
     * can pass even without a database transaction. Commands handed to the money service
     * in the same tick have no such gap: they interleave at every await, which makes the
     * transaction boundary, not the event loop, what keeps them apart on both engines.
     */
    describe('money service, commands submitted in the same tick', () => {
      let money: MoneyService;
      before(() => {
        const { config, database, secrets } = t.runtime;
        const ledger = new LedgerEngine({
          engine: database.engine,
          pinPepper: secrets.pinPepper,
          pinMaxAttempts: config.pinMaxAttempts,
        });
        // Batches of one on several connections at once: here the row locks and the
        // transaction boundary alone must keep the commands apart (the HTTP tests above go
        // through the app's group-commit batcher instead).
        const batcher = new CommandBatcher(database.db, ledger, {
          maxBatchSize: 1,
          maxQueueSize: 10_000,
          concurrency: 8,
        });
        money = new MoneyService({
          db: database.db,
          batcher,
          maxAmountMajor: config.maxAmountMajor,
        });
      });

      const principalOf = (user: TestUser): Principal => ({
        userId: user.id,
        sessionId: 'same-tick-test',
        roles: ['customer'],
      });

      const codeOf = (outcome: CommandOutcome): string => (outcome.ok ? 'ok' : outcome.error.code);

      function tallyOutcomes(outcomes: readonly CommandOutcome[]): Record<string, number> {
        const counts: Record<string, number> = {};
        for (const outcome of outcomes) {
          counts[codeOf(outcome)] = (counts[codeOf(outcome)] ?? 0) + 1;
        }
        return counts;
      }

      it('200 whole-balance withdrawals: exactly one succeeds', TIMEOUT, async () => {
        const { user, account } = await t.fundedCustomer('50.00');
        const mark = await ledgerMark(t);

        const outcomes = await Promise.all(
          times(200, () =>
            money.submit(
              'withdrawal',
              principalOf(user),
              account,
              { amount: '50.00', pin: DEFAULT_PIN },
              null,
            ),
          ),
        );

        assert.deepEqual(tallyOutcomes(outcomes), { ok: 1, INSUFFICIENT_FUNDS: 199 });
        assert.equal(await t.balance(user, account), '0.00');
        assert.equal((await historyOf(t, user, account)).length, 2);
        await assertLedgerGrew(t, mark, 1);
      });

      it('opposite transfers all complete and balances return', TIMEOUT, async () => {
        const [a, b] = await customers(t, 2, '100.00');
        assert.ok(a !== undefined && b !== undefined);
        const mark = await ledgerMark(t);

        const outcomes = await Promise.all(
          times(100, (index) => {
            const [from, to] = index % 2 === 0 ? [a, b] : [b, a];
            return money.submit(
              'transfer',
              principalOf(from.user),
              from.account,
              { toAccount: to.account, amount: '1.00', pin: DEFAULT_PIN },
              null,
            );
          }),
        );

        assert.deepEqual(tallyOutcomes(outcomes), { ok: 100 });
        assert.equal(await t.balance(a.user, a.account), '100.00');
        assert.equal(await t.balance(b.user, b.account), '100.00');
        assert.equal((await historyOf(t, a.user, a.account)).length, 101);
        assert.equal((await historyOf(t, b.user, b.account)).length, 101);
        await assertLedgerGrew(t, mark, 100);
      });

      it('the same Idempotency-Key 20 times moves money once', TIMEOUT, async () => {
        const { user, account } = await t.fundedCustomer('50.00');
        const mark = await ledgerMark(t);

        const outcomes = await Promise.all(
          times(20, () =>
            money.submit(
              'withdrawal',
              principalOf(user),
              account,
              { amount: '20.00', pin: DEFAULT_PIN },
              'same-tick-key',
            ),
          ),
        );

        assert.deepEqual(tallyOutcomes(outcomes), { ok: 20 });
        assert.equal(outcomes.filter((outcome) => outcome.replayed).length, 19);
        const ids = new Set(outcomes.map((outcome) => (outcome.ok ? outcome.transaction.id : '')));
        assert.equal(ids.size, 1);
        assert.equal(await t.balance(user, account), '30.00');
        assert.equal((await historyOf(t, user, account)).length, 2);
        await assertLedgerGrew(t, mark, 1);
      });

      it('30 wrong PINs: exactly 2 INVALID_PIN, the rest USER_LOCKED', TIMEOUT, async () => {
        const { user, account } = await t.fundedCustomer('10.00');
        const mark = await ledgerMark(t);

        const outcomes = await Promise.all(
          times(30, () =>
            money.submit(
              'withdrawal',
              principalOf(user),
              account,
              { amount: '1.00', pin: WRONG_PIN },
              null,
            ),
          ),
        );

        assert.deepEqual(tallyOutcomes(outcomes), { INVALID_PIN: 2, USER_LOCKED: 28 });
        const row = await t.runtime.database.db
          .selectFrom('users')
          .select('failed_pin_attempts')
          .where('id', '=', user.id)
          .executeTakeFirstOrThrow();
        assert.equal(Number(row.failed_pin_attempts), 3);
        assert.equal(await t.balance(user, account), '10.00');
        assert.equal((await historyOf(t, user, account)).length, 1);
        await assertLedgerGrew(t, mark, 0);
      });
    });
  });
}
