import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateAccountNumber } from '../src/accounts/account-number.ts';
import { maskHolderName } from '../src/payees/account-holder-routes.ts';
import { createTestApp, ENGINES, type TestApp, type TestUser } from './support/harness.ts';

/**
 * The dashboard's two small read APIs (issue 16): the cash desk's customer search for staff,
 * with usernames for audit actors, and the payee check (masked holder name) for customers.
 */

interface StaffCustomer {
  id: string;
  username: string;
  fullName: string;
  locked: boolean;
  accounts: Array<{ accountNumber: string; balance: string; currency: string }>;
}

describe('masking a holder name', () => {
  const cases: Array<[string, string]> = [
    ['Bob Browne', 'Bob B.'],
    ['  Ana María de la Cruz ', 'Ana M. d. l. C.'],
    ['Madonna', 'Madonna'],
    ['Émile Zola', 'Émile Z.'],
  ];
  for (const [name, masked] of cases) {
    it(`${JSON.stringify(name)} → ${masked}`, () => assert.equal(maskHolderName(name), masked));
  }
});

for (const engine of ENGINES) {
  describe(`staff customer search and payee check (${engine})`, () => {
    let t: TestApp;
    let alice: TestUser;
    let bob: TestUser;
    let aliceAccount = '';
    let bobAccount = '';
    let teller: TestUser;
    let auditor: TestUser;

    before(async () => {
      t = await createTestApp(engine);
      alice = await t.customer();
      bob = await t.customer();
      aliceAccount = (await t.openAccount(alice)).accountNumber;
      bobAccount = (await t.openAccount(bob, { currency: 'EUR' })).accountNumber;
      assert.equal((await t.deposit(alice, aliceAccount, '25.00')).status, 201);
      teller = await t.staff('teller');
      auditor = await t.staff('auditor');
    });
    after(async () => t?.close());

    const search = (user: TestUser, q: string) =>
      t.request<{ data: StaffCustomer[] }>(
        'GET',
        `/api/v1/staff/customers?q=${encodeURIComponent(q)}`,
        { token: user.token },
      );

    it('finds a customer by username prefix, by name, case blind, with their accounts', async () => {
      const byUsername = await search(teller, alice.username.slice(0, -1).toUpperCase());
      assert.equal(byUsername.status, 200);
      const found = byUsername.body.data.find((c) => c.id === alice.id);
      assert.ok(found, JSON.stringify(byUsername.body));
      assert.deepEqual(
        found.accounts.map((a) => [a.accountNumber, a.balance]),
        [[aliceAccount, '25.00']],
      );
      const byName = await search(auditor, `customer ${bob.username}`);
      assert.deepEqual(
        byName.body.data.map((c) => c.username),
        [bob.username],
      );
    });

    it('finds the holder of an exact account number, spaces allowed', async () => {
      const spaced = bobAccount.replace(/(\d{4})(?=\d)/g, '$1 ');
      const response = await search(teller, spaced);
      assert.equal(response.status, 200);
      assert.deepEqual(
        response.body.data.map((c) => c.id),
        [bob.id],
      );
      assert.deepEqual((await search(teller, generateAccountNumber())).body.data, []);
    });

    it('matches LIKE wildcards literally and never lists staff', async () => {
      assert.deepEqual((await search(teller, '%%')).body.data, []);
      const staff = await search(teller, teller.username);
      assert.deepEqual(staff.body.data, []);
    });

    it('refuses customers (403) and anonymous callers (401), and bad queries (400)', async () => {
      assert.equal((await search(alice, alice.username)).status, 403);
      const anonymous = await t.request('GET', '/api/v1/staff/customers?q=ab');
      assert.equal(anonymous.status, 401);
      assert.equal((await search(teller, 'a')).status, 400);
    });

    it('turns user ids into usernames for staff only', async () => {
      const url = `/api/v1/staff/users?ids=${alice.id},${teller.id}`;
      const response = await t.request<{ data: Array<{ id: string; username: string }> }>(
        'GET',
        url,
        { token: auditor.token },
      );
      assert.equal(response.status, 200);
      assert.deepEqual(
        response.body.data.map((u) => u.username).sort(),
        [alice.username, teller.username].sort(),
      );
      assert.equal((await t.request('GET', url, { token: alice.token })).status, 403);
      const bad = await t.request('GET', '/api/v1/staff/users?ids=1 OR 1=1', {
        token: auditor.token,
      });
      assert.equal(bad.status, 400);
    });

    it('tells a customer the masked holder, currency and status of a payee', async () => {
      const response = await t.request<Record<string, unknown>>(
        'GET',
        `/api/v1/account-holders/${bobAccount}`,
        { token: alice.token },
      );
      assert.equal(response.status, 200);
      assert.deepEqual(response.body, {
        accountNumber: bobAccount,
        holderName: 'Customer c.',
        currency: 'EUR',
        canReceive: true,
        ownAccount: false,
      });
      const own = await t.request<{ ownAccount: boolean }>(
        'GET',
        `/api/v1/account-holders/${aliceAccount}`,
        { token: alice.token },
      );
      assert.equal(own.body.ownAccount, true);
    });

    it('answers 404 for a number no customer holds and 400 for wrong check digits', async () => {
      const unknown = await t.request('GET', `/api/v1/account-holders/${generateAccountNumber()}`, {
        token: alice.token,
      });
      assert.equal(unknown.status, 404);
      const typo = `${bobAccount.slice(0, 11)}${(Number(bobAccount[11]) + 1) % 10}`;
      const bad = await t.request('GET', `/api/v1/account-holders/${typo}`, { token: alice.token });
      assert.equal(bad.status, 400);
      const anonymous = await t.request('GET', `/api/v1/account-holders/${bobAccount}`);
      assert.equal(anonymous.status, 401);
    });
  });
}

describe('payee check rate limit (sqlite)', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp('sqlite', {
      RATE_LIMITS: 'on',
      RATE_LIMIT_HOLDER_LOOKUPS_PER_MINUTE: '3',
      RATE_LIMIT_LOGIN_PER_MINUTE: '100',
    });
  });
  after(async () => t?.close());

  it('limits lookups per user, not per address', async () => {
    const alice = await t.customer({ pin: null });
    const bob = await t.customer({ pin: null });
    const target = (await t.openAccount(bob)).accountNumber;
    const lookup = (user: TestUser) =>
      t.request('GET', `/api/v1/account-holders/${target}`, { token: user.token });
    for (let i = 0; i < 3; i++) assert.equal((await lookup(alice)).status, 200);
    const limited = await lookup(alice);
    assert.equal(limited.status, 429);
    assert.equal((limited.body as { code: string }).code, 'RATE_LIMITED');
    // Another user from the same address still gets answers.
    assert.equal((await lookup(bob)).status, 200);
  });
});
