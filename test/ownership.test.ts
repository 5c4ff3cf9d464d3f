import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateAccountNumber } from '../src/accounts/account-number.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { historyOf, withoutInstance } from './support/ledger-assertions.ts';

/**
 * Another customer's account must be indistinguishable from one that does not exist, on
 * every account route, and probing it must leave no trace: no money moves, and the prober's
 * PIN failure counter is neither raised nor reset (the PIN is never looked at).
 */

const WRONG_PIN = '1357';

interface Probe {
  name: string;
  method: 'GET' | 'POST';
  path: (accountNumber: string) => string;
  /** The body B sends; `ownAccount` is B's account, used as a transfer destination. */
  body?: (ownAccount: string, pin: string) => Record<string, string>;
  takesPin?: boolean;
}

/** Every route that names an account in its path. */
const ACCOUNT_ROUTES: readonly Probe[] = [
  { name: 'GET account', method: 'GET', path: (n) => `/api/v1/accounts/${n}` },
  {
    name: 'GET transactions',
    method: 'GET',
    path: (n) => `/api/v1/accounts/${n}/transactions`,
  },
  {
    name: 'POST deposits',
    method: 'POST',
    path: (n) => `/api/v1/accounts/${n}/deposits`,
    body: () => ({ amount: '1.00' }),
  },
  {
    name: 'POST withdrawals',
    method: 'POST',
    path: (n) => `/api/v1/accounts/${n}/withdrawals`,
    body: (_own, pin) => ({ amount: '1.00', pin }),
    takesPin: true,
  },
  {
    name: 'POST transfers',
    method: 'POST',
    path: (n) => `/api/v1/accounts/${n}/transfers`,
    body: (own, pin) => ({ toAccount: own, amount: '1.00', pin }),
    takesPin: true,
  },
];

async function failedPinAttempts(t: TestApp, userId: string): Promise<number> {
  const row = await t.runtime.database.db
    .selectFrom('users')
    .select(['failed_pin_attempts', 'locked_at'])
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
  assert.equal(row.locked_at, null, 'the user must not be locked');
  return Number(row.failed_pin_attempts);
}

async function journalEntries(t: TestApp): Promise<bigint> {
  const result = await verifyLedger(t.runtime.database.db);
  if (!result.ok) assert.fail(`ledger does not verify: ${result.problem}`);
  return result.counts.entries;
}

async function me(t: TestApp, user: TestUser): Promise<{ locked: boolean }> {
  const response = await t.request<{ locked: boolean }>('GET', '/api/v1/me', {
    token: user.token,
  });
  assert.equal(response.status, 200);
  return response.body;
}

for (const engine of ENGINES) {
  describe(`ownership [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    describe("customer B on customer A's account", () => {
      let alice: { user: TestUser; account: string };
      let bob: { user: TestUser; account: string };

      before(async () => {
        alice = await t.fundedCustomer('100.00');
        const w = await t.withdraw(alice.user, alice.account, '12.34');
        assert.equal(w.status, 201);
        bob = await t.fundedCustomer('50.00');
        // One wrong PIN on B's own account puts B's counter at 1. A probe that checked the
        // PIN before ownership would raise it (wrong PIN) or reset it to 0 (right PIN).
        const wrong = await t.withdraw(bob.user, bob.account, '1.00', { pin: WRONG_PIN });
        assert.equal(wrong.status, 403);
        assert.equal(wrong.body.code, 'INVALID_PIN');
        assert.equal(await failedPinAttempts(t, bob.user.id), 1);
      });

      for (const route of ACCOUNT_ROUTES) {
        for (const pin of route.takesPin === true ? [DEFAULT_PIN, WRONG_PIN] : [DEFAULT_PIN]) {
          const label =
            route.takesPin === true
              ? `${route.name} (${pin === DEFAULT_PIN ? "B's correct PIN" : 'a wrong PIN'})`
              : route.name;

          it(`${label} answers exactly like a nonexistent account and changes nothing`, async () => {
            const balanceBefore = await t.balance(alice.user, alice.account);
            const historyBefore = await historyOf(t, alice.user, alice.account);
            const entriesBefore = await journalEntries(t);

            const send = (accountNumber: string): Promise<Response> =>
              t.request(route.method, route.path(accountNumber), {
                token: bob.user.token,
                ...(route.body === undefined ? {} : { body: route.body(bob.account, pin) }),
              });
            const foreign = await send(alice.account);
            const missing = await send(generateAccountNumber());

            assert.equal(foreign.status, 404, JSON.stringify(foreign.body));
            assert.equal(foreign.body.code, 'NOT_FOUND');
            assert.equal(missing.status, 404, JSON.stringify(missing.body));
            assert.deepEqual(withoutInstance(foreign.body), withoutInstance(missing.body));
            assert.equal(typeof foreign.body.instance, 'string');
            assert.equal(foreign.headers['content-type'], missing.headers['content-type']);
            assert.deepEqual(
              Object.keys(foreign.headers).sort(),
              Object.keys(missing.headers).sort(),
            );
            assert.equal(foreign.headers['idempotent-replayed'], undefined);

            assert.equal(await t.balance(alice.user, alice.account), balanceBefore);
            assert.deepEqual(await historyOf(t, alice.user, alice.account), historyBefore);
            assert.equal(await journalEntries(t), entriesBefore);
            assert.equal(await failedPinAttempts(t, bob.user.id), 1);
            assert.equal((await me(t, bob.user)).locked, false);
          });
        }
      }

      it('a probe carrying an Idempotency-Key does not use the key up', async () => {
        const key = 'probe-key-1';
        const probe = await t.deposit(bob.user, alice.account, '5.00', { 'idempotency-key': key });
        assert.equal(probe.status, 404);
        assert.equal(probe.body.code, 'NOT_FOUND');
        const own = await t.deposit(bob.user, bob.account, '5.00', { 'idempotency-key': key });
        assert.equal(own.status, 201, JSON.stringify(own.body));
        assert.equal(own.headers['idempotent-replayed'], undefined);
        assert.equal(await t.balance(bob.user, bob.account), '55.00');
        assert.equal(await t.balance(alice.user, alice.account), '87.66');
        assert.equal((await historyOf(t, bob.user, bob.account)).length, 2);
      });

      it('after all the probes A is untouched and B can still transact', async () => {
        assert.equal(await t.balance(alice.user, alice.account), '87.66');
        const aliceHistory = await historyOf(t, alice.user, alice.account);
        assert.deepEqual(
          aliceHistory.map((row) => [row.type, row.amount, row.balanceAfter]),
          [
            ['withdrawal', '12.34', '87.66'],
            ['deposit', '100.00', '100.00'],
          ],
        );
        assert.equal(await failedPinAttempts(t, bob.user.id), 1);
        const w = await t.withdraw(bob.user, bob.account, '5.00');
        assert.equal(w.status, 201, JSON.stringify(w.body));
        assert.equal(w.body.balanceAfter, '50.00');
        assert.equal(await failedPinAttempts(t, bob.user.id), 0);
        assert.equal((await historyOf(t, bob.user, bob.account)).length, 3);
        await journalEntries(t);
      });
    });

    it("wrong PINs on another customer's account are not counted and never lock", async () => {
      const alice = await t.fundedCustomer('40.00');
      const bob = await t.fundedCustomer('30.00');
      const entriesBefore = await journalEntries(t);
      for (let attempt = 1; attempt <= 3; attempt++) {
        const w = await t.withdraw(bob.user, alice.account, '1.00', { pin: WRONG_PIN });
        assert.equal(w.status, 404, `withdrawal attempt ${attempt}: ${JSON.stringify(w.body)}`);
        assert.equal(w.body.code, 'NOT_FOUND');
        const tr = await t.transfer(bob.user, alice.account, bob.account, '1.00', {
          pin: WRONG_PIN,
        });
        assert.equal(tr.status, 404, `transfer attempt ${attempt}: ${JSON.stringify(tr.body)}`);
        assert.equal(tr.body.code, 'NOT_FOUND');
      }
      assert.equal(await failedPinAttempts(t, bob.user.id), 0);
      assert.equal((await me(t, bob.user)).locked, false);
      assert.equal(await t.balance(alice.user, alice.account), '40.00');
      assert.equal(await journalEntries(t), entriesBefore);

      const own = await t.withdraw(bob.user, bob.account, '1.00');
      assert.equal(own.status, 201, JSON.stringify(own.body));
      assert.equal(await t.balance(bob.user, bob.account), '29.00');
      assert.equal((await historyOf(t, bob.user, bob.account)).length, 2);
      assert.equal((await historyOf(t, alice.user, alice.account)).length, 1);
      assert.equal(await journalEntries(t), entriesBefore + 1n);
    });

    it('GET /api/v1/accounts lists only the caller’s own accounts', async () => {
      const alice = await t.customer();
      const bob = await t.customer();
      const carol = await t.customer();
      const a1 = await t.openAccount(alice);
      const a2 = await t.openAccount(alice, { type: 'savings', nickname: 'rainy day' });
      const b1 = await t.openAccount(bob);

      const list = async (user: TestUser) => {
        const response = await t.request<{ data: Array<{ accountNumber: string }> }>(
          'GET',
          '/api/v1/accounts',
          { token: user.token },
        );
        assert.equal(response.status, 200);
        return response.body.data.map((account) => account.accountNumber).sort();
      };
      assert.deepEqual(await list(alice), [a1.accountNumber, a2.accountNumber].sort());
      assert.deepEqual(await list(bob), [b1.accountNumber]);
      assert.deepEqual(await list(carol), []);
    });

    describe('without a valid access token', () => {
      let alice: { user: TestUser; account: string };
      let bob: { user: TestUser; account: string };
      before(async () => {
        alice = await t.fundedCustomer('20.00');
        bob = await t.fundedCustomer('20.00');
      });

      const routes: Array<{
        name: string;
        method: 'GET' | 'POST';
        path: () => string;
        body?: () => Record<string, string>;
      }> = [
        {
          name: 'POST /accounts',
          method: 'POST',
          path: () => '/api/v1/accounts',
          body: () => ({}),
        },
        { name: 'GET /accounts', method: 'GET', path: () => '/api/v1/accounts' },
        ...ACCOUNT_ROUTES.map((route) => ({
          name: route.name,
          method: route.method,
          path: () => route.path(alice.account),
          ...(route.body === undefined
            ? {}
            : { body: () => route.body?.(bob.account, DEFAULT_PIN) ?? {} }),
        })),
      ];
      const credentials: Array<{ name: string; headers: () => Record<string, string> }> = [
        { name: 'no Authorization header', headers: () => ({}) },
        { name: 'a non-Bearer scheme', headers: () => ({ authorization: 'Basic YTpi' }) },
        {
          name: 'a forged token',
          headers: () => ({ authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln' }),
        },
        {
          // The signature of a real token, altered in its last characters.
          name: 'a tampered token',
          headers: () => ({ authorization: `Bearer ${alice.user.token.slice(0, -4)}AAAA` }),
        },
      ];

      for (const credential of credentials) {
        it(`every account route answers 401 with ${credential.name}`, async () => {
          const entriesBefore = await journalEntries(t);
          for (const route of routes) {
            const response = await t.request(route.method, route.path(), {
              headers: credential.headers(),
              ...(route.body === undefined ? {} : { body: route.body() }),
            });
            assert.equal(response.status, 401, `${route.name}: ${JSON.stringify(response.body)}`);
            assert.equal(response.body.code, 'UNAUTHENTICATED', route.name);
            assert.match(String(response.headers['content-type']), /application\/problem\+json/);
            assert.equal(response.headers['www-authenticate'], 'Bearer', route.name);
          }
          assert.equal(await journalEntries(t), entriesBefore);
          assert.equal(await t.balance(alice.user, alice.account), '20.00');
          assert.equal(await t.balance(bob.user, bob.account), '20.00');
          assert.equal((await historyOf(t, alice.user, alice.account)).length, 1);
          const accounts = await t.request<{ data: unknown[] }>('GET', '/api/v1/accounts', {
            token: alice.user.token,
          });
          assert.equal(accounts.body.data.length, 1, 'no account was opened');
        });
      }

      it('authentication is checked before the request is validated', async () => {
        // An anonymous caller learns nothing about our validation rules and cannot make us
        // parse and validate bodies: 401 comes first, whatever else is wrong.
        const anonymous: Array<{
          name: string;
          method: 'GET' | 'POST';
          url: string;
          rawBody?: string;
          headers?: Record<string, string>;
        }> = [
          { name: 'POST /accounts without a body', method: 'POST', url: '/api/v1/accounts' },
          {
            name: 'deposit without a body',
            method: 'POST',
            url: `/api/v1/accounts/${alice.account}/deposits`,
          },
          {
            name: 'withdrawal with an invalid body',
            method: 'POST',
            url: `/api/v1/accounts/${alice.account}/withdrawals`,
            rawBody: '{"amount":5}',
            headers: { 'content-type': 'application/json' },
          },
          {
            name: 'transfer with an invalid Idempotency-Key',
            method: 'POST',
            url: `/api/v1/accounts/${alice.account}/transfers`,
            rawBody: JSON.stringify({ toAccount: bob.account, amount: '1.00', pin: DEFAULT_PIN }),
            headers: { 'content-type': 'application/json', 'idempotency-key': 'has space' },
          },
          { name: 'GET a malformed account number', method: 'GET', url: '/api/v1/accounts/123' },
        ];
        const answers: string[] = [];
        for (const request of anonymous) {
          const response = await t.request(request.method, request.url, {
            ...(request.rawBody === undefined ? {} : { rawBody: request.rawBody }),
            ...(request.headers === undefined ? {} : { headers: request.headers }),
          });
          answers.push(`${request.name}: ${response.status} ${String(response.body.code)}`);
        }
        assert.deepEqual(
          answers,
          anonymous.map((request) => `${request.name}: 401 UNAUTHENTICATED`),
        );
      });
    });
  });
}
