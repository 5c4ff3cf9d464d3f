import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NetworkPayment } from '../src/payments/network-protocol.ts';
import type { ReconciliationReport } from '../src/payments/reconciliation.ts';
import {
  type ClearingHouseProcess,
  memberOf,
  startClearingHouse,
} from './support/clearing-house.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { childEnv, freePort, ProcessGroup, type RunResult } from './support/process.ts';

/**
 * Reconciliation of one day against the payment network's settlement report, by the staff
 * endpoint and by the operator's `corebank reconcile` (one comparison behind both), with the
 * network a real clearing-house process: settled payments, a returned payment and its new
 * credit, an inbound credit and an inbound payment sent back all match; a changed settlement
 * amount and a return credit the ledger no longer has are found by both, and the command
 * exits non-zero.
 */

const BANK = 'RECOUS33';
const SANDBOX = 'SBOXUS33';
const TIMEOUT = { timeout: 240_000 };

interface Payment {
  id: string;
  status: string;
  transactionId: string | null;
}

function describeRun(result: RunResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

for (const engine of ENGINES) {
  describe(`reconciliation with the network's settlement report [${engine}]`, () => {
    const group = new ProcessGroup();
    let house: ClearingHouseProcess;
    let t: TestApp;
    let cliEnv: NodeJS.ProcessEnv;
    let customer: TestUser;
    let account = '';
    let settled: Payment;
    let returned: Payment;
    let inboundNetworkId = '';
    let sentBackNetworkId = '';
    const date = new Date().toISOString().slice(0, 10);

    async function until(id: string, status: string): Promise<Payment> {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const got = await t.request<Payment>('GET', `/api/v1/payments/${id}`, {
          token: customer.token,
        });
        assert.equal(got.status, 200);
        if (got.body.status === status) return got.body;
        if (Date.now() > deadline)
          assert.fail(`payment ${id} is ${got.body.status}, not ${status}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    async function byEndpoint(): Promise<ReconciliationReport> {
      const admin = await t.staff('auditor');
      const got = await t.request<ReconciliationReport>(
        'GET',
        `/api/v1/admin/reconciliation?date=${date}`,
        { token: admin.token },
      );
      assert.equal(got.status, 200, JSON.stringify(got.body));
      return got.body;
    }

    const reconcileCli = (args: string[] = ['--date', date]) =>
      group.runCli(['reconcile', ...args], { env: cliEnv, timeoutMs: 60_000 });

    before(async () => {
      const port = await freePort();
      const member = memberOf(BANK, `http://127.0.0.1:${port}/api/v1/network/events`);
      house = await startClearingHouse(group, {
        members: [member],
        env: { CLEARING_SANDBOX_BANK_CODE: SANDBOX },
      });
      const network = {
        BANK_CODE: BANK,
        PAYMENT_NETWORK_URL: house.baseUrl,
        PAYMENT_NETWORK_CLIENT_ID: member.clientId,
        PAYMENT_NETWORK_CLIENT_SECRET: member.clientSecret,
        PAYMENT_NETWORK_WEBHOOK_SECRET: member.webhookSecret,
      };
      t = await createTestApp(engine, { ...network, PAYMENT_DISPATCH_INTERVAL_MS: '50' });
      await t.app.listen({ host: '127.0.0.1', port });
      cliEnv = childEnv({ ...t.database.env, ...network });

      ({ user: customer, account } = await t.fundedCustomer('500.00'));
      const pay = async (amount: string) => {
        const made = await t.request<Payment>('POST', `/api/v1/accounts/${account}/payments`, {
          token: customer.token,
          body: {
            amount,
            pin: DEFAULT_PIN,
            beneficiary: { name: 'Sam Sandbox', bankCode: SANDBOX, accountNumber: 'SB12345' },
            reference: `reconcile ${amount}`,
          },
        });
        assert.equal(made.status, 202, JSON.stringify(made.body));
        return made.body;
      };
      // 1. A payment that settles.
      settled = await until((await pay('11.00')).id, 'settled');
      // 2. A payment that settles and comes back: a new credit to the customer.
      await house.setFaults({ sandboxReturnNext: 1 });
      returned = await until((await pay('7.50')).id, 'returned');
      // 3. Another bank pays our customer (credited), 4. and an unknown account (sent back).
      const inbound = await house.control<NetworkPayment>('POST', '/control/sandbox/payments', {
        amount: '3.25',
        currency: 'USD',
        creditor: { bankCode: BANK, accountNumber: account, name: 'Our Customer' },
      });
      assert.equal(inbound.status, 202, JSON.stringify(inbound.body));
      inboundNetworkId = inbound.body.id;
      const unknown = await house.control<NetworkPayment>('POST', '/control/sandbox/payments', {
        amount: '2.00',
        currency: 'USD',
        creditor: { bankCode: BANK, accountNumber: 'NOSUCH0001', name: 'Nobody' },
      });
      assert.equal(unknown.status, 202);
      sentBackNetworkId = unknown.body.id;
      const deadline = Date.now() + 30_000;
      for (;;) {
        const stats = await house.stats();
        const credited = await t.runtime.database.db
          .selectFrom('payments')
          .select('id')
          .where('network_payment_id', '=', inboundNetworkId)
          .executeTakeFirst();
        if (credited !== undefined && stats.returned === 2) break;
        if (Date.now() > deadline) assert.fail('inbound payments not settled in 30 s');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });
    after(async () => {
      await t.close();
      await group.killAll();
    });

    it(
      'a clean day: settlements, a return with its credit, a credit and a payment sent back all match',
      TIMEOUT,
      async () => {
        const report = await byEndpoint();
        assert.deepEqual(
          { ...report, matched: report.matched },
          {
            date,
            // settled + (returned: payment, return) + credited + (sent back: payment, return)
            matched: 6,
            missingInLedger: [],
            missingInNetwork: [],
            amountMismatches: [],
          },
        );
        const cli = await reconcileCli();
        assert.equal(cli.code, 0, describeRun(cli));
        assert.match(cli.stdout, new RegExp(`reconcile ${date}: OK \\(6 matched\\)`));
        const json = await reconcileCli(['--date', date, '--json']);
        assert.equal(json.code, 0, describeRun(json));
        assert.deepEqual(JSON.parse(json.stdout), report, 'the command and the endpoint agree');
      },
    );

    it(
      'an injected settlement mismatch and a missing return credit are found by the endpoint and the command',
      TIMEOUT,
      async () => {
        const db = t.runtime.database.db;
        const creditOf = await db
          .selectFrom('payments')
          .select('return_transaction_id')
          .where('id', '=', returned.id)
          .executeTakeFirstOrThrow();
        assert.ok(creditOf.return_transaction_id !== null, 'the return names its credit');
        await db
          .updateTable('payments')
          .set({ amount_minor: 1200n })
          .where('id', '=', settled.id)
          .execute();
        await db
          .updateTable('payments')
          .set({ return_transaction_id: null })
          .where('id', '=', returned.id)
          .execute();
        try {
          const report = await byEndpoint();
          assert.equal(report.matched, 4);
          assert.deepEqual(report.amountMismatches, [
            {
              kind: 'payment',
              paymentId: settled.id,
              networkPaymentId: report.amountMismatches[0]?.networkPaymentId,
              direction: 'outbound',
              amount: '12.00',
              currency: 'USD',
              networkAmount: '11.00',
            },
          ]);
          assert.deepEqual(
            report.missingInLedger.map((item) => [
              item.kind,
              item.direction,
              item.paymentId,
              item.amount,
            ]),
            [['return', 'inbound', returned.id, '7.50']],
          );
          assert.deepEqual(report.missingInNetwork, []);

          const cli = await reconcileCli();
          assert.equal(cli.code, 1, describeRun(cli));
          assert.match(
            cli.stdout,
            new RegExp(
              `amount differs: payment outbound 12.00 USD payment=${settled.id} .*network says 11.00`,
            ),
          );
          assert.match(
            cli.stdout,
            new RegExp(`missing in ledger: return inbound 7.50 USD payment=${returned.id}`),
          );
          assert.match(cli.stdout, new RegExp(`reconcile ${date}: 2 mismatches \\(4 matched\\)`));
          const json = await reconcileCli(['--date', date, '--json']);
          assert.equal(json.code, 1, describeRun(json));
          assert.deepEqual(JSON.parse(json.stdout), report);
        } finally {
          await db
            .updateTable('payments')
            .set({ amount_minor: 1100n })
            .where('id', '=', settled.id)
            .execute();
          await db
            .updateTable('payments')
            .set({ return_transaction_id: creditOf.return_transaction_id })
            .where('id', '=', returned.id)
            .execute();
        }
        assert.equal((await reconcileCli()).code, 0, 'clean again once repaired');
      },
    );

    it(
      'a return the network never made and a credit for a payment we sent back are mismatches',
      TIMEOUT,
      async () => {
        const db = t.runtime.database.db;
        // The ledger says the settled payment came back, the network does not.
        const row = await db
          .selectFrom('payments')
          .select(['status', 'status_history', 'return_transaction_id'])
          .where('id', '=', settled.id)
          .executeTakeFirstOrThrow();
        const credit = await db
          .selectFrom('payments')
          .select('return_transaction_id')
          .where('id', '=', returned.id)
          .executeTakeFirstOrThrow();
        const history = JSON.parse(row.status_history) as Array<{ status: string; at: string }>;
        await db
          .updateTable('payments')
          .set({
            status: 'returned',
            status_history: JSON.stringify([
              ...history,
              { status: 'returned', at: new Date().toISOString() },
            ]),
            // The other payment's credit posting: same account, a real credit of 7.50.
            return_transaction_id: credit.return_transaction_id,
          })
          .where('id', '=', settled.id)
          .execute();
        try {
          const report = await byEndpoint();
          assert.deepEqual(
            report.missingInNetwork.map((item) => [item.kind, item.direction, item.paymentId]),
            [['return', 'inbound', settled.id]],
          );
          const cli = await reconcileCli();
          assert.equal(cli.code, 1, describeRun(cli));
          assert.match(
            cli.stdout,
            new RegExp(`missing in network: return inbound 7.50 USD payment=${settled.id}`),
          );
        } finally {
          await db
            .updateTable('payments')
            .set({
              status: row.status,
              status_history: row.status_history,
              return_transaction_id: row.return_transaction_id,
            })
            .where('id', '=', settled.id)
            .execute();
        }
        // The ledger credited (as 3.25) the payment the network says we sent back (2.00).
        await db
          .updateTable('payments')
          .set({ network_payment_id: sentBackNetworkId })
          .where('network_payment_id', '=', inboundNetworkId)
          .execute();
        try {
          const report = await byEndpoint();
          const brief = (items: ReconciliationReport['missingInLedger']) =>
            items.map((item) => [item.kind, item.direction, item.networkPaymentId, item.amount]);
          assert.deepEqual(
            brief(report.missingInLedger).sort(),
            [
              ['payment', 'inbound', inboundNetworkId, '3.25'],
              ['return', 'outbound', sentBackNetworkId, '2.00'],
            ].sort(),
          );
          assert.deepEqual(
            report.amountMismatches.map((item) => [
              item.kind,
              item.networkPaymentId,
              item.amount,
              item.networkAmount,
            ]),
            [['payment', sentBackNetworkId, '3.25', '2.00']],
          );
          assert.equal((await reconcileCli()).code, 1);
        } finally {
          await db
            .updateTable('payments')
            .set({ network_payment_id: inboundNetworkId })
            .where('network_payment_id', '=', sentBackNetworkId)
            .execute();
        }
        assert.equal((await byEndpoint()).matched, 6, 'clean again once repaired');
      },
    );

    it(
      'staff only; a bad date is refused by both; a network that does not answer is an error, not a clean day',
      TIMEOUT,
      async () => {
        const customerView = await t.request('GET', `/api/v1/admin/reconciliation?date=${date}`, {
          token: customer.token,
        });
        assert.equal(customerView.status, 403);
        const admin = await t.staff('admin');
        const bad = await t.request('GET', '/api/v1/admin/reconciliation?date=yesterday', {
          token: admin.token,
        });
        assert.equal(bad.status, 400);
        for (const args of [[], ['--date', '2026-02-30'], ['--date', 'yesterday']]) {
          const result = await reconcileCli(args);
          assert.equal(result.code, 2, describeRun(result));
          assert.match(result.stderr, /reconcile needs --date YYYY-MM-DD/);
        }
        const unconfigured = await group.runCli(['reconcile', '--date', date], {
          env: childEnv(t.database.env),
        });
        assert.equal(unconfigured.code, 2, describeRun(unconfigured));
        assert.match(unconfigured.stderr, /no payment network is configured/);
        await house.setFaults({ refuseAll: true });
        try {
          const down = await reconcileCli();
          assert.notEqual(down.code, 0, describeRun(down));
          assert.doesNotMatch(down.stdout, /OK/);
          assert.match(down.stderr, /not available/);
          const viaApi = await t.request('GET', `/api/v1/admin/reconciliation?date=${date}`, {
            token: admin.token,
          });
          assert.equal(viaApi.status, 503);
        } finally {
          await house.clearFaults();
        }
      },
    );
  });
}
