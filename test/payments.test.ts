import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type SandboxNetwork, startSandboxNetwork } from '../src/clearing-house/sandbox.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import { signWebhook, webhookKeyOf } from '../src/payments/network-webhooks.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { freePort } from './support/process.ts';

/**
 * Outbound payments against the payment network's sandbox (the real clearing-house code,
 * in process, over HTTP): hold at once, submitted by the dispatcher, settled by the
 * network's signed webhook (hold captured to the clearing account) or rejected (voided).
 */

const TIMEOUT = { timeout: 180_000 };

interface Payment {
  id: string;
  status: string;
  amount: string;
  holdId: string;
  transactionId: string | null;
  statusHistory: Array<{ status: string; at: string; reason?: string }>;
  code?: string;
  field?: string;
}

for (const engine of ENGINES) {
  describe(`payments to other banks [${engine}]`, () => {
    let t: TestApp;
    let sandbox: SandboxNetwork;

    before(async () => {
      const port = await freePort();
      sandbox = await startSandboxNetwork({
        bankCode: 'CORBUS33',
        webhookUrl: `http://127.0.0.1:${port}/api/v1/network/events`,
      });
      t = await createTestApp(engine, {
        BANK_CODE: 'CORBUS33',
        PAYMENT_NETWORK_URL: sandbox.url,
        PAYMENT_NETWORK_CLIENT_ID: sandbox.clientId,
        PAYMENT_NETWORK_CLIENT_SECRET: sandbox.clientSecret,
        PAYMENT_NETWORK_WEBHOOK_SECRET: sandbox.webhookSecret,
        PAYMENT_DISPATCH_INTERVAL_MS: '50',
      });
      await t.app.listen({ host: '127.0.0.1', port });
    });
    after(async () => {
      await t.close();
      await sandbox.close();
    });

    function pay(
      user: TestUser,
      account: string,
      body: Record<string, unknown>,
      headers: Record<string, string> = {},
    ) {
      return t.request<Payment>('POST', `/api/v1/accounts/${account}/payments`, {
        token: user.token,
        body: {
          amount: '25.00',
          pin: DEFAULT_PIN,
          beneficiary: {
            name: 'Bob Other',
            bankCode: sandbox.sandboxBankCode,
            accountNumber: 'GB000123456',
          },
          reference: 'Invoice 42',
          ...body,
        },
        headers,
      });
    }
    async function until(user: TestUser, id: string, status: string): Promise<Payment> {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const got = await t.request<Payment>('GET', `/api/v1/payments/${id}`, {
          token: user.token,
        });
        assert.equal(got.status, 200);
        if (got.body.status === status) return got.body;
        if (Date.now() > deadline)
          assert.fail(`payment ${id} is ${got.body.status}, not ${status}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    async function available(user: TestUser, account: string): Promise<string> {
      const got = await t.request<{ availableBalance: string }>(
        'GET',
        `/api/v1/accounts/${account}`,
        {
          token: user.token,
        },
      );
      return got.body.availableBalance;
    }
    async function clearing(): Promise<bigint> {
      const row = await t.runtime.database.db
        .selectFrom('accounts')
        .select(['balance_minor'])
        .where('account_number', '=', 'CLEARING-USD')
        .executeTakeFirst();
      return row?.balance_minor ?? 0n;
    }

    it(
      'a payment is held at once, submitted and settled to the clearing account',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const before = await clearing();
        const started = Date.now();
        const made = await pay(user, account, {});
        assert.equal(made.status, 202, JSON.stringify(made.body));
        assert.equal(made.body.status, 'pending');
        assert.equal(made.body.amount, '25.00');
        const settled = await until(user, made.body.id, 'settled');
        const took = Date.now() - started;
        assert.deepEqual(
          settled.statusHistory.map((s) => s.status).filter((s) => s !== 'submitted'),
          ['pending', 'settled'],
        );
        assert.ok(settled.transactionId !== null);
        assert.equal(await t.balance(user, account), '75.00');
        assert.equal(await available(user, account), '75.00');
        assert.equal((await clearing()) - before, 2500n);
        const hold = await t.request<{ status: string; capturedAmount: string }>(
          'GET',
          `/api/v1/holds/${made.body.holdId}`,
          { token: user.token },
        );
        assert.equal(hold.body.status, 'captured');
        assert.equal(hold.body.capturedAmount, '25.00');
        const listed = await t.request<{ data: Payment[] }>(
          'GET',
          `/api/v1/accounts/${account}/payments`,
          {
            token: user.token,
          },
        );
        assert.deepEqual(
          listed.body.data.map((p) => p.id),
          [made.body.id],
        );
        const result = await verifyLedger(t.runtime.database.db);
        assert.ok(result.ok, result.ok ? '' : result.problem);
        t.app.log.info({ took }, 'payment settled');
      },
    );

    it('a payment to an unknown bank is rejected and its hold released', TIMEOUT, async () => {
      const { user, account } = await t.fundedCustomer('100.00');
      const made = await pay(user, account, {
        beneficiary: { name: 'Nobody', bankCode: 'ZZZZUS33', accountNumber: 'X1234' },
      });
      assert.equal(made.status, 202);
      assert.equal(await available(user, account), '75.00');
      const rejected = await until(user, made.body.id, 'rejected');
      assert.equal(rejected.statusHistory.at(-1)?.reason, 'unknown_bank');
      assert.equal(await available(user, account), '100.00');
      assert.equal(await t.balance(user, account), '100.00');
    });

    it(
      'is idempotent, checks funds, PIN and input, and hides other customers',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('30.00');
        const headers = { 'idempotency-key': `pay-${account}` };
        const [a, b] = await Promise.all([
          pay(user, account, {}, headers),
          pay(user, account, {}, headers),
        ]);
        assert.equal(a.status, 202);
        assert.equal(b.status, 202);
        assert.equal(a.body.id, b.body.id);
        assert.equal(await available(user, account), '5.00');
        const short = await pay(user, account, { amount: '5.01' });
        assert.equal(short.status, 422);
        assert.equal(short.body.code, 'INSUFFICIENT_FUNDS');
        const wrongPin = await pay(user, account, { amount: '1.00', pin: '1357' });
        assert.equal(wrongPin.body.code, 'INVALID_PIN');
        for (const [body, field] of [
          [{ amount: '-1.00' }, 'amount'],
          [{ beneficiary: { name: 'B', bankCode: 'bad', accountNumber: 'X1234' } }, 'beneficiary'],
          [
            { beneficiary: { name: 'B', bankCode: 'CORBUS33', accountNumber: 'X1234' } },
            'beneficiary',
          ],
          [{ pin: undefined }, 'pin'],
        ] as const) {
          const bad = await pay(user, account, body);
          assert.equal(bad.status, 400, JSON.stringify(body));
          assert.match(String(bad.body.field), new RegExp(field));
        }
        const other = await t.fundedCustomer('10.00');
        const foreign = await t.request<Payment>('GET', `/api/v1/payments/${a.body.id}`, {
          token: other.user.token,
        });
        assert.equal(foreign.status, 404);
        const foreignPay = await pay(other.user, account, { amount: '1.00' });
        assert.equal(foreignPay.status, 404);
        await until(user, a.body.id, 'settled');
      },
    );

    it(
      'reconciliation matches the ledger with the network and finds an injected mismatch',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const made = await pay(user, account, { amount: '11.00' });
        await until(user, made.body.id, 'settled');
        const admin = await t.staff('admin');
        const date = new Date().toISOString().slice(0, 10);
        const url = `/api/v1/admin/reconciliation?date=${date}`;
        const clean = await t.request<{
          matched: number;
          missingInLedger: unknown[];
          missingInNetwork: unknown[];
          amountMismatches: Array<{ paymentId: string; amount: string; networkAmount: string }>;
        }>('GET', url, { token: admin.token });
        assert.equal(clean.status, 200, JSON.stringify(clean.body));
        assert.ok(clean.body.matched >= 1);
        assert.deepEqual(clean.body.amountMismatches, []);
        assert.deepEqual(clean.body.missingInLedger, []);
        assert.deepEqual(clean.body.missingInNetwork, []);
        // Inject a mismatch: the ledger's record of one payment says another amount.
        await t.runtime.database.db
          .updateTable('payments')
          .set({ amount_minor: 1200n })
          .where('id', '=', made.body.id)
          .execute();
        const dirty = await t.request<typeof clean.body>('GET', url, { token: admin.token });
        assert.deepEqual(
          dirty.body.amountMismatches.map((m) => [m.paymentId, m.amount, m.networkAmount]),
          [[made.body.id, '12.00', '11.00']],
        );
        assert.equal(dirty.body.matched, clean.body.matched - 1);
        const customer = await t.request('GET', url, { token: user.token });
        assert.equal(customer.status, 403);
        await t.runtime.database.db
          .updateTable('payments')
          .set({ amount_minor: 1100n })
          .where('id', '=', made.body.id)
          .execute();
      },
    );

    it(
      'forged, stale and replayed events are refused with 401 and change nothing',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('50.00');
        const url = '/api/v1/network/events';
        const made = await pay(user, account, {
          beneficiary: { name: 'N', bankCode: 'ZZZZUS33', accountNumber: 'X1234' },
        });
        const body = JSON.stringify({
          type: 'payment.settled',
          timestamp: new Date().toISOString(),
          data: { instructionId: made.body.id, status: 'settled' },
        });
        const send = (headers: Record<string, string>) =>
          t.request('POST', url, {
            rawBody: body,
            headers: { 'content-type': 'application/json', ...headers },
          });
        const unsigned = await send({});
        assert.equal(unsigned.status, 401);
        const now = Math.floor(Date.now() / 1000);
        const forgedKey = webhookKeyOf(`whsec_${Buffer.alloc(32, 7).toString('base64')}`);
        const forged = await send({
          'webhook-id': 'evt_forged',
          'webhook-timestamp': String(now),
          'webhook-signature': signWebhook(forgedKey, 'evt_forged', now, body),
        });
        assert.equal(forged.status, 401);
        const key = webhookKeyOf(sandbox.webhookSecret);
        const stale = await send({
          'webhook-id': 'evt_stale',
          'webhook-timestamp': String(now - 600),
          'webhook-signature': signWebhook(key, 'evt_stale', now - 600, body),
        });
        assert.equal(stale.status, 401);
        // A correctly signed event is taken once; the same delivery again is a replay.
        const other = JSON.stringify({
          type: 'payment.rejected',
          timestamp: new Date().toISOString(),
          data: {
            id: 'pmt_unknown',
            instructionId: 'not-one-of-ours',
            amount: '1.00',
            currency: 'USD',
            status: 'rejected',
            debtor: {},
            creditor: {},
          },
        });
        const signed = {
          'content-type': 'application/json',
          'webhook-id': `evt_replay_${made.body.id}`,
          'webhook-timestamp': String(now),
          'webhook-signature': signWebhook(key, `evt_replay_${made.body.id}`, now, other),
        };
        const first = await t.request('POST', url, { rawBody: other, headers: signed });
        assert.equal(first.status, 200, JSON.stringify(first.body));
        const replayed = await t.request('POST', url, { rawBody: other, headers: signed });
        assert.equal(replayed.status, 401);
        const rejected = await until(user, made.body.id, 'rejected');
        assert.equal(rejected.status, 'rejected');
        assert.equal(await t.balance(user, account), '50.00');
      },
    );
  });
}
