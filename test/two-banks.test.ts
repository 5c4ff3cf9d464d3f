import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import {
  type ClearingHouseProcess,
  memberOf,
  startClearingHouse,
} from './support/clearing-house.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/harness.ts';
import {
  childEnv,
  freePort,
  httpJson,
  ProcessGroup,
  type ServerProcess,
} from './support/process.ts';

/**
 * Two banks end to end: one clearing-house process and two Corebank processes with their
 * own BANK_CODE and database (bank A on SQLite, bank B on PostgreSQL when it is available).
 * A's customer pays B's customer: A shows `settled`, B shows the credit, both ledgers
 * verify, and A's clearing account moved by exactly what B's moved the other way.
 */

const PASSWORD = 'two banks and one network';
const PIN = '5813';
const TIMEOUT = { timeout: 240_000 };

interface Customer {
  token: string;
  account: string;
}

async function customer(base: string, deposit: string): Promise<Customer> {
  const username = `tb_${crypto.randomBytes(4).toString('hex')}`;
  const register = await httpJson(base, 'POST', '/api/v1/auth/register', {
    body: {
      username,
      password: PASSWORD,
      fullName: `Customer ${username}`,
      email: `${username}@example.com`,
    },
  });
  assert.equal(register.status, 201, JSON.stringify(register.body));
  const login = await httpJson<{ accessToken: string }>(base, 'POST', '/api/v1/auth/login', {
    body: { username, password: PASSWORD },
  });
  const token = login.body.accessToken;
  const pin = await httpJson(base, 'PUT', '/api/v1/me/pin', {
    token,
    body: { password: PASSWORD, pin: PIN },
  });
  assert.equal(pin.status, 204);
  const opened = await httpJson<{ accountNumber: string }>(base, 'POST', '/api/v1/accounts', {
    token,
    body: {},
  });
  const account = opened.body.accountNumber;
  const funded = await httpJson(base, 'POST', `/api/v1/accounts/${account}/deposits`, {
    token,
    body: { amount: deposit },
  });
  assert.equal(funded.status, 201, JSON.stringify(funded.body));
  return { token, account };
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Verifies a bank's ledger from its database and reads its clearing account. */
async function inspect(
  database: TestDatabase,
): Promise<{ ok: boolean; problem: string; clearing: bigint }> {
  const handle = await openDatabase(loadConfig(childEnv(database.env)));
  try {
    const result = await verifyLedger(handle.db);
    const row = await handle.db
      .selectFrom('accounts')
      .select(['balance_minor'])
      .where('account_number', '=', 'CLEARING-USD')
      .executeTakeFirst();
    return {
      ok: result.ok,
      problem: result.ok ? '' : result.problem,
      clearing: row?.balance_minor ?? 0n,
    };
  } finally {
    await handle.close();
  }
}

describe('two banks on one payment network', () => {
  const group = new ProcessGroup();
  const databases: TestDatabase[] = [];
  let a: TestDatabase;
  let b: TestDatabase;
  let house: ClearingHouseProcess;
  let bankA: ServerProcess;
  let bankB: ServerProcess;
  let envA: NodeJS.ProcessEnv;
  let payer: Customer;
  let payee: Customer;

  before(async () => {
    a = await createTestDatabase('sqlite');
    databases.push(a);
    b = await createTestDatabase(ENGINES.includes('postgres') ? 'postgres' : 'sqlite');
    databases.push(b);
    const [portA, portB] = [await freePort(), await freePort()];
    const memberA = memberOf('BANKAUS3', `http://127.0.0.1:${portA}/api/v1/network/events`);
    const memberB = memberOf('BANKBUS3', `http://127.0.0.1:${portB}/api/v1/network/events`);
    house = await startClearingHouse(group, { members: [memberA, memberB] });
    const env = (database: TestDatabase, port: number, member: typeof memberA) =>
      childEnv(database.env, {
        HOST: '127.0.0.1',
        PORT: String(port),
        RATE_LIMITS: 'off',
        LOG_LEVEL: 'info',
        NODE_ENV: 'development',
        BANK_CODE: member.bankCode,
        PAYMENT_NETWORK_URL: house.baseUrl,
        PAYMENT_NETWORK_CLIENT_ID: member.clientId,
        PAYMENT_NETWORK_CLIENT_SECRET: member.clientSecret,
        PAYMENT_NETWORK_WEBHOOK_SECRET: member.webhookSecret,
        PAYMENT_DISPATCH_INTERVAL_MS: '50',
        PAYMENT_RETRY_BASE_MS: '100',
        PAYMENT_RETRY_MAX_MS: '300',
        // A killed process's claim on a payment lapses after this long.
        PAYMENT_DISPATCH_LEASE_MS: '2000',
      });
    envA = env(a, portA, memberA);
    bankA = await group.startServer(envA, 60_000);
    bankB = await group.startServer(env(b, portB, memberB), 60_000);
    payer = await customer(bankA.baseUrl, '500.00');
    payee = await customer(bankB.baseUrl, '1.00');
  });
  after(async () => {
    await group.killAll();
    for (const database of databases) await database.dispose();
  });

  function pay(amount: string, accountNumber?: string) {
    return httpJson<{ id: string; status: string }>(
      bankA.baseUrl,
      'POST',
      `/api/v1/accounts/${payer.account}/payments`,
      {
        token: payer.token,
        body: {
          amount,
          pin: PIN,
          beneficiary: {
            name: 'Payee at B',
            bankCode: 'BANKBUS3',
            accountNumber: accountNumber ?? payee.account,
          },
        },
      },
    );
  }
  async function statusAtA(id: string): Promise<string> {
    const got = await httpJson<{ status: string }>(bankA.baseUrl, 'GET', `/api/v1/payments/${id}`, {
      token: payer.token,
    });
    return got.body.status;
  }
  async function balanceAt(base: string, who: Customer): Promise<string> {
    const got = await httpJson<{ balance: string }>(
      base,
      'GET',
      `/api/v1/accounts/${who.account}`,
      {
        token: who.token,
      },
    );
    return got.body.balance;
  }
  async function mirrored(): Promise<void> {
    const [ledgerA, ledgerB] = [await inspect(a), await inspect(b)];
    assert.ok(ledgerA.ok, ledgerA.problem);
    assert.ok(ledgerB.ok, ledgerB.problem);
    assert.equal(ledgerA.clearing + ledgerB.clearing, 0n);
  }

  it(
    'A pays B: settled at A, credited at B, ledgers verify, clearing moves mirror',
    TIMEOUT,
    async () => {
      const count = 5;
      const started = Date.now();
      const made = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          httpJson<{ id: string; status: string }>(
            bankA.baseUrl,
            'POST',
            `/api/v1/accounts/${payer.account}/payments`,
            {
              token: payer.token,
              body: {
                amount: '10.00',
                pin: PIN,
                reference: `two-bank ${i}`,
                beneficiary: {
                  name: 'Payee at B',
                  bankCode: 'BANKBUS3',
                  accountNumber: payee.account,
                },
              },
            },
          ),
        ),
      );
      for (const response of made)
        assert.equal(response.status, 202, JSON.stringify(response.body));
      const settleTimes: number[] = [];
      await until(
        async () => {
          const statuses = await Promise.all(
            made.map((m) =>
              httpJson<{ status: string }>(bankA.baseUrl, 'GET', `/api/v1/payments/${m.body.id}`, {
                token: payer.token,
              }),
            ),
          );
          const settled = statuses.filter((s) => s.body.status === 'settled').length;
          while (settleTimes.length < settled) settleTimes.push(Date.now() - started);
          return settled === count;
        },
        60_000,
        'all payments settled at A',
      );
      await until(
        async () => {
          const got = await httpJson<{ balance: string }>(
            bankB.baseUrl,
            'GET',
            `/api/v1/accounts/${payee.account}`,
            {
              token: payee.token,
            },
          );
          return got.body.balance === '51.00';
        },
        60_000,
        'the credits at B',
      );
      const credited = Date.now() - started;
      const atA = await httpJson<{ balance: string; availableBalance: string }>(
        bankA.baseUrl,
        'GET',
        `/api/v1/accounts/${payer.account}`,
        { token: payer.token },
      );
      assert.equal(atA.body.balance, '450.00');
      assert.equal(atA.body.availableBalance, '450.00');
      const inbound = await httpJson<{
        data: Array<{ direction: string; status: string; amount: string }>;
      }>(bankB.baseUrl, 'GET', `/api/v1/accounts/${payee.account}/payments`, {
        token: payee.token,
      });
      assert.equal(inbound.body.data.length, count);
      assert.ok(
        inbound.body.data.every((p) => p.direction === 'inbound' && p.status === 'credited'),
      );

      // Each payment reached the network once.
      const stats = await house.stats();
      assert.equal(stats.paymentsSubmitted, count);
      assert.equal(stats.paymentsReplayed, 0);
      const [ledgerA, ledgerB] = [await inspect(a), await inspect(b)];
      assert.ok(ledgerA.ok, ledgerA.problem);
      assert.ok(ledgerB.ok, ledgerB.problem);
      assert.equal(ledgerA.clearing, 5000n);
      assert.equal(ledgerA.clearing + ledgerB.clearing, 0n);
      console.log(
        JSON.stringify({
          twoBanks: {
            sent: count,
            settledAtA: settleTimes.length,
            msToAllSettled: settleTimes.at(-1),
            msToAllCredited: credited,
            engines: [a.engine, b.engine],
            network: stats,
          },
        }),
      );
    },
  );

  it(
    'network down during submit: stays pending, then settles once when it is back',
    TIMEOUT,
    async () => {
      const before = (await house.stats()).paymentsSubmitted;
      await house.setFaults({ refuseAll: true, endpoints: 'payments' });
      const made = await pay('7.00');
      assert.equal(made.status, 202);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(await statusAtA(made.body.id), 'pending');
      await house.clearFaults();
      await until(async () => (await statusAtA(made.body.id)) === 'settled', 30_000, 'settled');
      assert.equal((await house.stats()).paymentsSubmitted - before, 1);
      await until(
        async () => (await balanceAt(bankB.baseUrl, payee)) === '58.00',
        30_000,
        'credit at B',
      );
      await mirrored();
    },
  );

  it('webhooks delivered twice and out of order are applied once', TIMEOUT, async () => {
    await house.setFaults({
      duplicateDeliveries: true,
      outOfOrderDeliveries: true,
      reorderWindowMs: 200,
    });
    const made = await Promise.all([pay('3.00'), pay('4.00')]);
    for (const m of made) {
      await until(async () => (await statusAtA(m.body.id)) === 'settled', 30_000, 'settled');
    }
    await until(
      async () => (await balanceAt(bankB.baseUrl, payee)) === '65.00',
      30_000,
      'credits at B',
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await house.clearFaults();
    assert.equal(await balanceAt(bankB.baseUrl, payee), '65.00');
    assert.equal(await balanceAt(bankA.baseUrl, payer), '436.00');
    await mirrored();
  });

  it(
    'an expired OAuth token mid-run: a new one is fetched and the payment settles',
    TIMEOUT,
    async () => {
      const tokens = (await house.stats()).tokensIssued;
      await house.setFaults({ expireTokens: true });
      const made = await pay('1.00');
      await until(async () => (await statusAtA(made.body.id)) === 'settled', 30_000, 'settled');
      assert.ok((await house.stats()).tokensIssued > tokens);
      await until(
        async () => (await balanceAt(bankB.baseUrl, payee)) === '66.00',
        30_000,
        'credit at B',
      );
      await mirrored();
    },
  );

  it(
    'bank A killed -9 between hold and submit completes the payment once after restart',
    TIMEOUT,
    async () => {
      const before = (await house.stats()).paymentsSubmitted;
      // The network drops the submits, so the payment is held and recorded but not taken.
      await house.setFaults({ refuseAll: true, endpoints: 'payments' });
      const made = await pay('2.00');
      assert.equal(made.status, 202);
      await bankA.stop('SIGKILL');
      await house.clearFaults();
      bankA = await group.startServer(envA, 60_000);
      await until(async () => (await statusAtA(made.body.id)) === 'settled', 30_000, 'settled');
      assert.equal((await house.stats()).paymentsSubmitted - before, 1);
      await until(
        async () => (await balanceAt(bankB.baseUrl, payee)) === '68.00',
        30_000,
        'credit at B',
      );
      await mirrored();
    },
  );

  it(
    'a payment to an unknown account at B is sent back, and B posts nothing to it',
    TIMEOUT,
    async () => {
      const returned = (await house.stats()).returned;
      const made = await pay('5.00', 'ZZ0000000001');
      assert.equal(made.status, 202, JSON.stringify(made.body));
      await until(async () => (await house.stats()).returned === returned + 1, 30_000, 'returned');
      assert.equal(await balanceAt(bankB.baseUrl, payee), '68.00');
      // A sees its settled payment come back: a new credit, the payment `returned`.
      await until(async () => (await statusAtA(made.body.id)) === 'returned', 30_000, 'back at A');
      assert.equal(await balanceAt(bankA.baseUrl, payer), '433.00');
      await mirrored();
    },
  );
});
