import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateAccountNumber, isValidAccountNumber } from '../src/accounts/account-number.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';

/**
 * The public accounts and money API (contract v1, "Accounts and money"): opening and reading
 * accounts, history and its pagination, deposits, withdrawals and transfers with every
 * refusal the contract names, PIN lockout, frozen accounts and what each staff role may do.
 * Every refusal is followed by a re-read proving that no money moved and no row was added.
 */

interface AccountBody {
  accountNumber: string;
  currency: string;
  type: string;
  nickname: string | null;
  balance: string;
  availableBalance: string;
  status: string;
  createdAt: string;
}

interface TransactionBody {
  id: string;
  accountNumber: string;
  type: string;
  direction: string;
  amount: string;
  currency: string;
  balanceAfter: string;
  counterpartyAccount: string | null;
  description: string | null;
  createdAt: string;
}

interface PageBody {
  data: TransactionBody[];
  nextCursor: string | null;
}

const ACCOUNT_KEYS = [
  'accountNumber',
  'availableBalance',
  'balance',
  'createdAt',
  'currency',
  'nickname',
  'status',
  'type',
];

const TRANSACTION_KEYS = [
  'accountNumber',
  'amount',
  'balanceAfter',
  'counterpartyAccount',
  'createdAt',
  'currency',
  'description',
  'direction',
  'id',
  'type',
];

/** Asserts an RFC 9457 problem document with the given status, code and (optionally) field. */
function assertProblem<T>(
  response: Response<T>,
  status: number,
  code: string,
  field?: string,
): Record<string, unknown> {
  const context = JSON.stringify(response.body);
  assert.equal(response.status, status, context);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/, context);
  const body = response.body as Record<string, unknown>;
  assert.equal(body.code, code, context);
  assert.equal(body.status, status, context);
  assert.equal(typeof body.type, 'string', context);
  assert.equal(typeof body.title, 'string', context);
  assert.equal(typeof body.detail, 'string', context);
  if (field !== undefined) assert.equal(body.field, field, context);
  return body;
}

function assertIsoTimestamp(value: string): void {
  assert.equal(new Date(value).toISOString(), value);
}

/** The same account number with one digit changed: a typo the check digits must catch. */
function withDigitFlipped(accountNumber: string, position: number): string {
  const digit = Number(accountNumber[position]);
  return `${accountNumber.slice(0, position)}${(digit + 1) % 10}${accountNumber.slice(position + 1)}`;
}

/** Decimal string with 2 places to cents, for checking running balances. */
function cents(amount: string): bigint {
  const [whole = '0', fraction = ''] = amount.split('.');
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0'));
}

for (const engine of ENGINES) {
  describe(`accounts API [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    function getAccount(user: TestUser, accountNumber: string) {
      return t.request<AccountBody>('GET', `/api/v1/accounts/${accountNumber}`, {
        token: user.token,
      });
    }

    function history(user: TestUser, accountNumber: string, query = '') {
      return t.request<PageBody>('GET', `/api/v1/accounts/${accountNumber}/transactions${query}`, {
        token: user.token,
      });
    }

    function post(user: TestUser, accountNumber: string, what: string, body: unknown) {
      return t.request<TransactionBody>('POST', `/api/v1/accounts/${accountNumber}/${what}`, {
        token: user.token,
        body,
      });
    }

    /** Balance and every history row id, read by someone allowed to read the account. */
    async function state(reader: TestUser, accountNumber: string) {
      const account = await getAccount(reader, accountNumber);
      assert.equal(account.status, 200, JSON.stringify(account.body));
      const rows = await history(reader, accountNumber, '?limit=100');
      assert.equal(rows.status, 200, JSON.stringify(rows.body));
      return {
        balance: account.body.balance,
        availableBalance: account.body.availableBalance,
        status: account.body.status,
        rows: rows.body.data.map((row) => row.id),
      };
    }

    async function freeze(accountNumber: string): Promise<void> {
      await t.runtime.database.db
        .updateTable('accounts')
        .set({ status: 'frozen' })
        .where('account_number', '=', accountNumber)
        .execute();
    }

    async function me(user: TestUser) {
      const response = await t.request<{ locked: boolean }>('GET', '/api/v1/me', {
        token: user.token,
      });
      assert.equal(response.status, 200);
      return response.body;
    }

    describe('opening accounts', () => {
      it('opens a USD checking account with a zero balance by default', async () => {
        const user = await t.customer();
        const response = await t.request<AccountBody>('POST', '/api/v1/accounts', {
          token: user.token,
          body: {},
        });
        assert.equal(response.status, 201, JSON.stringify(response.body));
        const account = response.body;
        assert.deepEqual(Object.keys(account).sort(), ACCOUNT_KEYS);
        assert.match(account.accountNumber, /^[0-9]{12}$/);
        assert.ok(isValidAccountNumber(account.accountNumber));
        assert.equal(account.currency, 'USD');
        assert.equal(account.type, 'checking');
        assert.equal(account.nickname, null);
        assert.equal(account.balance, '0.00');
        assert.equal(account.availableBalance, '0.00');
        assert.equal(account.status, 'active');
        assertIsoTimestamp(account.createdAt);

        const read = await getAccount(user, account.accountNumber);
        assert.equal(read.status, 200);
        assert.deepEqual(read.body, account);
      });

      for (const [currency, zero] of [
        ['JPY', '0'],
        ['KWD', '0.000'],
        ['EUR', '0.00'],
      ] as const) {
        it(`opens a ${currency} account whose balance is "${zero}"`, async () => {
          const user = await t.customer();
          const account = await t.openAccount(user, { currency });
          assert.equal(account.currency, currency);
          assert.equal(account.balance, zero);
          const read = await getAccount(user, account.accountNumber);
          assert.equal(read.body.balance, zero);
          assert.equal(read.body.availableBalance, zero);
        });
      }

      it('opens a savings account with a nickname', async () => {
        const user = await t.customer();
        const response = await t.request<AccountBody>('POST', '/api/v1/accounts', {
          token: user.token,
          body: { type: 'savings', nickname: 'Rainy day \u2614', currency: 'GBP' },
        });
        assert.equal(response.status, 201, JSON.stringify(response.body));
        assert.equal(response.body.type, 'savings');
        assert.equal(response.body.nickname, 'Rainy day \u2614');
        assert.equal(response.body.currency, 'GBP');
        const read = await getAccount(user, response.body.accountNumber);
        assert.equal(read.body.type, 'savings');
        assert.equal(read.body.nickname, 'Rainy day \u2614');
      });

      const invalid: ReadonlyArray<[string, Record<string, unknown>, string]> = [
        ['a lower-case currency', { currency: 'usd' }, 'currency'],
        ['an unsupported currency', { currency: 'XXX' }, 'currency'],
        ['a currency as a number', { currency: 840 }, 'currency'],
        ['a two-letter currency', { currency: 'US' }, 'currency'],
        ['an unknown type', { type: 'credit' }, 'type'],
        ['an empty nickname', { nickname: '' }, 'nickname'],
        ['a 51-character nickname', { nickname: 'n'.repeat(51) }, 'nickname'],
        ['an unknown field', { balance: '1000.00' }, 'balance'],
      ];
      for (const [name, body, field] of invalid) {
        it(`refuses ${name} with 400 field ${field} and opens nothing`, async () => {
          const user = await t.customer();
          const response = await t.request('POST', '/api/v1/accounts', { token: user.token, body });
          assertProblem(response, 400, 'VALIDATION_FAILED', field);
          const list = await t.request<{ data: AccountBody[] }>('GET', '/api/v1/accounts', {
            token: user.token,
          });
          assert.deepEqual(list.body.data, []);
        });
      }

      it('refuses an eleventh account with 409 ACCOUNT_LIMIT_REACHED', async () => {
        const user = await t.customer();
        const currencies = ['USD', 'EUR', 'JPY', 'KWD', 'GBP', 'USD', 'CHF', 'USD', 'SEK', 'USD'];
        for (const currency of currencies) await t.openAccount(user, { currency });
        for (const currency of ['USD', 'NOK']) {
          const response = await t.request('POST', '/api/v1/accounts', {
            token: user.token,
            body: { currency },
          });
          assertProblem(response, 409, 'ACCOUNT_LIMIT_REACHED');
        }
        const list = await t.request<{ data: AccountBody[] }>('GET', '/api/v1/accounts', {
          token: user.token,
        });
        assert.equal(list.body.data.length, 10);
      });

      it('needs a token', async () => {
        const response = await t.request('POST', '/api/v1/accounts', { body: {} });
        assertProblem(response, 401, 'UNAUTHENTICATED');
      });
    });

    describe('reading accounts', () => {
      it('lists only the caller’s own accounts', async () => {
        const alice = await t.customer();
        const bob = await t.customer();
        const a1 = await t.openAccount(alice);
        const a2 = await t.openAccount(alice, { currency: 'EUR', type: 'savings' });
        const b1 = await t.openAccount(bob);
        const list = await t.request<{ data: AccountBody[] }>('GET', '/api/v1/accounts', {
          token: alice.token,
        });
        assert.equal(list.status, 200);
        assert.deepEqual(
          list.body.data.map((a) => a.accountNumber).sort(),
          [a1.accountNumber, a2.accountNumber].sort(),
        );
        for (const account of list.body.data) {
          assert.deepEqual(Object.keys(account).sort(), ACCOUNT_KEYS);
        }
        const bobs = await t.request<{ data: AccountBody[] }>('GET', '/api/v1/accounts', {
          token: bob.token,
        });
        assert.deepEqual(
          bobs.body.data.map((a) => a.accountNumber),
          [b1.accountNumber],
        );
      });

      it('reads one own account with its current balance', async () => {
        const { user, account } = await t.fundedCustomer('12.34');
        const response = await getAccount(user, account);
        assert.equal(response.status, 200);
        assert.equal(response.body.accountNumber, account);
        assert.equal(response.body.balance, '12.34');
        assert.equal(response.body.availableBalance, '12.34');
        assert.equal(response.body.status, 'active');
      });

      it('answers another customer’s account exactly like a missing one (404)', async () => {
        const owner = await t.fundedCustomer('50.00');
        const stranger = await t.customer();
        const missing = generateAccountNumber();
        const theirs = await getAccount(stranger, owner.account);
        const none = await getAccount(stranger, missing);
        const theirsBody = assertProblem(theirs, 404, 'NOT_FOUND');
        const noneBody = assertProblem(none, 404, 'NOT_FOUND');
        assert.equal(theirsBody.detail, noneBody.detail);
        assert.equal(theirsBody.title, noneBody.title);
        assertProblem(await history(stranger, owner.account), 404, 'NOT_FOUND');
      });

      for (const bad of ['abc', '12345', '1234567890123', '12345678909A', '%20123456789092']) {
        it(`refuses a malformed account number ${JSON.stringify(bad)} in the path with 400`, async () => {
          const user = await t.customer();
          assertProblem(await getAccount(user, bad), 400, 'VALIDATION_FAILED', 'accountNumber');
          assertProblem(await history(user, bad), 400, 'VALIDATION_FAILED', 'accountNumber');
          assertProblem(
            await post(user, bad, 'deposits', { amount: '1.00' }),
            400,
            'VALIDATION_FAILED',
            'accountNumber',
          );
        });
      }
    });

    describe('history', () => {
      let alice: TestUser;
      let bob: TestUser;
      let account: string;
      let bobAccount: string;
      let all: TransactionBody[];

      before(async () => {
        alice = await t.customer();
        bob = await t.customer();
        account = (await t.openAccount(alice)).accountNumber;
        bobAccount = (await t.openAccount(bob)).accountNumber;
        const steps = [
          await t.deposit(alice, account, '100.00'),
          await t.deposit(alice, account, '50.00'),
          await t.withdraw(alice, account, '20.00'),
          await t.transfer(alice, account, bobAccount, '30.00'),
          await t.transfer(bob, bobAccount, account, '5.00'),
        ];
        for (const step of steps) assert.equal(step.status, 201, JSON.stringify(step.body));
        const response = await history(alice, account, '?limit=100');
        assert.equal(response.status, 200);
        all = response.body.data;
      });

      it('lists every posting newest first, with balanceAfter and counterparty', async () => {
        assert.equal(all.length, 5);
        assert.deepEqual(
          all.map((row) => [
            row.type,
            row.direction,
            row.amount,
            row.balanceAfter,
            row.counterpartyAccount,
          ]),
          [
            ['transfer_in', 'credit', '5.00', '105.00', bobAccount],
            ['transfer_out', 'debit', '30.00', '100.00', bobAccount],
            ['withdrawal', 'debit', '20.00', '130.00', null],
            ['deposit', 'credit', '50.00', '150.00', null],
            ['deposit', 'credit', '100.00', '100.00', null],
          ],
        );
        for (const row of all) {
          assert.deepEqual(Object.keys(row).sort(), TRANSACTION_KEYS);
          assert.equal(row.accountNumber, account);
          assert.equal(row.currency, 'USD');
          assert.equal(row.description, null);
          assertIsoTimestamp(row.createdAt);
        }
        // Newest first by time, and each balanceAfter follows from the one before it.
        for (let i = 0; i + 1 < all.length; i += 1) {
          const newer = all[i];
          const older = all[i + 1];
          assert.ok(newer && older);
          assert.ok(newer.createdAt >= older.createdAt);
          const delta = newer.direction === 'credit' ? cents(newer.amount) : -cents(newer.amount);
          assert.equal(cents(newer.balanceAfter), cents(older.balanceAfter) + delta);
        }
        assert.equal(all[0]?.balanceAfter, await t.balance(alice, account));

        const bobs = await history(bob, bobAccount);
        assert.deepEqual(
          bobs.body.data.map((row) => [row.type, row.balanceAfter, row.counterpartyAccount]),
          [
            ['transfer_out', '25.00', account],
            ['transfer_in', '30.00', account],
          ],
        );
      });

      for (const limit of [1, 2, 3, 4, 5, 6]) {
        it(`walks every row with limit=${limit}, no duplicates or gaps, null cursor at the end`, async () => {
          const seen: string[] = [];
          const pageSizes: number[] = [];
          let cursor: string | null = null;
          for (let page = 0; page < 10; page += 1) {
            const query: string =
              cursor === null
                ? `?limit=${limit}`
                : `?limit=${limit}&cursor=${encodeURIComponent(cursor)}`;
            const response = await history(alice, account, query);
            assert.equal(response.status, 200, JSON.stringify(response.body));
            pageSizes.push(response.body.data.length);
            seen.push(...response.body.data.map((row) => row.id));
            cursor = response.body.nextCursor;
            if (cursor === null) break;
            assert.equal(typeof cursor, 'string');
          }
          assert.equal(cursor, null);
          assert.deepEqual(
            seen,
            all.map((row) => row.id),
          );
          const expectedSizes: number[] = [];
          for (let left = all.length; left > 0; left -= limit) {
            expectedSizes.push(Math.min(limit, left));
          }
          assert.deepEqual(pageSizes, expectedSizes);
        });
      }

      it('pages 20 rows by default', async () => {
        const user = await t.customer();
        const { accountNumber } = await t.openAccount(user);
        for (let i = 1; i <= 21; i += 1) {
          assert.equal((await t.deposit(user, accountNumber, `${i}.00`)).status, 201);
        }
        const first = await history(user, accountNumber);
        assert.equal(first.status, 200);
        assert.equal(first.body.data.length, 20);
        assert.equal(first.body.data[0]?.amount, '21.00');
        assert.notEqual(first.body.nextCursor, null);
        const second = await history(
          user,
          accountNumber,
          `?cursor=${encodeURIComponent(first.body.nextCursor ?? '')}`,
        );
        assert.deepEqual(
          second.body.data.map((row) => row.amount),
          ['1.00'],
        );
        assert.equal(second.body.nextCursor, null);
      });

      for (const limit of ['0', '101', 'abc', '1.5', '-1']) {
        it(`refuses limit=${limit} with 400 field limit`, async () => {
          assertProblem(
            await history(alice, account, `?limit=${limit}`),
            400,
            'VALIDATION_FAILED',
            'limit',
          );
        });
      }

      const badCursors = [
        'garbage',
        '!!!!',
        Buffer.from('p1:abc').toString('base64url'),
        Buffer.from('p1:0').toString('base64url'),
        Buffer.from('p2:5').toString('base64url'),
        'x'.repeat(201),
      ];
      for (const cursor of badCursors) {
        it(`refuses the cursor ${JSON.stringify(cursor.slice(0, 20))} with 400 field cursor`, async () => {
          assertProblem(
            await history(alice, account, `?cursor=${encodeURIComponent(cursor)}`),
            400,
            'VALIDATION_FAILED',
            'cursor',
          );
        });
      }
    });

    describe('deposits, withdrawals and transfers', () => {
      it('deposits: 201 with the transaction, and the balance rises', async () => {
        const user = await t.customer();
        const { accountNumber } = await t.openAccount(user);
        const response = await post(user, accountNumber, 'deposits', { amount: '125.50' });
        assert.equal(response.status, 201, JSON.stringify(response.body));
        const tx = response.body;
        assert.deepEqual(Object.keys(tx).sort(), TRANSACTION_KEYS);
        assert.equal(tx.accountNumber, accountNumber);
        assert.equal(tx.type, 'deposit');
        assert.equal(tx.direction, 'credit');
        assert.equal(tx.amount, '125.50');
        assert.equal(tx.currency, 'USD');
        assert.equal(tx.balanceAfter, '125.50');
        assert.equal(tx.counterpartyAccount, null);
        assert.equal(tx.description, null);
        assertIsoTimestamp(tx.createdAt);
        assert.equal(await t.balance(user, accountNumber), '125.50');
        const rows = await history(user, accountNumber);
        assert.deepEqual(rows.body.data, [tx]);
      });

      it('deposits in currencies with 0 and 3 decimals', async () => {
        const user = await t.customer();
        const yen = await t.openAccount(user, { currency: 'JPY' });
        const dinar = await t.openAccount(user, { currency: 'KWD' });
        const a = await post(user, yen.accountNumber, 'deposits', { amount: '1500' });
        assert.equal(a.status, 201, JSON.stringify(a.body));
        assert.equal(a.body.balanceAfter, '1500');
        const b = await post(user, dinar.accountNumber, 'deposits', { amount: '1.005' });
        assert.equal(b.status, 201, JSON.stringify(b.body));
        assert.equal(b.body.balanceAfter, '1.005');
        assertProblem(
          await post(user, yen.accountNumber, 'deposits', { amount: '1.5' }),
          400,
          'VALIDATION_FAILED',
          'amount',
        );
        assert.equal(await t.balance(user, yen.accountNumber), '1500');
      });

      it('withdraws with the PIN: 201 and the balance falls', async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const response = await t.withdraw(user, account, '40.25');
        assert.equal(response.status, 201, JSON.stringify(response.body));
        assert.deepEqual(Object.keys(response.body).sort(), TRANSACTION_KEYS);
        assert.equal(response.body.type, 'withdrawal');
        assert.equal(response.body.direction, 'debit');
        assert.equal(response.body.amount, '40.25');
        assert.equal(response.body.balanceAfter, '59.75');
        assert.equal(response.body.counterpartyAccount, null);
        assert.equal(await t.balance(user, account), '59.75');
      });

      it('withdraws the whole balance down to exactly zero', async () => {
        const { user, account } = await t.fundedCustomer('10.00');
        const response = await t.withdraw(user, account, '10.00');
        assert.equal(response.status, 201, JSON.stringify(response.body));
        assert.equal(response.body.balanceAfter, '0.00');
        assert.equal(await t.balance(user, account), '0.00');
      });

      it('transfers: 201 with the debit side, and both balances and histories move', async () => {
        const alice = await t.fundedCustomer('100.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const response = await t.transfer(alice.user, alice.account, bobAccount, '30.00');
        assert.equal(response.status, 201, JSON.stringify(response.body));
        const tx = response.body;
        assert.deepEqual(Object.keys(tx).sort(), TRANSACTION_KEYS);
        assert.equal(tx.accountNumber, alice.account);
        assert.equal(tx.type, 'transfer_out');
        assert.equal(tx.direction, 'debit');
        assert.equal(tx.amount, '30.00');
        assert.equal(tx.currency, 'USD');
        assert.equal(tx.balanceAfter, '70.00');
        assert.equal(tx.counterpartyAccount, bobAccount);
        assert.equal(await t.balance(alice.user, alice.account), '70.00');
        assert.equal(await t.balance(bob, bobAccount), '30.00');
        const bobRows = await history(bob, bobAccount);
        assert.equal(bobRows.body.data.length, 1);
        const incoming = bobRows.body.data[0];
        assert.equal(incoming?.type, 'transfer_in');
        assert.equal(incoming?.direction, 'credit');
        assert.equal(incoming?.amount, '30.00');
        assert.equal(incoming?.balanceAfter, '30.00');
        assert.equal(incoming?.counterpartyAccount, alice.account);
        assert.equal(incoming?.accountNumber, bobAccount);
      });

      it('stores the description exactly as sent, on both sides of a transfer', async () => {
        const description = '  Rent \u2014 M\u00e4rz "flat" #3 <b>&amp;</b> \u{1F3E0}  ';
        const alice = await t.fundedCustomer('100.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const deposit = await post(alice.user, alice.account, 'deposits', {
          amount: '1.00',
          description,
        });
        assert.equal(deposit.status, 201, JSON.stringify(deposit.body));
        assert.equal(deposit.body.description, description);
        const withdrawal = await post(alice.user, alice.account, 'withdrawals', {
          amount: '1.00',
          pin: DEFAULT_PIN,
          description,
        });
        assert.equal(withdrawal.body.description, description);
        const transfer = await t.transfer(alice.user, alice.account, bobAccount, '2.00', {
          description,
        });
        assert.equal(transfer.status, 201, JSON.stringify(transfer.body));
        assert.equal(transfer.body.description, description);
        const rows = await history(alice.user, alice.account);
        assert.deepEqual(
          rows.body.data.map((row) => row.description),
          [description, description, description, null],
        );
        const bobRows = await history(bob, bobAccount);
        assert.equal(bobRows.body.data[0]?.description, description);
      });

      for (const [name, description] of [
        ['empty', ''],
        ['141 characters', 'd'.repeat(141)],
        ['with a newline', 'line one\nline two'],
        ['a number', 42],
      ] as const) {
        it(`refuses a description that is ${name} with 400 field description`, async () => {
          const { user, account } = await t.fundedCustomer('10.00');
          const before = await state(user, account);
          assertProblem(
            await post(user, account, 'deposits', { amount: '1.00', description }),
            400,
            'VALIDATION_FAILED',
            'description',
          );
          assert.deepEqual(await state(user, account), before);
        });
      }

      for (const [name, amount] of [
        ['a JSON number', 10],
        ['zero', '0'],
        ['zero with decimals', '0.00'],
        ['a negative', '-1.00'],
        ['too many decimals', '1.001'],
        ['an exponent', '1e3'],
        ['NaN', 'NaN'],
        ['Infinity', 'Infinity'],
        ['blank', ''],
        ['padded', ' 1.00'],
        ['missing', undefined],
      ] as const) {
        it(`refuses an amount that is ${name} with 400 field amount`, async () => {
          const { user, account } = await t.fundedCustomer('10.00');
          const before = await state(user, account);
          const body = amount === undefined ? {} : { amount };
          assertProblem(
            await post(user, account, 'deposits', body),
            400,
            'VALIDATION_FAILED',
            'amount',
          );
          assertProblem(
            await post(user, account, 'withdrawals', { ...body, pin: DEFAULT_PIN }),
            400,
            'VALIDATION_FAILED',
            'amount',
          );
          assert.deepEqual(await state(user, account), before);
        });
      }

      it('refuses a withdrawal above the balance with 422 INSUFFICIENT_FUNDS, moving nothing', async () => {
        const { user, account } = await t.fundedCustomer('50.00');
        const before = await state(user, account);
        assertProblem(await t.withdraw(user, account, '50.01'), 422, 'INSUFFICIENT_FUNDS');
        assert.deepEqual(await state(user, account), before);
        assert.equal(before.balance, '50.00');
      });

      it('refuses a transfer above the balance with 422 INSUFFICIENT_FUNDS, moving nothing', async () => {
        const alice = await t.fundedCustomer('50.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const aliceBefore = await state(alice.user, alice.account);
        const bobBefore = await state(bob, bobAccount);
        assertProblem(
          await t.transfer(alice.user, alice.account, bobAccount, '50.01'),
          422,
          'INSUFFICIENT_FUNDS',
        );
        assert.deepEqual(await state(alice.user, alice.account), aliceBefore);
        assert.deepEqual(await state(bob, bobAccount), bobBefore);
      });

      it('refuses a transfer to the same account with 400 SAME_ACCOUNT', async () => {
        const { user, account } = await t.fundedCustomer('50.00');
        const before = await state(user, account);
        assertProblem(await t.transfer(user, account, account, '1.00'), 400, 'SAME_ACCOUNT');
        assert.deepEqual(await state(user, account), before);
      });

      it('refuses a mistyped destination (any one digit changed) with 400 field toAccount', async () => {
        const alice = await t.fundedCustomer('50.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const before = await state(alice.user, alice.account);
        for (let position = 0; position < 12; position += 1) {
          const typo = withDigitFlipped(bobAccount, position);
          assertProblem(
            await t.transfer(alice.user, alice.account, typo, '1.00'),
            400,
            'VALIDATION_FAILED',
            'toAccount',
          );
        }
        for (const malformed of ['', '12345', 'VAULT-USD', `${bobAccount}0`]) {
          assertProblem(
            await t.transfer(alice.user, alice.account, malformed, '1.00'),
            400,
            'VALIDATION_FAILED',
            'toAccount',
          );
        }
        assert.deepEqual(await state(alice.user, alice.account), before);
        assert.equal(await t.balance(bob, bobAccount), '0.00');
      });

      it('refuses a well-formed destination that does not exist with 404 field toAccount', async () => {
        const { user, account } = await t.fundedCustomer('50.00');
        const before = await state(user, account);
        const nowhere = generateAccountNumber();
        assert.ok(isValidAccountNumber(nowhere));
        assertProblem(
          await t.transfer(user, account, nowhere, '1.00'),
          404,
          'NOT_FOUND',
          'toAccount',
        );
        assert.deepEqual(await state(user, account), before);
      });

      it('refuses a transfer between currencies with 400 CURRENCY_MISMATCH', async () => {
        const alice = await t.fundedCustomer('50.00');
        const euro = await t.openAccount(alice.user, { currency: 'EUR' });
        const usdBefore = await state(alice.user, alice.account);
        const eurBefore = await state(alice.user, euro.accountNumber);
        assertProblem(
          await t.transfer(alice.user, alice.account, euro.accountNumber, '1.00'),
          400,
          'CURRENCY_MISMATCH',
        );
        assert.deepEqual(await state(alice.user, alice.account), usdBefore);
        assert.deepEqual(await state(alice.user, euro.accountNumber), eurBefore);
      });

      it('refuses a body currency other than the account’s with 400 CURRENCY_MISMATCH field currency', async () => {
        const alice = await t.fundedCustomer('50.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const before = await state(alice.user, alice.account);
        const currency = 'EUR';
        assertProblem(
          await post(alice.user, alice.account, 'deposits', { amount: '1.00', currency }),
          400,
          'CURRENCY_MISMATCH',
          'currency',
        );
        assertProblem(
          await post(alice.user, alice.account, 'withdrawals', {
            amount: '1.00',
            currency,
            pin: DEFAULT_PIN,
          }),
          400,
          'CURRENCY_MISMATCH',
          'currency',
        );
        assertProblem(
          await post(alice.user, alice.account, 'transfers', {
            toAccount: bobAccount,
            amount: '1.00',
            currency,
            pin: DEFAULT_PIN,
          }),
          400,
          'CURRENCY_MISMATCH',
          'currency',
        );
        assert.deepEqual(await state(alice.user, alice.account), before);
        assert.equal(await t.balance(bob, bobAccount), '0.00');
        // The account's own currency, named explicitly, is accepted.
        const ok = await post(alice.user, alice.account, 'deposits', {
          amount: '1.00',
          currency: 'USD',
        });
        assert.equal(ok.status, 201, JSON.stringify(ok.body));
      });

      it('accepts the maximum amount, 1000000.00, and refuses 1000000.01', async () => {
        const user = await t.customer();
        const { accountNumber } = await t.openAccount(user);
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const tooMuch = '1000000.01';
        assertProblem(
          await t.deposit(user, accountNumber, tooMuch),
          400,
          'VALIDATION_FAILED',
          'amount',
        );
        assert.equal(await t.balance(user, accountNumber), '0.00');
        const max = await t.deposit(user, accountNumber, '1000000.00');
        assert.equal(max.status, 201, JSON.stringify(max.body));
        assert.equal(await t.balance(user, accountNumber), '1000000.00');
        // With enough money in the account, the amount itself is what is refused.
        assert.equal((await t.deposit(user, accountNumber, '5.00')).status, 201);
        const before = await state(user, accountNumber);
        assertProblem(
          await t.withdraw(user, accountNumber, tooMuch),
          400,
          'VALIDATION_FAILED',
          'amount',
        );
        assertProblem(
          await t.transfer(user, accountNumber, bobAccount, tooMuch),
          400,
          'VALIDATION_FAILED',
          'amount',
        );
        assert.deepEqual(await state(user, accountNumber), before);
        const maxTransfer = await t.transfer(user, accountNumber, bobAccount, '1000000.00');
        assert.equal(maxTransfer.status, 201, JSON.stringify(maxTransfer.body));
        assert.equal(await t.balance(bob, bobAccount), '1000000.00');
        assert.equal(await t.balance(user, accountNumber), '5.00');
      });

      it('refuses withdrawals and transfers of a customer without a PIN with 409 PIN_NOT_SET', async () => {
        const user = await t.customer({ pin: null });
        const { accountNumber } = await t.openAccount(user);
        // Depositing into one's own account needs no PIN.
        assert.equal((await t.deposit(user, accountNumber, '20.00')).status, 201);
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const before = await state(user, accountNumber);
        assertProblem(await t.withdraw(user, accountNumber, '1.00'), 409, 'PIN_NOT_SET');
        assertProblem(
          await t.transfer(user, accountNumber, bobAccount, '1.00'),
          409,
          'PIN_NOT_SET',
        );
        assert.deepEqual(await state(user, accountNumber), before);
        assert.equal(await t.balance(bob, bobAccount), '0.00');
        assert.equal((await me(user)).locked, false);
      });

      it('refuses a customer withdrawal without a PIN field with 400 field pin', async () => {
        const { user, account } = await t.fundedCustomer('20.00');
        const before = await state(user, account);
        assertProblem(
          await post(user, account, 'withdrawals', { amount: '1.00' }),
          400,
          'VALIDATION_FAILED',
          'pin',
        );
        assert.deepEqual(await state(user, account), before);
      });

      it('refuses a wrong PIN with 403 INVALID_PIN field pin, moving nothing', async () => {
        const alice = await t.fundedCustomer('20.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const before = await state(alice.user, alice.account);
        assertProblem(
          await t.withdraw(alice.user, alice.account, '1.00', { pin: '0000' }),
          403,
          'INVALID_PIN',
          'pin',
        );
        assertProblem(
          await t.transfer(alice.user, alice.account, bobAccount, '1.00', { pin: '999999' }),
          403,
          'INVALID_PIN',
          'pin',
        );
        assert.deepEqual(await state(alice.user, alice.account), before);
        assert.equal(await t.balance(bob, bobAccount), '0.00');
      });

      it('locks the user on the third wrong PIN in a row (423), for money and for login', async () => {
        const alice = await t.fundedCustomer('20.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const before = await state(alice.user, alice.account);
        const wrong = { pin: '1357' };
        assertProblem(
          await t.transfer(alice.user, alice.account, bobAccount, '1.00', wrong),
          403,
          'INVALID_PIN',
        );
        assertProblem(
          await t.transfer(alice.user, alice.account, bobAccount, '1.00', wrong),
          403,
          'INVALID_PIN',
        );
        assertProblem(
          await t.transfer(alice.user, alice.account, bobAccount, '1.00', wrong),
          423,
          'USER_LOCKED',
        );
        assert.equal((await me(alice.user)).locked, true);

        // Locked means locked: the right PIN, a withdrawal and even a deposit are refused.
        assertProblem(
          await t.transfer(alice.user, alice.account, bobAccount, '1.00'),
          423,
          'USER_LOCKED',
        );
        assertProblem(await t.withdraw(alice.user, alice.account, '1.00'), 423, 'USER_LOCKED');
        assertProblem(await t.deposit(alice.user, alice.account, '1.00'), 423, 'USER_LOCKED');

        // Login reveals the lock only to someone who knows the password.
        const rightPassword = await t.request('POST', '/api/v1/auth/login', {
          body: { username: alice.user.username, password: alice.user.password },
        });
        assertProblem(rightPassword, 423, 'USER_LOCKED');
        const wrongPassword = await t.request('POST', '/api/v1/auth/login', {
          body: { username: alice.user.username, password: 'not the password at all' },
        });
        assertProblem(wrongPassword, 401, 'INVALID_CREDENTIALS');

        // Setting a new PIN does not lift the lock.
        const newPin = await t.request('PUT', '/api/v1/me/pin', {
          token: alice.user.token,
          body: { password: alice.user.password, pin: '8642' },
        });
        assertProblem(newPin, 423, 'USER_LOCKED');
        assertProblem(
          await t.transfer(alice.user, alice.account, bobAccount, '1.00', { pin: '8642' }),
          423,
          'USER_LOCKED',
        );

        assert.deepEqual(await state(alice.user, alice.account), before);
        assert.equal(await t.balance(bob, bobAccount), '0.00');
      });

      it('counts wrong PINs across withdrawals and transfers', async () => {
        const alice = await t.fundedCustomer('20.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const wrong = { pin: '1357' };
        assertProblem(
          await t.withdraw(alice.user, alice.account, '1.00', wrong),
          403,
          'INVALID_PIN',
        );
        assertProblem(
          await t.transfer(alice.user, alice.account, bobAccount, '1.00', wrong),
          403,
          'INVALID_PIN',
        );
        assertProblem(
          await t.withdraw(alice.user, alice.account, '1.00', wrong),
          423,
          'USER_LOCKED',
        );
        assert.equal((await me(alice.user)).locked, true);
        assert.equal(await t.balance(alice.user, alice.account), '20.00');
      });

      it('resets the wrong-PIN count after a correct PIN (2 wrong, 1 right, 2 wrong: not locked)', async () => {
        const alice = await t.fundedCustomer('20.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const wrong = { pin: '1357' };
        for (let i = 0; i < 2; i += 1) {
          assertProblem(
            await t.transfer(alice.user, alice.account, bobAccount, '1.00', wrong),
            403,
            'INVALID_PIN',
          );
        }
        const right = await t.transfer(alice.user, alice.account, bobAccount, '1.00');
        assert.equal(right.status, 201, JSON.stringify(right.body));
        for (let i = 0; i < 2; i += 1) {
          assertProblem(
            await t.transfer(alice.user, alice.account, bobAccount, '1.00', wrong),
            403,
            'INVALID_PIN',
          );
        }
        assert.equal((await me(alice.user)).locked, false);
        const again = await t.transfer(alice.user, alice.account, bobAccount, '1.00');
        assert.equal(again.status, 201, JSON.stringify(again.body));
        assert.equal(await t.balance(alice.user, alice.account), '18.00');
        assert.equal(await t.balance(bob, bobAccount), '2.00');
        // Logging in still works: the user was never locked.
        await t.login(alice.user.username, alice.user.password);
      });

      it('refuses every movement into or out of a frozen account with 409 ACCOUNT_FROZEN', async () => {
        const alice = await t.fundedCustomer('100.00');
        const bob = await t.fundedCustomer('100.00');
        const teller = await t.staff('teller');
        await freeze(alice.account);
        const aliceBefore = await state(alice.user, alice.account);
        const bobBefore = await state(bob.user, bob.account);
        assert.equal(aliceBefore.status, 'frozen');

        assertProblem(await t.deposit(alice.user, alice.account, '1.00'), 409, 'ACCOUNT_FROZEN');
        assertProblem(await t.withdraw(alice.user, alice.account, '1.00'), 409, 'ACCOUNT_FROZEN');
        assertProblem(
          await t.transfer(alice.user, alice.account, bob.account, '1.00'),
          409,
          'ACCOUNT_FROZEN',
        );
        // Bob may not read Alice's account: one refusal for every reason (issue #10, item 11).
        assertProblem(
          await t.transfer(bob.user, bob.account, alice.account, '1.00'),
          400,
          'DESTINATION_REFUSED',
        );
        assertProblem(
          await post(teller, alice.account, 'deposits', { amount: '1.00' }),
          409,
          'ACCOUNT_FROZEN',
        );
        assertProblem(
          await post(teller, alice.account, 'withdrawals', { amount: '1.00' }),
          409,
          'ACCOUNT_FROZEN',
        );

        assert.deepEqual(await state(alice.user, alice.account), aliceBefore);
        assert.deepEqual(await state(bob.user, bob.account), bobBefore);
        assert.equal(aliceBefore.balance, '100.00');
        assert.equal(bobBefore.balance, '100.00');
        assert.equal((await me(alice.user)).locked, false);
      });

      it('answers another customer’s account with 404 for every money operation', async () => {
        const owner = await t.fundedCustomer('100.00');
        const stranger = await t.fundedCustomer('100.00');
        const before = await state(owner.user, owner.account);
        assertProblem(await t.deposit(stranger.user, owner.account, '1.00'), 404, 'NOT_FOUND');
        assertProblem(await t.withdraw(stranger.user, owner.account, '1.00'), 404, 'NOT_FOUND');
        assertProblem(
          await t.transfer(stranger.user, owner.account, stranger.account, '1.00'),
          404,
          'NOT_FOUND',
        );
        assert.deepEqual(await state(owner.user, owner.account), before);
        assert.equal(await t.balance(stranger.user, stranger.account), '100.00');
      });
    });

    describe('staff', () => {
      it('a teller deposits into and withdraws from a customer’s account without a PIN, and reads it', async () => {
        const customer = await t.fundedCustomer('100.00');
        const teller = await t.staff('teller');
        const deposit = await post(teller, customer.account, 'deposits', { amount: '25.00' });
        assert.equal(deposit.status, 201, JSON.stringify(deposit.body));
        assert.equal(deposit.body.type, 'deposit');
        assert.equal(deposit.body.accountNumber, customer.account);
        assert.equal(deposit.body.balanceAfter, '125.00');
        const withdrawal = await post(teller, customer.account, 'withdrawals', { amount: '5.00' });
        assert.equal(withdrawal.status, 201, JSON.stringify(withdrawal.body));
        assert.equal(withdrawal.body.type, 'withdrawal');
        assert.equal(withdrawal.body.balanceAfter, '120.00');
        // Staff cannot overdraw a customer either.
        assertProblem(
          await post(teller, customer.account, 'withdrawals', { amount: '120.01' }),
          422,
          'INSUFFICIENT_FUNDS',
        );

        assert.equal(await t.balance(customer.user, customer.account), '120.00');
        const read = await getAccount(teller, customer.account);
        assert.equal(read.status, 200);
        assert.equal(read.body.balance, '120.00');
        const rows = await history(teller, customer.account);
        assert.equal(rows.status, 200);
        assert.deepEqual(
          rows.body.data.map((row) => [row.type, row.balanceAfter]),
          [
            ['withdrawal', '120.00'],
            ['deposit', '125.00'],
            ['deposit', '100.00'],
          ],
        );
        // Reading a customer's account does not make it the teller's own.
        const own = await t.request<{ data: AccountBody[] }>('GET', '/api/v1/accounts', {
          token: teller.token,
        });
        assert.deepEqual(own.body.data, []);
      });

      it('a teller cannot transfer out of a customer’s account (404)', async () => {
        const customer = await t.fundedCustomer('100.00');
        const other = await t.fundedCustomer('10.00');
        const teller = await t.staff('teller');
        const before = await state(customer.user, customer.account);
        assertProblem(
          await t.transfer(teller, customer.account, other.account, '1.00', { pin: '1234' }),
          404,
          'NOT_FOUND',
        );
        assert.deepEqual(await state(customer.user, customer.account), before);
        assert.equal(await t.balance(other.user, other.account), '10.00');
      });

      it('an auditor reads any account and its history but every money POST is 403 FORBIDDEN', async () => {
        const customer = await t.fundedCustomer('100.00');
        const other = await t.fundedCustomer('10.00');
        const auditor = await t.staff('auditor');
        const read = await getAccount(auditor, customer.account);
        assert.equal(read.status, 200);
        assert.equal(read.body.balance, '100.00');
        const rows = await history(auditor, customer.account);
        assert.equal(rows.status, 200);
        assert.deepEqual(
          rows.body.data.map((row) => row.type),
          ['deposit'],
        );
        const before = await state(customer.user, customer.account);
        assertProblem(
          await post(auditor, customer.account, 'deposits', { amount: '1.00' }),
          403,
          'FORBIDDEN',
        );
        assertProblem(
          await post(auditor, customer.account, 'withdrawals', { amount: '1.00' }),
          403,
          'FORBIDDEN',
        );
        assertProblem(
          await post(auditor, customer.account, 'withdrawals', { amount: '1.00', pin: '1234' }),
          403,
          'FORBIDDEN',
        );
        assertProblem(
          await t.transfer(auditor, customer.account, other.account, '1.00', { pin: '1234' }),
          403,
          'FORBIDDEN',
        );
        assert.deepEqual(await state(customer.user, customer.account), before);
        assert.equal(await t.balance(other.user, other.account), '10.00');
      });

      it('an admin deposits into and withdraws from a customer’s account', async () => {
        const customer = await t.fundedCustomer('100.00');
        const admin = await t.staff('admin');
        const deposit = await post(admin, customer.account, 'deposits', { amount: '0.01' });
        assert.equal(deposit.status, 201, JSON.stringify(deposit.body));
        assert.equal(deposit.body.balanceAfter, '100.01');
        const withdrawal = await post(admin, customer.account, 'withdrawals', { amount: '50.00' });
        assert.equal(withdrawal.status, 201, JSON.stringify(withdrawal.body));
        assert.equal(withdrawal.body.balanceAfter, '50.01');
        assert.equal(await t.balance(customer.user, customer.account), '50.01');
      });

      it('staff get 404 for an account that does not exist', async () => {
        const teller = await t.staff('teller');
        const nowhere = generateAccountNumber();
        assertProblem(await getAccount(teller, nowhere), 404, 'NOT_FOUND');
        assertProblem(
          await post(teller, nowhere, 'deposits', { amount: '1.00' }),
          404,
          'NOT_FOUND',
        );
      });
    });
  });
}
