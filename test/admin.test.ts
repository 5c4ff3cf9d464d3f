import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateAccountNumber } from '../src/accounts/account-number.ts';
import { verifyAudit } from '../src/audit/audit.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import {
  createTestApp,
  DEFAULT_PASSWORD,
  ENGINES,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { allAuditEvents, enrolMfa, lockByWrongPins, totpCode, WRONG_PIN } from './support/staff.ts';

/**
 * The staff API: every route for every role, the actions' effects on money and login, the
 * transaction monitor's filters and pagination, and MFA on staff actions.
 */

interface AdminUser {
  id: string;
  username: string;
  fullName: string;
  roles: string[];
  locked: boolean;
  lockReason: string | null;
  failedPinAttempts: number;
}

interface Tx {
  id: string;
  accountNumber: string;
  type: string;
  direction: string;
  amount: string;
  currency: string;
  balanceAfter: string;
  counterpartyAccount: string | null;
  createdAt: string;
}

interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

interface Route {
  method: 'GET' | 'POST';
  path: string;
  action: boolean;
}

/** Every /admin route, with real targets so a wrongly allowed call would do something. */
function adminRoutes(userId: string, accountNumber: string): Route[] {
  return [
    { method: 'GET', path: '/api/v1/admin/stats', action: false },
    { method: 'GET', path: '/api/v1/admin/users', action: false },
    { method: 'GET', path: '/api/v1/admin/users?status=locked', action: false },
    { method: 'POST', path: `/api/v1/admin/users/${userId}/unlock`, action: true },
    { method: 'POST', path: `/api/v1/admin/accounts/${accountNumber}/freeze`, action: true },
    { method: 'POST', path: `/api/v1/admin/accounts/${accountNumber}/unfreeze`, action: true },
    { method: 'GET', path: '/api/v1/admin/transactions', action: false },
    { method: 'GET', path: '/api/v1/admin/audit-events', action: false },
  ];
}

/** An account number with valid check digits that no one holds. */
function unusedAccountNumber(): string {
  return generateAccountNumber();
}

async function accountStatus(t: TestApp, reader: TestUser, account: string): Promise<string> {
  const response = await t.request<{ status: string }>('GET', `/api/v1/accounts/${account}`, {
    token: reader.token,
  });
  assert.equal(response.status, 200);
  return response.body.status;
}

async function userRow(t: TestApp, userId: string) {
  return t.runtime.database.db
    .selectFrom('users')
    .select(['locked_at', 'lock_reason', 'failed_pin_attempts'])
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
}

async function allTransactions(t: TestApp, reader: TestUser, query: string): Promise<Tx[]> {
  const rows: Tx[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 200; page++) {
    const url: string = `/api/v1/admin/transactions?limit=100${query}${cursor === null ? '' : `&cursor=${cursor}`}`;
    const response = await t.request<Page<Tx>>('GET', url, { token: reader.token });
    assert.equal(response.status, 200, `${url}: ${JSON.stringify(response.body)}`);
    rows.push(...response.body.data);
    cursor = response.body.nextCursor;
    if (cursor === null) return rows;
  }
  throw new Error('transaction list did not end');
}

function minor(amount: string): bigint {
  const [units = '0', cents = ''] = amount.split('.');
  return BigInt(units) * 100n + BigInt(cents.padEnd(2, '0'));
}

for (const engine of ENGINES) {
  describe(`staff API [${engine}]`, () => {
    let t: TestApp;
    let admin: TestUser;
    let auditor: TestUser;
    let teller: TestUser;
    let alice: { user: TestUser; account: string };
    let bob: { user: TestUser; account: string };

    before(async () => {
      t = await createTestApp(engine, { RATE_LIMITS: 'off' });
      admin = await t.staff('admin');
      auditor = await t.staff('auditor');
      teller = await t.staff('teller');
      alice = await t.fundedCustomer('500.00');
      bob = await t.fundedCustomer('200.00');
    });
    after(() => t.close());

    describe('who may call what', () => {
      it('no token, or a malformed one, answers 401 UNAUTHENTICATED on every /admin route', async () => {
        for (const route of adminRoutes(alice.user.id, alice.account)) {
          for (const headers of [{}, { authorization: 'Bearer not.a.token' }] as Array<
            Record<string, string>
          >) {
            const response = await t.request(route.method, route.path, {
              headers,
              ...(route.method === 'POST' ? { body: {} } : {}),
            });
            assert.equal(response.status, 401, `${route.method} ${route.path}`);
            assert.equal(response.body.code, 'UNAUTHENTICATED');
          }
        }
      });

      for (const role of ['customer', 'teller'] as const) {
        it(`a ${role} gets 403 FORBIDDEN on every /admin route, sees no data and changes nothing`, async () => {
          const caller = role === 'customer' ? alice.user : teller;
          // Locked target, so a wrongly allowed unlock would be visible.
          const victim = await t.fundedCustomer('10.00');
          await lockByWrongPins(t, victim.user, victim.account);
          for (const route of adminRoutes(victim.user.id, victim.account)) {
            for (const body of [undefined, {}, { bogus: 1 }]) {
              if (route.method === 'GET' && body !== undefined) continue;
              const response = await t.request(route.method, route.path, {
                token: caller.token,
                ...(body === undefined ? {} : { body }),
              });
              const label = `${role} ${route.method} ${route.path} ${JSON.stringify(body)}`;
              assert.equal(response.status, 403, label);
              assert.equal(response.body.code, 'FORBIDDEN', label);
              assert.equal(response.body.data, undefined, label);
              assert.doesNotMatch(JSON.stringify(response.body), /balances|lockReason|"actor"/);
            }
          }
          // A customer probing their own account or user is refused the same way.
          if (role === 'customer') {
            for (const route of adminRoutes(alice.user.id, alice.account)) {
              const response = await t.request(route.method, route.path, { token: caller.token });
              assert.equal(response.status, 403, `${route.method} ${route.path}`);
            }
          }
          assert.notEqual((await userRow(t, victim.user.id)).locked_at, null, 'still locked');
          assert.equal(await accountStatus(t, admin, victim.account), 'active');
          assert.equal(await accountStatus(t, admin, alice.account), 'active');
          // The refused actions were audited as denied, naming the caller.
          const denied = await allAuditEvents(t, admin, `&actor=${caller.id}&outcome=denied`);
          const actions = new Set(denied.map((event) => event.action));
          assert.deepEqual([...actions].sort(), [
            'account.frozen',
            'account.unfrozen',
            'user.unlocked',
          ]);
          assert.ok(denied.every((event) => event.ip === '127.0.0.1'));
        });
      }

      it('an auditor reads every list but gets 403 on every action', async () => {
        for (const route of adminRoutes(alice.user.id, alice.account)) {
          const response = await t.request(route.method, route.path, {
            token: auditor.token,
            ...(route.method === 'POST' ? { body: {} } : {}),
          });
          const label = `${route.method} ${route.path}`;
          if (route.action) {
            assert.equal(response.status, 403, label);
            assert.equal(response.body.code, 'FORBIDDEN', label);
          } else {
            assert.equal(response.status, 200, `${label}: ${JSON.stringify(response.body)}`);
          }
        }
        assert.equal(await accountStatus(t, admin, alice.account), 'active');
      });

      it('unknown /admin paths answer 404', async () => {
        const response = await t.request('GET', '/api/v1/admin/secrets', { token: admin.token });
        assert.equal(response.status, 404);
        assert.equal(response.body.code, 'NOT_FOUND');
      });
    });

    describe('unlock', () => {
      it('after 3 wrong PINs the customer is locked; unlock lets them log in and transact again', async () => {
        const carol = await t.fundedCustomer('100.00');
        await lockByWrongPins(t, carol.user, carol.account);

        // Locked: no money moves and no login, even with the right PIN and password.
        const blocked = await t.withdraw(carol.user, carol.account, '1.00');
        assert.equal(blocked.status, 423);
        assert.equal(blocked.body.code, 'USER_LOCKED');
        const login = await t.request('POST', '/api/v1/auth/login', {
          body: { username: carol.user.username, password: DEFAULT_PASSWORD },
        });
        assert.equal(login.status, 423);
        assert.equal(login.body.code, 'USER_LOCKED');

        // The admin sees the lock with its reason.
        const locked = await t.request<Page<AdminUser>>(
          'GET',
          '/api/v1/admin/users?status=locked&limit=100',
          { token: admin.token },
        );
        assert.equal(locked.status, 200);
        const listed = locked.body.data.find((user) => user.id === carol.user.id);
        assert.ok(listed, 'locked user is listed');
        assert.equal(listed.locked, true);
        assert.match(listed.lockReason ?? '', /PIN/);
        assert.equal(listed.username, carol.user.username);
        assert.deepEqual(listed.roles, ['customer']);
        assert.ok(locked.body.data.every((user) => user.locked));

        const unlock = await t.request<AdminUser>(
          'POST',
          `/api/v1/admin/users/${carol.user.id}/unlock`,
          { token: admin.token, body: { otp: await t.staffOtp(admin) } },
        );
        assert.equal(unlock.status, 200, JSON.stringify(unlock.body));
        assert.equal(unlock.body.id, carol.user.id);
        assert.equal(unlock.body.locked, false);
        assert.equal(unlock.body.lockReason, null);
        assert.equal(unlock.body.failedPinAttempts, 0);
        const row = await userRow(t, carol.user.id);
        assert.equal(row.locked_at, null);
        assert.equal(row.failed_pin_attempts, 0n);

        // Login works again, and so does money movement with the right PIN.
        const token = await t.login(carol.user.username, DEFAULT_PASSWORD);
        const again = { ...carol.user, token };
        const withdrawal = await t.withdraw(again, carol.account, '10.00');
        assert.equal(withdrawal.status, 201, JSON.stringify(withdrawal.body));
        assert.equal(await t.balance(again, carol.account), '90.00');
        // The counter was reset: one wrong PIN is a first failure, not a new lock.
        const wrong = await t.withdraw(again, carol.account, '1.00', { pin: WRONG_PIN });
        assert.equal(wrong.status, 403);
        assert.equal(wrong.body.code, 'INVALID_PIN');

        // No longer in the locked list.
        const after = await t.request<Page<AdminUser>>(
          'GET',
          '/api/v1/admin/users?status=locked&limit=100',
          { token: admin.token },
        );
        assert.ok(!after.body.data.some((user) => user.id === carol.user.id));
      });

      it('unlocking a user who is not locked answers 200 and changes nothing', async () => {
        const response = await t.request<AdminUser>(
          'POST',
          `/api/v1/admin/users/${bob.user.id}/unlock`,
          { token: admin.token, body: { reason: 'customer called', otp: await t.staffOtp(admin) } },
        );
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.locked, false);
        const [event] = await allAuditEvents(
          t,
          admin,
          `&action=user.unlocked&target=user:${bob.user.id}`,
        );
        assert.equal(event?.outcome, 'success');
        assert.equal(event?.details?.changed, false);
        assert.equal(event?.details?.reason, 'customer called');
      });

      it('an unknown user answers 404 and the attempt is audited as a failure', async () => {
        const ghost = crypto.randomUUID();
        const response = await t.request('POST', `/api/v1/admin/users/${ghost}/unlock`, {
          token: admin.token,
          body: { otp: await t.staffOtp(admin) },
        });
        assert.equal(response.status, 404);
        assert.equal(response.body.code, 'NOT_FOUND');
        const events = await allAuditEvents(t, admin, `&target=user:${ghost}`);
        assert.equal(events.length, 1);
        assert.equal(events[0]?.outcome, 'failure');
        assert.equal(events[0]?.actor, admin.id);
      });

      it('a malformed user id or body answers 400', async () => {
        const bad = await t.request('POST', '/api/v1/admin/users/not-a-uuid/unlock', {
          token: admin.token,
        });
        assert.equal(bad.status, 400);
        assert.equal(bad.body.code, 'VALIDATION_FAILED');
        const body = await t.request('POST', `/api/v1/admin/users/${bob.user.id}/unlock`, {
          token: admin.token,
          body: { otp: 123456 },
        });
        assert.equal(body.status, 400);
        assert.equal(body.body.code, 'VALIDATION_FAILED');
        const extra = await t.request('POST', `/api/v1/admin/users/${bob.user.id}/unlock`, {
          token: admin.token,
          body: { roles: ['admin'] },
        });
        assert.equal(extra.status, 400);
      });

      it('an admin cannot unlock themselves (403, audited as denied)', async () => {
        const response = await t.request('POST', `/api/v1/admin/users/${admin.id}/unlock`, {
          token: admin.token,
        });
        assert.equal(response.status, 403);
        assert.equal(response.body.code, 'FORBIDDEN');
        const [event] = await allAuditEvents(t, admin, `&target=user:${admin.id}`);
        assert.equal(event?.outcome, 'denied');
      });
    });

    describe('freeze and unfreeze', () => {
      it('a frozen account refuses every money movement with 409 ACCOUNT_FROZEN; unfreeze restores it', async () => {
        const dave = await t.fundedCustomer('300.00');
        const freeze = await t.request<{ accountNumber: string; status: string; balance: string }>(
          'POST',
          `/api/v1/admin/accounts/${dave.account}/freeze`,
          { token: admin.token, body: { reason: 'suspected fraud', otp: await t.staffOtp(admin) } },
        );
        assert.equal(freeze.status, 200, JSON.stringify(freeze.body));
        assert.equal(freeze.body.accountNumber, dave.account);
        assert.equal(freeze.body.status, 'frozen');
        assert.equal(freeze.body.balance, '300.00');
        assert.equal(await accountStatus(t, dave.user, dave.account), 'frozen');

        const attempts = [
          ['withdrawal by owner', await t.withdraw(dave.user, dave.account, '1.00')],
          ['deposit by owner', await t.deposit(dave.user, dave.account, '1.00')],
          ['transfer out', await t.transfer(dave.user, dave.account, alice.account, '1.00')],
          ['teller deposit', await t.deposit(teller, dave.account, '1.00')],
          [
            'teller withdrawal',
            await t.request('POST', `/api/v1/accounts/${dave.account}/withdrawals`, {
              token: teller.token,
              body: { amount: '1.00' },
            }),
          ],
        ] as const;
        for (const [label, response] of attempts) {
          assert.equal(response.status, 409, `${label}: ${JSON.stringify(response.body)}`);
          assert.equal(response.body.code, 'ACCOUNT_FROZEN', label);
        }
        // Another customer is not told the account is frozen (issue #10, item 11).
        const transferIn = await t.transfer(alice.user, alice.account, dave.account, '1.00');
        assert.equal(transferIn.status, 400, JSON.stringify(transferIn.body));
        assert.equal(transferIn.body.code, 'DESTINATION_REFUSED');
        assert.equal(await t.balance(dave.user, dave.account), '300.00');
        assert.equal(await t.balance(alice.user, alice.account), '500.00');

        // Freezing again is idempotent: 200, still frozen, nothing else changes.
        const again = await t.request<{ status: string }>(
          'POST',
          `/api/v1/admin/accounts/${dave.account}/freeze`,
          { token: admin.token, body: { otp: await t.staffOtp(admin) } },
        );
        assert.equal(again.status, 200);
        assert.equal(again.body.status, 'frozen');

        const unfreeze = await t.request<{ status: string }>(
          'POST',
          `/api/v1/admin/accounts/${dave.account}/unfreeze`,
          { token: admin.token, body: { otp: await t.staffOtp(admin) } },
        );
        assert.equal(unfreeze.status, 200);
        assert.equal(unfreeze.body.status, 'active');
        const withdrawal = await t.withdraw(dave.user, dave.account, '50.00');
        assert.equal(withdrawal.status, 201, JSON.stringify(withdrawal.body));
        const transfer = await t.transfer(alice.user, alice.account, dave.account, '5.00');
        assert.equal(transfer.status, 201, JSON.stringify(transfer.body));
        assert.equal(await t.balance(dave.user, dave.account), '255.00');

        // Unfreezing an active account is idempotent too.
        const twice = await t.request<{ status: string }>(
          'POST',
          `/api/v1/admin/accounts/${dave.account}/unfreeze`,
          { token: admin.token, body: { otp: await t.staffOtp(admin) } },
        );
        assert.equal(twice.status, 200);
        assert.equal(twice.body.status, 'active');

        // Four audited actions on the account, newest first, with what changed.
        const events = await allAuditEvents(t, admin, `&target=account:${dave.account}`);
        const actions = events.filter((event) => event.action.startsWith('account.'));
        assert.deepEqual(
          actions.map((event) => [event.action, event.details?.changed]),
          [
            ['account.unfrozen', false],
            ['account.unfrozen', true],
            ['account.frozen', false],
            ['account.frozen', true],
          ],
        );
        assert.equal(actions.at(-1)?.details?.reason, 'suspected fraud');
        assert.ok(actions.every((event) => event.actor === admin.id && event.ip === '127.0.0.1'));

        const ledger = await verifyLedger(t.runtime.database.db);
        assert.ok(ledger.ok, ledger.ok ? '' : ledger.problem);
      });

      it('an unknown account answers 404 (audited as failure); a mistyped one 400', async () => {
        const ghost = unusedAccountNumber();
        for (const verb of ['freeze', 'unfreeze']) {
          const response = await t.request('POST', `/api/v1/admin/accounts/${ghost}/${verb}`, {
            token: admin.token,
            body: { otp: await t.staffOtp(admin) },
          });
          assert.equal(response.status, 404, verb);
          assert.equal(response.body.code, 'NOT_FOUND');
        }
        const events = await allAuditEvents(t, admin, `&target=account:${ghost}`);
        assert.deepEqual(
          events.map((event) => [event.action, event.outcome, event.actor]),
          [
            ['account.unfrozen', 'failure', admin.id],
            ['account.frozen', 'failure', admin.id],
          ],
        );

        const typo = `${alice.account.slice(0, 11)}${(Number(alice.account[11]) + 1) % 10}`;
        for (const path of [
          `/api/v1/admin/accounts/${typo}/freeze`,
          '/api/v1/admin/accounts/12345/freeze',
          '/api/v1/admin/accounts/VAULT-USD/freeze',
        ]) {
          const response = await t.request('POST', path, { token: admin.token });
          assert.equal(response.status, 400, path);
          assert.equal(response.body.code, 'VALIDATION_FAILED');
        }
        assert.equal(await accountStatus(t, admin, alice.account), 'active');
      });
    });

    describe('lists', () => {
      it('stats count users, accounts and locks, and total customer balances per currency', async () => {
        const before = await t.request<{
          users: number;
          accounts: number;
          lockedUsers: number;
          balances: Array<{ currency: string; total: string }>;
        }>('GET', '/api/v1/admin/stats', { token: auditor.token });
        assert.equal(before.status, 200);
        const erin = await t.fundedCustomer('12.34');
        const eur = await t.openAccount(erin.user, { currency: 'EUR' });
        assert.equal((await t.deposit(erin.user, eur.accountNumber, '7.05')).status, 201);
        await lockByWrongPins(t, erin.user, erin.account);

        const stats = await t.request<typeof before.body>('GET', '/api/v1/admin/stats', {
          token: admin.token,
        });
        assert.equal(stats.status, 200);
        assert.equal(stats.body.users, before.body.users + 1);
        assert.equal(stats.body.accounts, before.body.accounts + 2);
        assert.equal(stats.body.lockedUsers, before.body.lockedUsers + 1);
        const total = (body: typeof before.body, currency: string) =>
          body.balances.find((row) => row.currency === currency)?.total ?? '0.00';
        assert.equal(
          minor(total(stats.body, 'USD')) - minor(total(before.body, 'USD')),
          minor('12.34'),
        );
        assert.equal(
          minor(total(stats.body, 'EUR')) - minor(total(before.body, 'EUR')),
          minor('7.05'),
        );
        assert.match(total(stats.body, 'USD'), /^\d+\.\d{2}$/);

        // Independently: the USD total equals the sum of every customer USD balance.
        const rows = await t.runtime.database.db
          .selectFrom('accounts')
          .select(['balance_minor'])
          .where('kind', '=', 'customer')
          .where('currency', '=', 'USD')
          .execute();
        assert.equal(
          minor(total(stats.body, 'USD')),
          rows.reduce((sum, row) => sum + row.balance_minor, 0n),
        );
        const unlock = await t.request('POST', `/api/v1/admin/users/${erin.user.id}/unlock`, {
          token: admin.token,
          body: { otp: await t.staffOtp(admin) },
        });
        assert.equal(unlock.status, 200);
      });

      it('the users list walks every user exactly once, newest first, and filters by status', async () => {
        const all = new Map<string, AdminUser>();
        let cursor: string | null = null;
        let pages = 0;
        do {
          const url: string = `/api/v1/admin/users?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`;
          const response = await t.request<Page<AdminUser>>('GET', url, { token: auditor.token });
          assert.equal(response.status, 200);
          assert.ok(response.body.data.length <= 2);
          for (const user of response.body.data) {
            assert.ok(!all.has(user.id), `user ${user.id} listed twice`);
            all.set(user.id, user);
            assert.doesNotMatch(JSON.stringify(user), /hash|password|pin"/i);
          }
          cursor = response.body.nextCursor;
          pages++;
        } while (cursor !== null && pages < 100);
        const count = await t.runtime.database.db
          .selectFrom('users')
          .select((eb) => eb.fn.countAll<bigint>().as('n'))
          .executeTakeFirstOrThrow();
        assert.equal(BigInt(all.size), count.n);
        for (const id of [admin.id, auditor.id, teller.id, alice.user.id]) assert.ok(all.has(id));
        assert.deepEqual(all.get(admin.id)?.roles, ['admin']);

        const active = await t.request<Page<AdminUser>>(
          'GET',
          '/api/v1/admin/users?status=active&limit=100',
          { token: admin.token },
        );
        assert.ok(active.body.data.every((user) => !user.locked));

        for (const query of ['status=frozen', 'limit=0', 'limit=101', 'cursor=bm9wZQ']) {
          const response = await t.request('GET', `/api/v1/admin/users?${query}`, {
            token: admin.token,
          });
          assert.equal(response.status, 400, query);
          assert.equal(response.body.code, 'VALIDATION_FAILED');
        }
      });

      it('the audit list is newest first, filters by action and actor, and pages', async () => {
        const events = await allAuditEvents(t, auditor);
        assert.ok(events.length > 0);
        const ids = events.map((event) => BigInt(event.id));
        for (let i = 1; i < ids.length; i++) {
          assert.ok((ids[i - 1] ?? 0n) > (ids[i] ?? 0n), 'strictly newest first');
        }
        const first = events[0];
        assert.ok(first);
        assert.deepEqual(Object.keys(first).sort(), [
          'action',
          'actor',
          'at',
          'details',
          'id',
          'ip',
          'outcome',
          'target',
        ]);

        const paged: string[] = [];
        let cursor: string | null = null;
        do {
          const url: string = `/api/v1/admin/audit-events?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`;
          const response = await t.request<Page<{ id: string }>>('GET', url, {
            token: auditor.token,
          });
          paged.push(...response.body.data.map((event) => event.id));
          cursor = response.body.nextCursor;
        } while (cursor !== null);
        assert.deepEqual(
          paged,
          events.map((event) => event.id),
        );

        const staffDeposits = await allAuditEvents(t, auditor, '&action=money.staff_deposit');
        assert.ok(staffDeposits.length > 0);
        assert.ok(staffDeposits.every((event) => event.action === 'money.staff_deposit'));
        const byAdmin = await allAuditEvents(t, auditor, `&actor=${admin.id}`);
        assert.ok(byAdmin.length > 0);
        assert.ok(byAdmin.every((event) => event.actor === admin.id));
        assert.equal(byAdmin.length, events.filter((event) => event.actor === admin.id).length);

        for (const query of ['action=user.exploded', 'outcome=maybe', 'cursor=eHl6', 'limit=0']) {
          const response = await t.request('GET', `/api/v1/admin/audit-events?${query}`, {
            token: auditor.token,
          });
          assert.equal(response.status, 400, query);
          assert.equal(response.body.code, 'VALIDATION_FAILED');
        }
      });
    });

    describe('transaction monitor', () => {
      let frank: { user: TestUser; account: string };
      let gina: { user: TestUser; account: string };
      let everything: Tx[];

      before(async () => {
        frank = await t.fundedCustomer('1000.00');
        gina = await t.fundedCustomer('50.00');
        const steps = [
          () => t.transfer(frank.user, frank.account, gina.account, '100.00'),
          () => t.withdraw(frank.user, frank.account, '20.00'),
          () => t.deposit(teller, gina.account, '7.50'),
          () => t.transfer(gina.user, gina.account, frank.account, '0.25'),
          () => t.withdraw(gina.user, gina.account, '150.00'),
          () => t.deposit(frank.user, frank.account, '999.99'),
        ];
        for (const step of steps) {
          const response = await step();
          assert.equal(response.status, 201, JSON.stringify(response.body));
        }
        // A EUR account, so currency and amount filters have something to leave out.
        const eur = await t.openAccount(frank.user, { currency: 'EUR' });
        assert.equal((await t.deposit(frank.user, eur.accountNumber, '100.00')).status, 201);
        everything = await allTransactions(t, auditor, '');
      });

      it('lists customer transactions only, newest first, in the contract shape', async () => {
        assert.ok(everything.length >= 10);
        const ids = everything.map((tx) => BigInt(tx.id));
        for (let i = 1; i < ids.length; i++) assert.ok((ids[i - 1] ?? 0n) > (ids[i] ?? 0n));
        assert.ok(
          everything.every((tx) => /^\d{12}$/.test(tx.accountNumber)),
          'no vault rows',
        );
        const transferOut = everything.find(
          (tx) => tx.type === 'transfer_out' && tx.accountNumber === frank.account,
        );
        assert.deepEqual(
          {
            direction: transferOut?.direction,
            amount: transferOut?.amount,
            currency: transferOut?.currency,
            counterpartyAccount: transferOut?.counterpartyAccount,
          },
          {
            direction: 'debit',
            amount: '100.00',
            currency: 'USD',
            counterpartyAccount: gina.account,
          },
        );
        const keys = Object.keys(everything[0] ?? {}).sort();
        assert.deepEqual(keys, [
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
        ]);
      });

      it('pagination walks every row exactly once', async () => {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const url: string = `/api/v1/admin/transactions?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`;
          const response = await t.request<Page<Tx>>('GET', url, { token: admin.token });
          assert.equal(response.status, 200);
          assert.ok(response.body.data.length <= 3);
          seen.push(...response.body.data.map((tx) => tx.id));
          cursor = response.body.nextCursor;
          pages++;
        } while (cursor !== null && pages < 1000);
        assert.equal(new Set(seen).size, seen.length, 'no row twice');
        assert.deepEqual(
          seen,
          everything.map((tx) => tx.id),
        );
        // The same walk with a filter stays inside the filter.
        const filtered: Tx[] = [];
        cursor = null;
        do {
          const url: string = `/api/v1/admin/transactions?limit=2&account=${frank.account}${cursor === null ? '' : `&cursor=${cursor}`}`;
          const response = await t.request<Page<Tx>>('GET', url, { token: admin.token });
          filtered.push(...response.body.data);
          cursor = response.body.nextCursor;
        } while (cursor !== null);
        assert.deepEqual(
          filtered.map((tx) => tx.id),
          everything.filter((tx) => tx.accountNumber === frank.account).map((tx) => tx.id),
        );
      });

      const cases: Array<{ name: string; query: () => string; keep: (tx: Tx) => boolean }> = [
        {
          name: 'account',
          query: () => `&account=${gina.account}`,
          keep: (tx) => tx.accountNumber === gina.account,
        },
        { name: 'type=deposit', query: () => '&type=deposit', keep: (tx) => tx.type === 'deposit' },
        {
          name: 'type=withdrawal',
          query: () => '&type=withdrawal',
          keep: (tx) => tx.type === 'withdrawal',
        },
        {
          name: 'type=transfer_in',
          query: () => '&type=transfer_in',
          keep: (tx) => tx.type === 'transfer_in',
        },
        {
          name: 'type=transfer_out',
          query: () => '&type=transfer_out',
          keep: (tx) => tx.type === 'transfer_out',
        },
        {
          name: 'minAmount (USD by default)',
          query: () => '&minAmount=100.00',
          keep: (tx) => tx.currency === 'USD' && minor(tx.amount) >= 10000n,
        },
        {
          name: 'maxAmount',
          query: () => '&maxAmount=7.50',
          keep: (tx) => tx.currency === 'USD' && minor(tx.amount) <= 750n,
        },
        {
          name: 'amount range',
          query: () => '&minAmount=20&maxAmount=150.00',
          keep: (tx) =>
            tx.currency === 'USD' && minor(tx.amount) >= 2000n && minor(tx.amount) <= 15000n,
        },
        {
          name: 'currency',
          query: () => '&currency=EUR',
          keep: (tx) => tx.currency === 'EUR',
        },
        {
          name: 'account and type',
          query: () => `&account=${frank.account}&type=transfer_in`,
          keep: (tx) => tx.accountNumber === frank.account && tx.type === 'transfer_in',
        },
      ];
      for (const c of cases) {
        it(`filter ${c.name} returns exactly the matching rows`, async () => {
          const rows = await allTransactions(t, admin, c.query());
          const expected = everything.filter(c.keep).map((tx) => tx.id);
          assert.ok(expected.length > 0, 'the filter has something to find');
          assert.ok(expected.length < everything.length, 'the filter leaves something out');
          assert.deepEqual(
            rows.map((tx) => tx.id),
            expected,
          );
        });
      }

      it('from (inclusive) and to (exclusive) narrow by time', async () => {
        const middle = everything[Math.floor(everything.length / 2)];
        assert.ok(middle);
        const from = await allTransactions(t, admin, `&from=${middle.createdAt}`);
        assert.deepEqual(
          from.map((tx) => tx.id),
          everything.filter((tx) => tx.createdAt >= middle.createdAt).map((tx) => tx.id),
        );
        const to = await allTransactions(t, admin, `&to=${middle.createdAt}`);
        assert.deepEqual(
          to.map((tx) => tx.id),
          everything.filter((tx) => tx.createdAt < middle.createdAt).map((tx) => tx.id),
        );
        assert.ok(from.length > 0 && to.length > 0);
        assert.equal(from.length + to.length, everything.length);
        // Another offset means the same instant.
        const instant = new Date(middle.createdAt);
        const offset = new Date(instant.getTime() + 2 * 3600_000)
          .toISOString()
          .replace('Z', '+02:00');
        const same = await allTransactions(t, admin, `&from=${encodeURIComponent(offset)}`);
        assert.deepEqual(
          same.map((tx) => tx.id),
          from.map((tx) => tx.id),
        );
        const none = await allTransactions(t, admin, '&from=2999-01-01T00:00:00Z');
        assert.deepEqual(none, []);
      });

      it('an unknown account filter matches nothing', async () => {
        const rows = await allTransactions(t, admin, `&account=${unusedAccountNumber()}`);
        assert.deepEqual(rows, []);
      });

      const invalid: Array<[string, string]> = [
        ['minAmount=1e3', 'minAmount'],
        ['minAmount=-5', 'minAmount'],
        ['minAmount=0', 'minAmount'],
        ['maxAmount=1.234', 'maxAmount'],
        ['maxAmount=abc', 'maxAmount'],
        ['minAmount=10.00&maxAmount=5.00', 'maxAmount'],
        ['currency=usd', 'currency'],
        ['currency=XXX&minAmount=1', 'currency'],
        ['type=refund', 'type'],
        ['from=yesterday', 'from'],
        ['to=2024-13-01T00:00:00Z', 'to'],
        ['from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z', 'to'],
        ['account=123456789000', 'account'],
        ['cursor=bm90LWEtY3Vyc29y', 'cursor'],
        ['limit=500', 'limit'],
      ];
      for (const [query, field] of invalid) {
        it(`${query} answers 400 naming ${field}`, async () => {
          const response = await t.request('GET', `/api/v1/admin/transactions?${query}`, {
            token: admin.token,
          });
          assert.equal(response.status, 400, JSON.stringify(response.body));
          assert.equal(response.body.code, 'VALIDATION_FAILED');
          assert.match(String(response.body.field), new RegExp(field));
        });
      }
    });

    describe('MFA on staff actions', () => {
      let mfaAdmin: TestUser;
      let secret: string;

      before(async () => {
        mfaAdmin = await t.staffWithoutMfa('admin');
        secret = await enrolMfa(t, mfaAdmin);
      });

      it('freeze without a code answers MFA_REQUIRED, a wrong code INVALID_OTP; nothing changes', async () => {
        const henry = await t.fundedCustomer('10.00');
        const missing = await t.request('POST', `/api/v1/admin/accounts/${henry.account}/freeze`, {
          token: mfaAdmin.token,
        });
        assert.equal(missing.status, 401, JSON.stringify(missing.body));
        assert.equal(missing.body.code, 'MFA_REQUIRED');
        const wrongCode = totpCode(secret, 1) === '000000' ? '111111' : '000000';
        const wrong = await t.request('POST', `/api/v1/admin/accounts/${henry.account}/freeze`, {
          token: mfaAdmin.token,
          body: { otp: wrongCode },
        });
        assert.equal(wrong.status, 401);
        assert.equal(wrong.body.code, 'INVALID_OTP');
        assert.equal(await accountStatus(t, admin, henry.account), 'active');
        const events = await allAuditEvents(t, admin, `&target=account:${henry.account}`);
        assert.deepEqual(
          events.map((event) => [event.action, event.outcome, event.details?.code]),
          [
            ['account.frozen', 'denied', 'INVALID_OTP'],
            ['account.frozen', 'denied', 'MFA_REQUIRED'],
          ],
        );

        const right = await t.request<{ status: string }>(
          'POST',
          `/api/v1/admin/accounts/${henry.account}/freeze`,
          { token: mfaAdmin.token, body: { otp: totpCode(secret, 1) } },
        );
        assert.equal(right.status, 200, JSON.stringify(right.body));
        assert.equal(right.body.status, 'frozen');
      });

      it('unlock without a code is refused and the user stays locked', async () => {
        const ivy = await t.fundedCustomer('10.00');
        await lockByWrongPins(t, ivy.user, ivy.account);
        const response = await t.request('POST', `/api/v1/admin/users/${ivy.user.id}/unlock`, {
          token: mfaAdmin.token,
          body: {},
        });
        assert.equal(response.status, 401);
        assert.equal(response.body.code, 'MFA_REQUIRED');
        assert.notEqual((await userRow(t, ivy.user.id)).locked_at, null);
        // With a current code the unlock goes through.
        const plain = await t.request<AdminUser>(
          'POST',
          `/api/v1/admin/users/${ivy.user.id}/unlock`,
          { token: admin.token, body: { otp: await t.staffOtp(admin) } },
        );
        assert.equal(plain.status, 200);
        assert.equal(plain.body.locked, false);
      });
    });

    it('the audit chain is intact after everything above', async () => {
      const result = await verifyAudit(t.runtime.database.db);
      assert.ok(result.ok, result.ok ? '' : result.problem);
    });
  });
}
