import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type SandboxNetwork, startSandboxNetwork } from '../src/clearing-house/sandbox.ts';
import { ConsumerLease } from '../src/events/consumer-lease.ts';
import { appendEvent, EVENT_TYPES, lastSequence } from '../src/events/outbox.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import { signWebhook, webhookKeyOf } from '../src/payments/network-webhooks.ts';
import { assertProblem } from './support/auth-helpers.ts';
import { allEvents, assertGapFree, type EventRow } from './support/events.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { freePort } from './support/process.ts';
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

/**
 * Holds, payments and approvals write their events with their changes: through the ledger
 * batch (holds, payments), the dispatcher (submitted), the hold sweeper (expired) and the
 * approvals service (requested, decided). The payment network is the sandbox, over HTTP;
 * what the other bank sends (a payment received, a payment returned) arrives as signed
 * network events at our real webhook route.
 */
for (const engine of ENGINES) {
  describe(`events of holds, payments and approvals [${engine}]`, () => {
    const TIMEOUT = { timeout: 180_000 };
    let t: TestApp;
    let sandbox: SandboxNetwork;
    let sandboxOpen = false;
    let admin: TestUser;
    let admin2: TestUser;
    let teller: TestUser;
    let auditor: TestUser;

    before(async () => {
      const port = await freePort();
      sandbox = await startSandboxNetwork({
        bankCode: 'CORBUS33',
        webhookUrl: `http://127.0.0.1:${port}/api/v1/network/events`,
      });
      sandboxOpen = true;
      t = await createTestApp(engine, {
        BANK_CODE: 'CORBUS33',
        PAYMENT_NETWORK_URL: sandbox.url,
        PAYMENT_NETWORK_CLIENT_ID: sandbox.clientId,
        PAYMENT_NETWORK_CLIENT_SECRET: sandbox.clientSecret,
        PAYMENT_NETWORK_WEBHOOK_SECRET: sandbox.webhookSecret,
        PAYMENT_DISPATCH_INTERVAL_MS: '50',
        HOLD_SWEEP_INTERVAL_MS: '60000',
        DUAL_CONTROL_THRESHOLD: 'USD=1000.00',
      });
      await t.app.listen({ host: '127.0.0.1', port });
      admin = await t.staff('admin');
      admin2 = await t.staff('admin');
      teller = await t.staff('teller');
      auditor = await t.staff('auditor');
    });
    after(async () => {
      await t.close();
      if (sandboxOpen) await sandbox.close();
    });

    /** The events about one thing (a hold, a payment, an approval), oldest first. */
    function about(events: readonly EventRow[], key: string, id: string): EventRow[] {
      const area = `${key.replace(/Id$/, '')}.`;
      return events.filter((e) => e.type.startsWith(area) && e.data[key] === id);
    }

    async function paymentIs(user: TestUser, id: string, status: string): Promise<void> {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const got = await t.request<{ status: string }>('GET', `/api/v1/payments/${id}`, {
          token: user.token,
        });
        if (got.body.status === status) return;
        if (Date.now() > deadline)
          assert.fail(`payment ${id} is ${got.body.status}, not ${status}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    function pay(user: TestUser, account: string, amount: string, bankCode: string) {
      return t.request<{ id: string; holdId: string; code?: string }>(
        'POST',
        `/api/v1/accounts/${account}/payments`,
        {
          token: user.token,
          body: {
            amount,
            pin: DEFAULT_PIN,
            beneficiary: { name: 'Bob Other', bankCode, accountNumber: 'GB000123456' },
            reference: 'Invoice 42',
          },
        },
      );
    }

    /** Delivers a network event as the network does: signed, to our webhook route. */
    async function networkEvent(type: string, data: Record<string, unknown>) {
      const body = JSON.stringify({ type, timestamp: new Date().toISOString(), data });
      const id = `evt_${crypto.randomUUID()}`;
      const now = Math.floor(Date.now() / 1000);
      const key = webhookKeyOf(sandbox.webhookSecret);
      return t.request('POST', '/api/v1/network/events', {
        rawBody: body,
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(now),
          'webhook-signature': signWebhook(key, id, now, body),
        },
      });
    }

    function inbound(account: string, networkId: string) {
      return {
        id: networkId,
        instructionId: `their-${networkId}`,
        amount: '7.00',
        currency: 'USD',
        status: 'settled',
        debtor: { name: 'Carol Far', bankCode: sandbox.sandboxBankCode, accountNumber: 'X9' },
        creditor: { name: 'Alice', bankCode: 'CORBUS33', accountNumber: account },
        reference: 'gift',
        rejectionReason: null,
        returnReason: null,
      };
    }

    async function decide(by: TestUser, id: string, verb: 'approve' | 'reject') {
      return t.request<{ id: string; status: string; code?: string }>(
        'POST',
        `/api/v1/admin/approvals/${id}/${verb}`,
        {
          token: by.token,
          body: {
            otp: await t.staffOtp(by),
            ...(verb === 'reject' ? { reason: 'not so' } : {}),
          },
        },
      );
    }

    it('writes an event of every contract type, each with its change', TIMEOUT, async () => {
      const start = Number(await lastSequence(t.runtime.database.db));
      const { user, account } = await t.fundedCustomer('500.00');
      const db = t.runtime.database.db;

      // Holds: placed, captured; placed, voided; placed, expired (recorded by the sweeper).
      const hold = (amount: string) =>
        t.request<{ id: string }>('POST', `/api/v1/accounts/${account}/holds`, {
          token: teller.token,
          body: { amount, expiresInSeconds: 60 },
        });
      const captured = await hold('10.00');
      const voided = await hold('11.00');
      const expiring = await hold('12.00');
      for (const placed of [captured, voided, expiring]) assert.equal(placed.status, 201);
      const capture = await t.request<{ id: string }>(
        'POST',
        `/api/v1/holds/${captured.body.id}/capture`,
        { token: teller.token, body: {} },
      );
      assert.equal(capture.status, 201, JSON.stringify(capture.body));
      const voiding = await t.request('POST', `/api/v1/holds/${voided.body.id}/void`, {
        token: teller.token,
      });
      assert.equal(voiding.status, 200);
      assert.equal(await t.app.holdSweeper.sweep(new Date(Date.now() + 61_000)), 1);

      // Payments: settled then returned; rejected by the network; received; failed.
      const settled = await pay(user, account, '25.00', sandbox.sandboxBankCode);
      const rejected = await pay(user, account, '26.00', 'ZZZZUS33');
      assert.equal(settled.status, 202, JSON.stringify(settled.body));
      assert.equal(rejected.status, 202);
      await paymentIs(user, settled.body.id, 'settled');
      await paymentIs(user, rejected.body.id, 'rejected');
      const returned = await networkEvent('payment.returned', {
        ...inbound(account, `ret-${settled.body.id}`),
        instructionId: settled.body.id,
        status: 'returned',
        returnReason: 'account closed',
      });
      assert.equal(returned.status, 200, JSON.stringify(returned.body));
      await paymentIs(user, settled.body.id, 'returned');
      const received = await networkEvent('payment.received', inbound(account, 'in-1'));
      assert.equal(received.status, 200, JSON.stringify(received.body));

      // Approvals: a large staff deposit, approved; a reversal, rejected.
      const large = await t.deposit(teller, account, '5000.00');
      assert.equal(large.status, 202, JSON.stringify(large.body));
      const largeId = String(large.body.id);
      assert.equal((await decide(admin, largeId, 'approve')).status, 200);
      const reversal = await t.request<{ id: string }>(
        'POST',
        `/api/v1/admin/transactions/${capture.body.id}/reversal`,
        { token: admin.token, body: { reason: 'posted in error', otp: await t.staffOtp(admin) } },
      );
      assert.equal(reversal.status, 202, JSON.stringify(reversal.body));
      assert.equal((await decide(admin2, reversal.body.id, 'reject')).status, 200);

      // Last, the network goes away: the dispatcher gives the payment up (failed).
      await sandbox.close();
      sandboxOpen = false;
      const failed = await pay(user, account, '27.00', sandbox.sandboxBankCode);
      assert.equal(failed.status, 202);
      await t.app.paymentDispatcher?.runOnce(new Date(Date.now() + 30 * 86_400_000));
      await paymentIs(user, failed.body.id, 'failed');

      const events = await allEvents(t, auditor, start);
      assertGapFree(
        events.map((e) => e.sequence),
        start + 1,
      );
      const types = new Set(events.map((e) => e.type));
      // Accounts and users are the first suite's; with them, every contract type is covered.
      assert.deepEqual(
        EVENT_TYPES.filter((type) => /^(hold|payment|approval)\./.test(type) && !types.has(type)),
        [],
        'every hold, payment and approval type was written',
      );

      // Each hold's events, in order, with what changed.
      const typesOf = (list: EventRow[]) => list.map((e) => e.type);
      assert.deepEqual(typesOf(about(events, 'holdId', captured.body.id)), [
        'hold.created',
        'hold.captured',
      ]);
      const [capturedEvent] = about(events, 'holdId', captured.body.id).slice(-1);
      assert.equal(capturedEvent?.data.transactionId, capture.body.id);
      assert.equal(capturedEvent?.data.capturedAmount, '10.00');
      assert.equal(capturedEvent?.data.actorUserId, teller.id);
      assert.deepEqual(typesOf(about(events, 'holdId', voided.body.id)), [
        'hold.created',
        'hold.voided',
      ]);
      const expiredEvents = about(events, 'holdId', expiring.body.id);
      assert.deepEqual(typesOf(expiredEvents), ['hold.created', 'hold.expired']);
      assert.equal(expiredEvents[1]?.data.status, 'expired');
      assert.equal(expiredEvents[1]?.data.amount, '12.00');
      assert.equal(expiredEvents[1]?.data.accountNumber, account);
      const expiredRow = await db
        .selectFrom('holds')
        .select('status')
        .where('id', '=', expiring.body.id)
        .executeTakeFirstOrThrow();
      assert.equal(expiredRow.status, 'expired');

      // Each payment's events follow its status history exactly.
      for (const [payment, statuses] of [
        [settled.body, ['pending', 'submitted', 'settled', 'returned']],
        [rejected.body, ['pending', 'submitted', 'rejected']],
        [failed.body, ['pending', 'failed']],
      ] as const) {
        const own = about(events, 'paymentId', payment.id);
        assert.deepEqual(
          own.map((e) => e.data.status),
          statuses,
          `payment ${payment.id}`,
        );
        const row = await db
          .selectFrom('payments')
          .select(['status', 'status_history'])
          .where('id', '=', payment.id)
          .executeTakeFirstOrThrow();
        assert.deepEqual(
          (JSON.parse(row.status_history) as Array<{ status: string }>).map((s) => s.status),
          statuses,
        );
        // Its hold's events name the payment.
        assert.deepEqual(typesOf(about(events, 'holdId', payment.holdId)), [
          'hold.created',
          (statuses as readonly string[]).includes('settled') ? 'hold.captured' : 'hold.voided',
        ]);
      }
      const settledEvent = about(events, 'paymentId', settled.body.id).find(
        (e) => e.type === 'payment.settled',
      );
      assert.ok(settledEvent?.data.transactionId !== null);
      const returnedEvent = about(events, 'paymentId', settled.body.id).at(-1);
      assert.equal(returnedEvent?.type, 'payment.returned');
      assert.equal(returnedEvent?.data.reason, 'account closed');
      const receivedEvents = events.filter((e) => e.type === 'payment.received');
      assert.equal(receivedEvents.length, 1);
      assert.equal(receivedEvents[0]?.data.direction, 'inbound');
      assert.equal(receivedEvents[0]?.data.amount, '7.00');
      assert.equal(receivedEvents[0]?.data.accountNumber, account);
      assert.equal(receivedEvents[0]?.data.status, 'credited');
      // The money moves of payments are posted transactions too.
      const postedKinds = events.filter((e) => e.type === 'transaction.posted').length;
      assert.ok(postedKinds >= 5, 'deposit, capture, settlement, return, receipt, approval');

      // Approvals: requested, then decided, with the decision and its transaction.
      assert.deepEqual(typesOf(about(events, 'approvalId', largeId)), [
        'approval.requested',
        'approval.decided',
      ]);
      const approved = about(events, 'approvalId', largeId)[1];
      assert.equal(approved?.data.status, 'approved');
      assert.equal(approved?.data.decidedBy, admin.id);
      assert.equal(approved?.data.requestedBy, teller.id);
      assert.match(String(approved?.data.transactionId), /^\d+$/);
      const refused = about(events, 'approvalId', reversal.body.id);
      assert.deepEqual(
        refused.map((e) => [e.type, e.data.status]),
        [
          ['approval.requested', 'pending'],
          ['approval.decided', 'rejected'],
        ],
      );
      assert.equal(refused[1]?.data.decisionReason, 'not so');
    });

    it('writes no event when a hold, payment or approval change fails', TIMEOUT, async () => {
      const { user, account } = await t.fundedCustomer('100.00');
      const bobUser = await t.customer();
      const bob = { user: bobUser, account: (await t.openAccount(bobUser)).accountNumber };
      const db = t.runtime.database.db;
      const placed = await t.request<{ id: string }>('POST', `/api/v1/accounts/${account}/holds`, {
        token: teller.token,
        body: { amount: '5.00', expiresInSeconds: 60 },
      });
      assert.equal(placed.status, 201);
      assert.equal(
        (await t.request('POST', `/api/v1/holds/${placed.body.id}/void`, { token: teller.token }))
          .status,
        200,
      );
      const moved = await t.transfer(user, account, bob.account, '50.00');
      assert.equal(moved.status, 201);
      assert.equal((await t.withdraw(bob.user, bob.account, '50.00')).status, 201);
      const reversal = await t.request<{ id: string }>(
        'POST',
        `/api/v1/admin/transactions/${String(moved.body.id)}/reversal`,
        { token: admin.token, body: { reason: 'posted in error', otp: await t.staffOtp(admin) } },
      );
      assert.equal(reversal.status, 202);
      const received = await networkEvent('payment.received', inbound(account, 'in-twice'));
      assert.equal(received.status, 200);

      const before = Number(await lastSequence(db));
      // A hold that is no longer pending cannot change again.
      const recapture = await t.request('POST', `/api/v1/holds/${placed.body.id}/capture`, {
        token: teller.token,
        body: {},
      });
      assert.equal(recapture.status, 409);
      // A payment beyond the available balance is refused: no hold, no payment.
      const short = await pay(user, account, '900.00', 'ZZZZUS33');
      assert.equal(short.status, 422, JSON.stringify(short.body));
      // The same network payment delivered again credits nothing.
      assert.equal(
        (await networkEvent('payment.received', inbound(account, 'in-twice'))).status,
        200,
      );
      // Approving the reversal writes the decision, then the ledger refuses (Bob spent the
      // money): the whole transaction rolls back, the decision and its event with it.
      const approval = await decide(admin2, reversal.body.id, 'approve');
      assert.equal(approval.status, 422, JSON.stringify(approval.body));
      const still = await db
        .selectFrom('approvals')
        .select('status')
        .where('id', '=', reversal.body.id)
        .executeTakeFirstOrThrow();
      assert.equal(still.status, 'pending');
      // An expiry already recorded is not recorded (nor announced) again.
      assert.equal(await t.app.holdSweeper.sweep(new Date(Date.now() + 61_000)), 0);

      assert.equal(Number(await lastSequence(db)), before);
      assert.deepEqual(await allEvents(t, auditor, before), []);
      // The refused approval can still be decided: its event is the next number.
      assert.equal((await decide(admin2, reversal.body.id, 'reject')).status, 200);
      assert.deepEqual(
        (await allEvents(t, auditor, before)).map((e) => [e.sequence, e.type, e.data.status]),
        [[before + 1, 'approval.decided', 'rejected']],
      );
    });
  });
}
