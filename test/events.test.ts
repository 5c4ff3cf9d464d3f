import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConsumerLease } from '../src/events/consumer-lease.ts';
import { appendEvent, lastSequence } from '../src/events/outbox.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import { assertProblem } from './support/auth-helpers.ts';
import { allEvents, assertGapFree } from './support/events.ts';
import { createTestApp, ENGINES, type TestApp, type TestUser } from './support/harness.ts';
import { lockByWrongPins } from './support/staff.ts';

/**
 * The transactional outbox: every change the contract lists writes its CloudEvents event in
 * the same transaction (a refused or rolled-back change writes none), sequence numbers are
 * gap-free under parallel load, and staff replay events through GET /api/v1/events.
 */
for (const engine of ENGINES) {
  describe(`events outbox [${engine}]`, () => {
    let t: TestApp;
    let admin: TestUser;
    let auditor: TestUser;

    before(async () => {
      t = await createTestApp(engine);
      admin = await t.staff('admin');
      auditor = await t.staff('auditor');
    });
    after(async () => {
      await t.close();
    });

    it('writes an event for every current contract type, with its change', async () => {
      const start = Number(await lastSequence(t.runtime.database.db));
      const alice = await t.customer();
      const bob = await t.customer();
      const a = await t.openAccount(alice);
      const b = await t.openAccount(bob);
      assert.equal((await t.deposit(alice, a.accountNumber, '100.00')).status, 201);
      const transfer = await t.transfer(alice, a.accountNumber, b.accountNumber, '25.50', {
        description: 'rent',
      });
      assert.equal(transfer.status, 201, JSON.stringify(transfer.body));
      await lockByWrongPins(t, bob, b.accountNumber);
      const unlock = await t.request('POST', `/api/v1/admin/users/${bob.id}/unlock`, {
        token: admin.token,
        body: { otp: await t.staffOtp(admin) },
      });
      assert.equal(unlock.status, 200, JSON.stringify(unlock.body));
      for (const verb of ['freeze', 'unfreeze']) {
        const response = await t.request(
          'POST',
          `/api/v1/admin/accounts/${a.accountNumber}/${verb}`,
          {
            token: admin.token,
            body: { reason: 'test', otp: await t.staffOtp(admin) },
          },
        );
        assert.equal(response.status, 200, JSON.stringify(response.body));
      }

      const events = await allEvents(t, auditor, start);
      assert.deepEqual(
        events.map((e) => e.type),
        [
          'account.opened',
          'account.opened',
          'transaction.posted',
          'transaction.posted',
          'user.locked',
          'user.unlocked',
          'account.frozen',
          'account.unfrozen',
        ],
      );
      assertGapFree(
        events.map((e) => e.sequence),
        start + 1,
      );
      for (const event of events) {
        assert.equal(event.specversion, '1.0');
        assert.equal(event.source, '/corebank');
        assert.match(event.id, /^[0-9a-f-]{36}$/);
        assert.ok(!Number.isNaN(Date.parse(event.time)));
      }
      const [openedA, openedB, deposit, posted, locked, unlocked, frozen, unfrozen] = events;
      assert.equal(openedA?.data.accountNumber, a.accountNumber);
      assert.equal(openedA?.data.userId, alice.id);
      assert.equal(openedB?.data.accountNumber, b.accountNumber);
      assert.equal(deposit?.data.kind, 'deposit');
      assert.equal(deposit?.data.amount, '100.00');
      assert.equal(posted?.data.kind, 'transfer');
      assert.equal(posted?.data.transactionId, (transfer.body as { id: string }).id);
      assert.equal(posted?.data.accountNumber, a.accountNumber);
      assert.equal(posted?.data.counterpartyAccount, b.accountNumber);
      assert.equal(posted?.data.amount, '25.50');
      assert.equal(posted?.data.description, 'rent');
      assert.deepEqual(
        ((posted?.data.postings ?? []) as Array<Record<string, unknown>>).map((p) => [
          p.accountNumber,
          p.direction,
          p.balanceAfter,
        ]),
        [
          [a.accountNumber, 'debit', '74.50'],
          [b.accountNumber, 'credit', '25.50'],
        ],
      );
      assert.equal(locked?.data.userId, bob.id);
      assert.equal(unlocked?.data.userId, bob.id);
      assert.equal(unlocked?.data.unlockedBy, admin.id);
      assert.equal(frozen?.data.accountNumber, a.accountNumber);
      assert.equal(frozen?.data.reason, 'test');
      assert.equal(unfrozen?.data.accountNumber, a.accountNumber);
    });

    it('writes no event for a refused or rolled-back change', async () => {
      const { user, account } = await t.fundedCustomer('10.00');
      const other = await t.customer();
      const before = Number(await lastSequence(t.runtime.database.db));
      const refusals = [
        await t.withdraw(user, account, '10.01'),
        await t.transfer(user, account, account, '1.00'),
        await t.deposit(other, account, '1.00'),
        await t.request('POST', '/api/v1/admin/accounts/000000000000/freeze', {
          token: admin.token,
          body: { otp: await t.staffOtp(admin) },
        }),
      ];
      for (const refused of refusals)
        assert.ok(refused.status >= 400, JSON.stringify(refused.body));
      // Unlocking a user who is not locked and unfreezing an active account change nothing.
      const unlock = await t.request('POST', `/api/v1/admin/users/${other.id}/unlock`, {
        token: admin.token,
        body: { otp: await t.staffOtp(admin) },
      });
      assert.equal(unlock.status, 200);
      const unfreeze = await t.request('POST', `/api/v1/admin/accounts/${account}/unfreeze`, {
        token: admin.token,
        body: { otp: await t.staffOtp(admin) },
      });
      assert.equal(unfreeze.status, 200);
      // A transaction that writes an event and then fails leaves nothing, not even a hole.
      await assert.rejects(
        t.runtime.database.db.transaction().execute(async (trx) => {
          await appendEvent(trx, { type: 'account.frozen', data: { accountNumber: account } });
          throw new Error('the change failed after its event was written');
        }),
        /the change failed/,
      );
      assert.equal(Number(await lastSequence(t.runtime.database.db)), before);
      assert.deepEqual(await allEvents(t, auditor, before), []);
      assert.equal((await t.deposit(user, account, '1.00')).status, 201);
      const next = await allEvents(t, auditor, before);
      assert.deepEqual(
        next.map((e) => [e.sequence, e.type]),
        [[before + 1, 'transaction.posted']],
      );
    });

    it('keeps the sequence gap-free under parallel load', async () => {
      const before = Number(await lastSequence(t.runtime.database.db));
      const customers = await Promise.all(
        Array.from({ length: 6 }, () => t.fundedCustomer('500.00')),
      );
      const afterSetup = Number(await lastSequence(t.runtime.database.db));
      // 6 customers × (account.opened + deposit).
      assert.equal(afterSetup - before, 12);
      const requests: Array<Promise<{ status: number }>> = [];
      for (let round = 0; round < 20; round++) {
        customers.forEach((from, i) => {
          const to = customers[(i + 1) % customers.length];
          if (to === undefined) return;
          requests.push(
            round % 2 === 0
              ? t.transfer(from.user, from.account, to.account, '3.00')
              : t.deposit(from.user, from.account, '1.00'),
          );
        });
        // Accounts open beside the money traffic, through their own transactions.
        if (round % 5 === 0)
          requests.push(
            t.openAccount(customers[0]?.user as TestUser).then(() => ({ status: 201 })),
          );
      }
      const results = await Promise.all(requests);
      const succeeded = results.filter((r) => r.status === 201).length;
      const events = await allEvents(t, auditor, before);
      assertGapFree(
        events.map((e) => e.sequence),
        before + 1,
      );
      assert.equal(events.length, 12 + succeeded);
      assert.equal(new Set(events.map((e) => e.id)).size, events.length);
      const verify = await verifyLedger(t.runtime.database.db);
      assert.equal(verify.ok, true, verify.ok ? '' : verify.problem);
    });

    it('gives a consumer lease to one process at a time, and only its holder moves the position', async () => {
      const db = t.runtime.database.db;
      const first = new ConsumerLease(db, 'lease-test', 1000);
      const second = new ConsumerLease(db, 'lease-test', 1000);
      const now = Date.now();
      assert.equal(await first.acquire(new Date(now)), true);
      assert.equal(await second.acquire(new Date(now + 10)), false, 'held by the first');
      assert.equal(await first.acquire(new Date(now + 500)), true, 'the holder renews');
      assert.equal(await second.acquire(new Date(now + 1400)), false, 'renewed lease still runs');
      assert.equal(await first.advance(5n), true);
      // The first stops renewing; once its lease lapses the second takes over.
      assert.equal(await second.acquire(new Date(now + 1600)), true);
      assert.equal(await first.advance(9n), false, 'a former holder cannot move the position');
      assert.equal(await second.advance(4n), false, 'the position never goes back');
      assert.equal(await second.advance(6n), true);
      assert.equal(await second.position(), 6n);
      await second.release();
      assert.equal(await first.acquire(new Date(now + 1700)), true, 'released: free at once');
    });

    it('lets staff and auditors page through events, and nobody else', async () => {
      const customer = await t.customer();
      const teller = await t.staff('teller');
      assertProblem(await t.request('GET', '/api/v1/events'), 401, 'UNAUTHENTICATED');
      assertProblem(
        await t.request('GET', '/api/v1/events', { token: customer.token }),
        403,
        'FORBIDDEN',
      );
      for (const bad of ['after=-1', 'after=abc', 'limit=0', 'limit=101', 'after=1e3']) {
        assertProblem(
          await t.request('GET', `/api/v1/events?${bad}`, { token: auditor.token }),
          400,
          'VALIDATION_FAILED',
        );
      }
      for (const reader of [auditor, admin, teller]) {
        const first = await t.request<{ data: Array<{ sequence: number }>; nextCursor: string }>(
          'GET',
          '/api/v1/events?limit=2',
          { token: reader.token },
        );
        assert.equal(first.status, 200);
        assert.deepEqual(
          first.body.data.map((e) => e.sequence),
          [1, 2],
        );
        assert.equal(first.body.nextCursor, '2');
        const second = await t.request<{ data: Array<{ sequence: number }> }>(
          'GET',
          `/api/v1/events?limit=2&after=${first.body.nextCursor}`,
          { token: reader.token },
        );
        assert.deepEqual(
          second.body.data.map((e) => e.sequence),
          [3, 4],
        );
      }
      const last = Number(await lastSequence(t.runtime.database.db));
      const tail = await t.request<{ data: unknown[]; nextCursor: string | null }>(
        'GET',
        `/api/v1/events?after=${last}`,
        { token: auditor.token },
      );
      assert.deepEqual(tail.body, { data: [], nextCursor: null });
    });
  });
}
