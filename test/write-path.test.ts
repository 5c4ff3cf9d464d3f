import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateAccountNumber } from '../src/accounts/account-number.ts';
import { lockAccounts } from '../src/accounts/accounts-repository.ts';
import type { BatchState, LockedAccount, PlannedPosting } from '../src/ledger/commands/command.ts';
import { LedgerEngine, type MoneyCommand } from '../src/ledger/engine.ts';
import { LedgerInvariantError, persistBatch } from '../src/ledger/persist.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type Response,
  type TestApp,
} from './support/harness.ts';
import { ledgerMark, withoutInstance } from './support/ledger-assertions.ts';

const TIMEOUT = { timeout: 120_000 };

function emptyBatch(now: string): BatchState {
  return {
    now,
    gates: new Map(),
    keys: new Map(),
    accounts: new Map(),
    entries: [],
    keysToStore: [],
    pinStates: new Map(),
    audit: [],
    extraWrites: [],
    events: [],
    holds: new Map(),
  };
}

function leg(
  account: LockedAccount,
  direction: 'credit' | 'debit',
  amountMinor: bigint,
  counterparty: LockedAccount,
): PlannedPosting {
  return {
    account,
    direction,
    amountMinor,
    counterparty,
    balanceAfterMinor:
      direction === 'credit'
        ? account.balanceMinor + amountMinor
        : account.balanceMinor - amountMinor,
  };
}

for (const engine of ENGINES) {
  describe(`money write path [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    /** Locks two real accounts in a transaction and asks persistBatch to write `plan`. */
    async function persistFaulty(
      plan: (a: LockedAccount, b: LockedAccount) => PlannedPosting[],
    ): Promise<unknown> {
      const alice = await t.fundedCustomer('10.00');
      const bob = await t.fundedCustomer('10.00');
      const mark = await ledgerMark(t);
      const { db } = t.runtime.database;
      const attempt = db.transaction().execute(async (trx) => {
        const locked = await lockAccounts(trx, engine, [alice.account, bob.account]);
        const a = locked.get(alice.account);
        const b = locked.get(bob.account);
        assert.ok(a && b);
        const batch = emptyBatch(new Date().toISOString());
        const postings = plan({ ...a, pendingHoldsMinor: 0n }, { ...b, pendingHoldsMinor: 0n });
        batch.entries.push({
          kind: 'transfer',
          currency: 'USD',
          amountMinor: 100n,
          description: null,
          actorUserId: alice.user.id,
          postings,
          outcome: { ok: true, transaction: {} as never },
        });
        await persistBatch(trx, engine, batch);
      });
      const error = await attempt.then(
        () => assert.fail('the faulty batch was written'),
        (e: unknown) => e,
      );
      // Nothing of the batch is left: no entry, no posting, balances as they were.
      const now = await ledgerMark(t);
      assert.deepEqual(now, mark);
      assert.equal(await t.balance(alice.user, alice.account), '10.00');
      assert.equal(await t.balance(bob.user, bob.account), '10.00');
      assert.equal((await verifyLedger(db)).ok, true);
      return error;
    }

    describe('invariants that can fail', () => {
      it('refuses a batch whose postings do not sum to zero', TIMEOUT, async () => {
        const error = await persistFaulty((a, b) => [
          leg(a, 'debit', 100n, b),
          leg(b, 'credit', 99n, a),
        ]);
        assert.ok(error instanceof LedgerInvariantError, String(error));
        assert.match(error.message, /does not balance: its postings sum to -1/);
      });

      it('refuses a batch with a posting in another currency than its entry', TIMEOUT, async () => {
        const error = await persistFaulty((a, b) => [
          leg(a, 'debit', 100n, b),
          leg({ ...b, currency: 'EUR' }, 'credit', 100n, a),
        ]);
        assert.ok(error instanceof LedgerInvariantError, String(error));
        assert.match(error.message, /does not belong to entry/);
      });

      it('refuses a batch whose account row vanished under it', TIMEOUT, async () => {
        const error = await persistFaulty((a, b) => [
          leg(a, 'debit', 100n, b),
          // An account the batch believes it locked, but whose row is not there.
          leg({ ...b, id: 9_000_000_000n }, 'credit', 100n, a),
        ]);
        assert.ok(error instanceof LedgerInvariantError, String(error));
        assert.match(
          error.message,
          /account balances: expected 2 row\(s\), the database touched 1/,
        );
      });

      it('refuses an idempotency key that is already stored (a lost insert)', TIMEOUT, async () => {
        const alice = await t.fundedCustomer('10.00');
        const first = await t.deposit(alice.user, alice.account, '1.00', {
          'idempotency-key': 'stored-once',
        });
        assert.equal(first.status, 201);
        const { db } = t.runtime.database;
        const attempt = db.transaction().execute(async (trx) => {
          const batch = emptyBatch(new Date().toISOString());
          batch.keysToStore.push({
            userId: alice.user.id,
            key: 'stored-once',
            requestHash: 'another',
            outcome: { ok: false, error: { code: 'NOT_FOUND', message: 'x' } },
          });
          await persistBatch(trx, engine, batch);
        });
        await assert.rejects(
          attempt,
          /idempotency keys: expected 1 row\(s\), the database touched 0/,
        );
      });
    });

    describe('PIN counting inside one batch', () => {
      it(
        'a right PIN between wrong ones resets the count for the rest of the batch',
        TIMEOUT,
        async () => {
          const { user, account } = await t.fundedCustomer('10.00');
          const withdrawal = (pin: string): MoneyCommand => ({
            kind: 'withdrawal',
            actor: { userId: user.id, sessionId: 'batch', roles: ['customer'] },
            clientIp: null,
            amountMinor: 100n,
            currency: 'USD',
            description: null,
            idempotency: null,
            accountNumber: account,
            pin,
          });
          const ledger = new LedgerEngine({
            engine,
            pinPepper: t.runtime.secrets.pinPepper,
            pinMaxAttempts: 3,
          });
          const outcomes = await t.runtime.database.db
            .transaction()
            .execute((trx) =>
              ledger.applyAll(trx, ['1357', '1357', DEFAULT_PIN, '1357', '1357'].map(withdrawal)),
            );
          assert.deepEqual(
            outcomes.map((o) => (o.ok ? 'ok' : o.error.code)),
            ['INVALID_PIN', 'INVALID_PIN', 'ok', 'INVALID_PIN', 'INVALID_PIN'],
          );
          const row = await t.runtime.database.db
            .selectFrom('users')
            .select(['failed_pin_attempts', 'locked_at'])
            .where('id', '=', user.id)
            .executeTakeFirstOrThrow();
          assert.equal(row.failed_pin_attempts, 2n);
          assert.equal(row.locked_at, null);
        },
      );
    });

    describe('each caller gets its own outcome', () => {
      it(
        '40 customers in parallel: every answer names its own account, amount and balance',
        TIMEOUT,
        async () => {
          const people = await Promise.all(
            Array.from({ length: 40 }, async (_, i) => {
              const funded = await t.fundedCustomer(`${100 + i}.00`);
              const payee = await t.fundedCustomer('1.00');
              return { ...funded, payee, index: i };
            }),
          );
          const responses = await Promise.all(
            people.flatMap((p) => [
              t
                .deposit(p.user, p.account, `${p.index + 1}.01`)
                .then((r) => ({ p, kind: 'deposit', r })),
              t
                .withdraw(p.user, p.account, `0.${String(p.index + 10).padStart(2, '0')}`)
                .then((r) => ({ p, kind: 'withdrawal', r })),
              t
                .transfer(p.user, p.account, p.payee.account, `0.0${(p.index % 9) + 1}`)
                .then((r) => ({ p, kind: 'transfer', r })),
            ]),
          );
          for (const { p, kind, r } of responses) {
            assert.equal(r.status, 201, JSON.stringify(r.body));
            const body = r.body as Record<string, string>;
            assert.equal(body.accountNumber, p.account, `${kind} of customer ${p.index}`);
            const expected =
              kind === 'deposit'
                ? `${p.index + 1}.01`
                : kind === 'withdrawal'
                  ? `0.${String(p.index + 10).padStart(2, '0')}`
                  : `0.0${(p.index % 9) + 1}`;
            assert.equal(body.amount, expected, `${kind} amount of customer ${p.index}`);
            if (kind === 'transfer') assert.equal(body.counterpartyAccount, p.payee.account);
          }
          // Each balance-after is one of the balances this customer's own account went through.
          for (const p of people) {
            const mine = responses
              .filter((x) => x.p === p)
              .map((x) => x.r.body as Record<string, string>);
            const start = 100 + p.index;
            const deltas = mine.map((b) =>
              b.type === 'deposit' ? Number(b.amount) : -Number(b.amount),
            );
            const finalBalance = (start + deltas.reduce((s, d) => s + d, 0)).toFixed(2);
            assert.equal(await t.balance(p.user, p.account), finalBalance);
            // Whatever order the three ran in, the balance after one of them is the start
            // plus that movement plus some of the other two.
            mine.forEach((b, k) => {
              const reachable = new Set<string>();
              for (let mask = 0; mask < 8; mask++) {
                if ((mask & (1 << k)) === 0) continue;
                let sum = start;
                deltas.forEach((d, j) => {
                  if (mask & (1 << j)) sum += d;
                });
                reachable.add(sum.toFixed(2));
              }
              assert.ok(
                reachable.has(b.balanceAfter ?? ''),
                `customer ${p.index}: balance-after ${b.balanceAfter} is not one of their own balances`,
              );
            });
          }
        },
      );
    });

    describe('ownership before any account fact', () => {
      const bodies: Array<
        [string, 'deposits' | 'withdrawals' | 'transfers', Record<string, unknown>]
      > = [
        ['a wrong currency', 'deposits', { amount: '1.00', currency: 'EUR' }],
        ['an unsupported currency', 'deposits', { amount: '1.00', currency: 'XXX' }],
        ['three decimals', 'withdrawals', { amount: '1.005', pin: DEFAULT_PIN }],
        [
          'a zero amount',
          'transfers',
          { toAccount: '000000000000', amount: '0', pin: DEFAULT_PIN },
        ],
        ['a bad destination', 'transfers', { toAccount: '123', amount: '1.00', pin: DEFAULT_PIN }],
        ['no PIN', 'withdrawals', { amount: '1.00' }],
        ['a JPY-style amount', 'deposits', { amount: '100' }],
      ];
      for (const [label, route, body] of bodies) {
        it(`a foreign and a missing account answer the same to ${label}`, TIMEOUT, async () => {
          const owner = await t.customer();
          const foreign = (await t.openAccount(owner, { currency: 'JPY' })).accountNumber;
          const prober = await t.customer();
          const missing = generateAccountNumber();
          const send = (n: string): Promise<Response> =>
            t.request('POST', `/api/v1/accounts/${n}/${route}`, { token: prober.token, body });
          const [a, b] = [await send(foreign), await send(missing)];
          assert.equal(a.status, 404, JSON.stringify(a.body));
          assert.equal(
            JSON.stringify(withoutInstance(a.body)),
            JSON.stringify(withoutInstance(b.body)),
          );
          assert.equal(b.status, a.status);
        });
      }
    });

    describe('staff do not deal with themselves (issue #10, item 7)', () => {
      for (const role of ['teller', 'admin'] as const) {
        it(
          `a ${role} cannot deposit to, withdraw from or transfer from their own account`,
          TIMEOUT,
          async () => {
            const staff = await t.staff(role);
            const own = (await t.openAccount(staff)).accountNumber;
            const customer = await t.fundedCustomer('50.00');
            const mark = await ledgerMark(t);
            const attempts: Array<[string, Response]> = [
              ['deposit', await t.deposit(staff, own, '1000000.00')],
              [
                'withdrawal',
                await t.request('POST', `/api/v1/accounts/${own}/withdrawals`, {
                  token: staff.token,
                  body: { amount: '1.00' },
                }),
              ],
              ['transfer', await t.transfer(staff, own, customer.account, '1.00')],
            ];
            for (const [label, response] of attempts) {
              assert.equal(response.status, 403, `${label}: ${JSON.stringify(response.body)}`);
              assert.equal(response.body.code, 'FORBIDDEN', label);
            }
            assert.deepEqual(await ledgerMark(t), mark);
            // Their powers on other customers' accounts are unchanged.
            const served = await t.deposit(staff, customer.account, '5.00');
            assert.equal(served.status, 201, JSON.stringify(served.body));
            assert.equal(await t.balance(customer.user, customer.account), '55.00');
          },
        );
      }

      it('an auditor cannot open an account', TIMEOUT, async () => {
        const auditor = await t.staff('auditor');
        const response = await t.request('POST', '/api/v1/accounts', {
          token: auditor.token,
          body: {},
        });
        assert.equal(response.status, 403, JSON.stringify(response.body));
        assert.equal(response.body.code, 'FORBIDDEN');
        const list = await t.request<{ data: unknown[] }>('GET', '/api/v1/accounts', {
          token: auditor.token,
        });
        assert.deepEqual(list.body.data, []);
      });
    });

    describe("transfers do not leak the destination's facts (issue #10, item 11)", () => {
      const GENERIC = 'the destination account cannot receive this transfer';

      /** What a refusal tells the caller, without its per-request instance. */
      const told = (body: Record<string, unknown>) => {
        const { instance: _instance, ...rest } = body;
        return rest;
      };

      it(
        'a stranger gets one refusal, 400 DESTINATION_REFUSED, for another currency and for a frozen account alike',
        TIMEOUT,
        async () => {
          const alice = await t.fundedCustomer('10.00');
          const bob = await t.customer();
          const bobEuro = (await t.openAccount(bob, { currency: 'EUR' })).accountNumber;
          const carol = await t.fundedCustomer('10.00');
          await t.runtime.database.db
            .updateTable('accounts')
            .set({ status: 'frozen' })
            .where('account_number', '=', carol.account)
            .execute();
          const currency = await t.transfer(alice.user, alice.account, bobEuro, '1.00');
          const frozen = await t.transfer(alice.user, alice.account, carol.account, '1.00');
          for (const response of [currency, frozen]) {
            assert.equal(response.status, 400, JSON.stringify(response.body));
            assert.equal(response.body.code, 'DESTINATION_REFUSED');
            assert.equal(response.body.detail, GENERIC);
            assert.equal(response.body.field, 'toAccount');
          }
          assert.deepEqual(told(currency.body), told(frozen.body));
          assert.doesNotMatch(JSON.stringify(currency.body), /EUR/);
          assert.doesNotMatch(JSON.stringify(frozen.body), new RegExp(`${carol.account}|frozen`));
          assert.equal(await t.balance(alice.user, alice.account), '10.00');

          // Their owners, and reading staff, keep the precise codes.
          const bobUsd = (await t.openAccount(bob)).accountNumber;
          const own = await t.transfer(bob, bobUsd, bobEuro, '1.00');
          assert.equal(own.status, 400, JSON.stringify(own.body));
          assert.equal(own.body.code, 'CURRENCY_MISMATCH');
          const carolSavings = (await t.openAccount(carol.user)).accountNumber;
          const depositSavings = await t.deposit(carol.user, carolSavings, '5.00');
          assert.equal(depositSavings.status, 201, JSON.stringify(depositSavings.body));
          const toOwnFrozen = await t.transfer(carol.user, carolSavings, carol.account, '1.00');
          assert.equal(toOwnFrozen.status, 409, JSON.stringify(toOwnFrozen.body));
          assert.equal(toOwnFrozen.body.code, 'ACCOUNT_FROZEN');
        },
      );

      it(
        'a standing order to another customer’s account in another currency: the same refusal',
        TIMEOUT,
        async () => {
          const alice = await t.fundedCustomer('10.00');
          const bob = await t.customer();
          const bobEuro = (await t.openAccount(bob, { currency: 'EUR' })).accountNumber;
          const order = await t.request(
            'POST',
            `/api/v1/accounts/${alice.account}/standing-orders`,
            {
              token: alice.user.token,
              body: {
                toAccount: bobEuro,
                amount: '1.00',
                frequency: 'monthly',
                startDate: '2099-01-01',
                pin: DEFAULT_PIN,
              },
            },
          );
          assert.equal(order.status, 400, JSON.stringify(order.body));
          assert.equal(order.body.code, 'DESTINATION_REFUSED');
          assert.equal(order.body.detail, GENERIC);
          assert.doesNotMatch(JSON.stringify(order.body), /EUR/);
        },
      );

      it('the caller’s own destination still gets the precise reason', TIMEOUT, async () => {
        const alice = await t.fundedCustomer('10.00');
        const euro = (await t.openAccount(alice.user, { currency: 'EUR' })).accountNumber;
        const response = await t.transfer(alice.user, alice.account, euro, '1.00');
        assert.equal(response.status, 400);
        assert.equal(response.body.detail, 'the destination account holds EUR, not USD');
      });
    });
  });
}
