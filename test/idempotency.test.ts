import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import {
  assertLedgerGrew,
  historyOf,
  ledgerMark,
  outcomeOf,
  withoutInstance,
} from './support/ledger-assertions.ts';

/**
 * `Idempotency-Key` on every money-moving POST: a retry with the same key and body gets the
 * original answer and moves nothing; a different body under the same key is refused; keys
 * belong to the caller. Every test ends by proving the ledger and checking exact balances,
 * history lengths and the number of journal entries written.
 */

const TIMEOUT = { timeout: 120_000 };
const WRONG_PIN = '1357';
const REPLAYED = 'idempotent-replayed';

interface Funded {
  user: TestUser;
  account: string;
}

type Kind = 'deposit' | 'withdrawal' | 'transfer';
const KINDS: readonly Kind[] = ['deposit', 'withdrawal', 'transfer'];

const PATH_OF: Readonly<Record<Kind, string>> = {
  deposit: 'deposits',
  withdrawal: 'withdrawals',
  transfer: 'transfers',
};

interface MoneyRequest {
  kind: Kind;
  user: TestUser;
  account: string;
  amount: string;
  toAccount?: string;
  description?: string;
  pin?: string;
  key?: string;
}

/** One money POST; deposits carry no PIN, withdrawals and transfers the right one by default. */
function send(t: TestApp, request: MoneyRequest): Promise<Response> {
  const body: Record<string, string> = { amount: request.amount };
  if (request.kind === 'transfer') body.toAccount = request.toAccount ?? '';
  if (request.kind !== 'deposit') body.pin = request.pin ?? DEFAULT_PIN;
  if (request.description !== undefined) body.description = request.description;
  return t.request('POST', `/api/v1/accounts/${request.account}/${PATH_OF[request.kind]}`, {
    token: request.user.token,
    body,
    headers: request.key === undefined ? {} : { 'idempotency-key': request.key },
  });
}

/** Balance and history length of each account, in the order given. */
async function state(t: TestApp, ...accounts: Funded[]): Promise<Array<[string, number]>> {
  const result: Array<[string, number]> = [];
  for (const { user, account } of accounts) {
    result.push([await t.balance(user, account), (await historyOf(t, user, account)).length]);
  }
  return result;
}

for (const engine of ENGINES) {
  describe(`idempotency [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    /** A funded customer and a payee, and the request of `kind` between them. */
    async function scene(kind: Kind, amount = '10.00') {
      const payer = await t.fundedCustomer('100.00');
      const payee = await t.fundedCustomer('100.00');
      const request: MoneyRequest = {
        kind,
        user: payer.user,
        account: payer.account,
        amount,
        description: 'rent',
        ...(kind === 'transfer' ? { toAccount: payee.account } : {}),
      };
      // What the payer and payee hold once the request has been applied exactly once.
      const delta = kind === 'deposit' ? 10 : -10;
      const payerAfter = (100 + delta).toFixed(2);
      const payeeAfter = kind === 'transfer' ? '110.00' : '100.00';
      const payeeRows = kind === 'transfer' ? 2 : 1;
      return { payer, payee, request, payerAfter, payeeAfter, payeeRows };
    }

    for (const kind of KINDS) {
      it(`${kind}: same key and body replays the original answer and moves money once`, async () => {
        const { payer, payee, request, payerAfter, payeeAfter, payeeRows } = await scene(kind);
        const mark = await ledgerMark(t);
        const key = `replay-${kind}`;

        const first = await send(t, { ...request, key });
        assert.equal(first.status, 201, JSON.stringify(first.body));
        assert.equal(first.headers[REPLAYED], undefined);
        assert.equal(first.body.balanceAfter, payerAfter);
        // Something else happens in between; the replay must still be the original answer.
        const other = await t.deposit(payer.user, payer.account, '1.00');
        assert.equal(other.status, 201);

        const second = await send(t, { ...request, key });
        assert.equal(second.status, 201, JSON.stringify(second.body));
        assert.equal(second.headers[REPLAYED], 'true');
        assert.deepEqual(second.body, first.body);
        const third = await send(t, { ...request, key });
        assert.equal(third.headers[REPLAYED], 'true');
        assert.deepEqual(third.body, first.body);

        const payerBalance = (Number(payerAfter) + 1).toFixed(2);
        assert.deepEqual(await state(t, payer, payee), [
          [payerBalance, 3],
          [payeeAfter, payeeRows],
        ]);
        await assertLedgerGrew(t, mark, 2);
      });
    }

    for (const kind of KINDS) {
      it(`${kind}: same key with a different body answers 409 and moves nothing`, async () => {
        const { payer, payee, request, payerAfter, payeeAfter, payeeRows } = await scene(kind);
        const elsewhere = await t.openAccount(payer.user);
        const third = await t.fundedCustomer('1.00');
        const key = `reuse-${kind}`;
        const first = await send(t, { ...request, key });
        assert.equal(first.status, 201, JSON.stringify(first.body));
        const mark = await ledgerMark(t);

        const { description: _description, ...undescribed } = request;
        const variants: Array<[string, MoneyRequest]> = [
          ['a different amount', { ...request, amount: '10.01' }],
          ['a different description', { ...request, description: 'food' }],
          ['no description', undescribed],
          ['a different account', { ...request, account: elsewhere.accountNumber }],
          [
            'another operation',
            { ...request, kind: kind === 'deposit' ? 'withdrawal' : 'deposit' },
          ],
        ];
        if (kind === 'transfer') {
          variants.push(['a different destination', { ...request, toAccount: third.account }]);
        }
        for (const [name, variant] of variants) {
          const response = await send(t, { ...variant, key });
          assert.equal(outcomeOf(response), '409 IDEMPOTENCY_KEY_REUSED', name);
        }

        // The refusals did not disturb what the key holds.
        const replay = await send(t, { ...request, key });
        assert.equal(replay.headers[REPLAYED], 'true');
        assert.deepEqual(replay.body, first.body);
        assert.deepEqual(await state(t, payer, payee, third), [
          [payerAfter, 2],
          [payeeAfter, payeeRows],
          ['1.00', 1],
        ]);
        assert.equal(await t.balance(payer.user, elsewhere.accountNumber), '0.00');
        await assertLedgerGrew(t, mark, 0);
      });
    }

    for (const kind of KINDS) {
      it(`${kind}: the same key sent 20 times in parallel moves money once`, TIMEOUT, async () => {
        const { payer, payee, request, payerAfter, payeeAfter, payeeRows } = await scene(kind);
        const mark = await ledgerMark(t);
        const key = `parallel-${kind}`;

        const responses = await Promise.all(
          Array.from({ length: 20 }, () => send(t, { ...request, key })),
        );

        assert.deepEqual(
          responses.map(outcomeOf),
          responses.map(() => '201'),
        );
        const ids = new Set(responses.map((response) => response.body.id));
        assert.equal(ids.size, 1, 'every answer names the same transaction');
        const first = responses[0];
        assert.ok(first !== undefined);
        for (const response of responses) assert.deepEqual(response.body, first.body);
        assert.equal(
          responses.filter((response) => response.headers[REPLAYED] === 'true').length,
          19,
          'all but the first are replays',
        );
        assert.deepEqual(await state(t, payer, payee), [
          [payerAfter, 2],
          [payeeAfter, payeeRows],
        ]);
        await assertLedgerGrew(t, mark, 1);
      });
    }

    it('keys are scoped to the caller', async () => {
      const alice = await t.fundedCustomer('50.00');
      const bob = await t.fundedCustomer('50.00');
      const mark = await ledgerMark(t);
      const key = 'shared-key';

      const a = await t.deposit(alice.user, alice.account, '5.00', { 'idempotency-key': key });
      assert.equal(a.status, 201);
      // The same key and amount on B's own account is B's fresh request, not A's replay and
      // not a conflict; a different body from B is fresh too.
      const b = await t.deposit(bob.user, bob.account, '5.00', { 'idempotency-key': key });
      assert.equal(b.status, 201, JSON.stringify(b.body));
      assert.equal(b.headers[REPLAYED], undefined);
      assert.notEqual(b.body.id, a.body.id);
      assert.equal(b.body.accountNumber, bob.account);
      const b2 = await t.withdraw(bob.user, bob.account, '7.00', {
        headers: { 'idempotency-key': 'withdraw-key' },
      });
      assert.equal(b2.status, 201);
      const a2 = await t.withdraw(alice.user, alice.account, '3.00', {
        headers: { 'idempotency-key': 'withdraw-key' },
      });
      assert.equal(a2.status, 201, JSON.stringify(a2.body));
      assert.equal(a2.headers[REPLAYED], undefined);

      const replay = await t.deposit(alice.user, alice.account, '5.00', {
        'idempotency-key': key,
      });
      assert.equal(replay.headers[REPLAYED], 'true');
      assert.deepEqual(replay.body, a.body);
      assert.deepEqual(await state(t, alice, bob), [
        ['52.00', 3],
        ['48.00', 3],
      ]);
      await assertLedgerGrew(t, mark, 4);
    });

    it('a stored failure replays even after the account could pay', async () => {
      const payer = await t.fundedCustomer('10.00');
      const payee = await t.fundedCustomer('10.00');
      const mark = await ledgerMark(t);

      const withdrawal = { kind: 'withdrawal', user: payer.user, account: payer.account } as const;
      const transfer = { ...withdrawal, kind: 'transfer', toAccount: payee.account } as const;
      const w1 = await send(t, { ...withdrawal, amount: '50.00', key: 'short-w' });
      assert.equal(outcomeOf(w1), '422 INSUFFICIENT_FUNDS');
      const t1 = await send(t, { ...transfer, amount: '60.00', key: 'short-t' });
      assert.equal(outcomeOf(t1), '422 INSUFFICIENT_FUNDS');

      const funding = await t.deposit(payer.user, payer.account, '100.00');
      assert.equal(funding.status, 201);

      const w2 = await send(t, { ...withdrawal, amount: '50.00', key: 'short-w' });
      assert.equal(outcomeOf(w2), '422 INSUFFICIENT_FUNDS');
      assert.equal(w2.headers[REPLAYED], 'true');
      assert.deepEqual(withoutInstance(w2.body), withoutInstance(w1.body));
      const t2 = await send(t, { ...transfer, amount: '60.00', key: 'short-t' });
      assert.equal(outcomeOf(t2), '422 INSUFFICIENT_FUNDS');
      assert.equal(t2.headers[REPLAYED], 'true');
      assert.deepEqual(withoutInstance(t2.body), withoutInstance(t1.body));

      // A new key is a new request, and now it goes through.
      const w3 = await send(t, { ...withdrawal, amount: '50.00', key: 'short-w-2' });
      assert.equal(outcomeOf(w3), '201');
      assert.deepEqual(await state(t, payer, payee), [
        ['60.00', 3],
        ['10.00', 1],
      ]);
      await assertLedgerGrew(t, mark, 2);
    });

    for (const kind of ['withdrawal', 'transfer'] as const) {
      it(`${kind}: a wrong-PIN answer is not stored under the key`, async () => {
        const { payer, payee, request, payerAfter, payeeAfter, payeeRows } = await scene(kind);
        const mark = await ledgerMark(t);
        const key = `pin-${kind}`;

        const wrong = await send(t, { ...request, key, pin: WRONG_PIN });
        assert.equal(outcomeOf(wrong), '403 INVALID_PIN');
        const right = await send(t, { ...request, key });
        assert.equal(outcomeOf(right), '201', JSON.stringify(right.body));
        assert.equal(right.headers[REPLAYED], undefined);
        const again = await send(t, { ...request, key });
        assert.equal(again.headers[REPLAYED], 'true');
        assert.deepEqual(again.body, right.body);

        const row = await t.runtime.database.db
          .selectFrom('users')
          .select('failed_pin_attempts')
          .where('id', '=', payer.user.id)
          .executeTakeFirstOrThrow();
        assert.equal(Number(row.failed_pin_attempts), 0, 'the right PIN reset the counter');
        assert.deepEqual(await state(t, payer, payee), [
          [payerAfter, 2],
          [payeeAfter, payeeRows],
        ]);
        await assertLedgerGrew(t, mark, 1);
      });
    }

    const INVALID_KEYS: Array<[string, string]> = [
      ['an empty key', ''],
      ['a 256-character key', 'k'.repeat(256)],
      ['a key with a space', 'my key'],
      ['a key with a tab', 'my\tkey'],
      ['a non-ASCII key', 'clé-1'],
      ['a Cyrillic key', 'ключ'],
    ];
    for (const kind of KINDS) {
      it(`${kind}: invalid Idempotency-Key headers answer 400 and move nothing`, async () => {
        const { payer, payee, request } = await scene(kind);
        const mark = await ledgerMark(t);

        for (const [name, key] of INVALID_KEYS) {
          const response = await send(t, { ...request, key });
          assert.equal(outcomeOf(response), '400 VALIDATION_FAILED', name);
          assert.equal(response.body.field, 'idempotency-key', name);
        }
        assert.deepEqual(await state(t, payer, payee), [
          ['100.00', 1],
          ['100.00', 1],
        ]);
        await assertLedgerGrew(t, mark, 0);

        // The boundaries are accepted: one visible ASCII character, and 255 of them.
        const shortest = await send(t, { ...request, key: '~' });
        assert.equal(outcomeOf(shortest), '201', JSON.stringify(shortest.body));
        const longest = await send(t, { ...request, amount: '1.00', key: 'k'.repeat(255) });
        assert.equal(outcomeOf(longest), '201', JSON.stringify(longest.body));
        const replay = await send(t, { ...request, amount: '1.00', key: 'k'.repeat(255) });
        assert.equal(replay.headers[REPLAYED], 'true');
        await assertLedgerGrew(t, mark, 2);
      });
    }

    it('requests without a key are not deduplicated', async () => {
      const payer = await t.fundedCustomer('100.00');
      const payee = await t.fundedCustomer('100.00');
      const mark = await ledgerMark(t);

      const d1 = await t.deposit(payer.user, payer.account, '10.00');
      const d2 = await t.deposit(payer.user, payer.account, '10.00');
      const w1 = await t.withdraw(payer.user, payer.account, '5.00');
      const w2 = await t.withdraw(payer.user, payer.account, '5.00');
      const t1 = await t.transfer(payer.user, payer.account, payee.account, '2.00');
      const t2 = await t.transfer(payer.user, payer.account, payee.account, '2.00');
      for (const response of [d1, d2, w1, w2, t1, t2]) {
        assert.equal(response.status, 201, JSON.stringify(response.body));
        assert.equal(response.headers[REPLAYED], undefined);
      }
      assert.notEqual(d1.body.id, d2.body.id);
      assert.notEqual(w1.body.id, w2.body.id);
      assert.notEqual(t1.body.id, t2.body.id);
      assert.deepEqual(await state(t, payer, payee), [
        ['106.00', 7],
        ['104.00', 3],
      ]);
      await assertLedgerGrew(t, mark, 6);
    });
  });
}
