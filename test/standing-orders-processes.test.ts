import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/harness.ts';
import {
  childEnv,
  freePort,
  httpJson,
  ProcessGroup,
  type ServerProcess,
} from './support/process.ts';

/**
 * Standing orders across real server processes: each due date runs exactly once when two
 * processes share one PostgreSQL database, and when the process running it is killed
 * between moving the money and recording the run, the restarted server completes it once.
 * Orders start today (UTC), so the schedulers' real clocks find them due at once.
 */
const PASSWORD = 'standing orders across processes';
const PIN = '5813';
const TIMEOUT = { timeout: 180_000 };

interface Customer {
  token: string;
  account: string;
}

async function customer(base: string, deposit: string): Promise<Customer> {
  const username = `so_${crypto.randomBytes(4).toString('hex')}`;
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
  assert.equal(
    (
      await httpJson(base, 'PUT', '/api/v1/me/pin', {
        token,
        body: { password: PASSWORD, pin: PIN },
      })
    ).status,
    204,
  );
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

async function createOrder(base: string, from: Customer, to: Customer, amount: string) {
  const response = await httpJson<{ id: string }>(
    base,
    'POST',
    `/api/v1/accounts/${from.account}/standing-orders`,
    {
      token: from.token,
      body: {
        toAccount: to.account,
        amount,
        frequency: 'monthly',
        startDate: new Date().toISOString().slice(0, 10),
        pin: PIN,
      },
    },
  );
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body.id;
}

async function runs(base: string, who: Customer, id: string) {
  const response = await httpJson<{
    data: Array<{ dueDate: string; status: string; transactionId?: string }>;
  }>(base, 'GET', `/api/v1/standing-orders/${id}/runs`, { token: who.token });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.data;
}

async function balance(base: string, who: Customer): Promise<string> {
  const response = await httpJson<{ balance: string }>(
    base,
    'GET',
    `/api/v1/accounts/${who.account}`,
    { token: who.token },
  );
  return response.body.balance;
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function serverEnv(database: TestDatabase, port: number, extra: Record<string, string> = {}) {
  return childEnv(database.env, {
    HOST: '127.0.0.1',
    PORT: String(port),
    RATE_LIMITS: 'off',
    LOG_LEVEL: 'info',
    NODE_ENV: 'development',
    STANDING_ORDERS_POLL_INTERVAL_MS: '100',
    STANDING_ORDERS_LEASE_MS: '1500',
    ...extra,
  });
}

describe('standing orders across server processes', () => {
  const group = new ProcessGroup();
  const databases: TestDatabase[] = [];
  after(async () => {
    await group.killAll();
    for (const database of databases) await database.dispose();
  });

  it('two server processes on one PostgreSQL run each due order exactly once', {
    ...TIMEOUT,
    skip: ENGINES.includes('postgres') ? false : 'needs PostgreSQL',
  }, async () => {
    const database = await createTestDatabase('postgres');
    databases.push(database);
    const servers: ServerProcess[] = [];
    for (let i = 0; i < 2; i++) {
      servers.push(await group.startServer(serverEnv(database, await freePort()), 60_000));
    }
    const [a, b] = servers.map((s) => s.baseUrl) as [string, string];
    const payee = await customer(a, '1.00');
    const payers: Customer[] = [];
    const orders: string[] = [];
    for (let i = 0; i < 12; i++) {
      const payer = await customer(i % 2 === 0 ? a : b, '10.00');
      payers.push(payer);
      orders.push(await createOrder(i % 2 === 0 ? b : a, payer, payee, '2.00'));
    }
    await until(
      async () => {
        for (const [i, id] of orders.entries()) {
          if ((await runs(a, payers[i] as Customer, id)).length === 0) return false;
        }
        return true;
      },
      30_000,
      'every order to run',
    );
    // Give both schedulers several more passes to do something wrong.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const [i, id] of orders.entries()) {
      const payer = payers[i] as Customer;
      const seen = await runs(b, payer, id);
      assert.equal(seen.length, 1, JSON.stringify(seen));
      assert.equal(seen[0]?.status, 'done');
      assert.equal(await balance(a, payer), '8.00');
    }
    assert.equal(await balance(b, payee), `${1 + 2 * orders.length}.00`);
    const verify = await group.runCli(['ledger', 'verify'], {
      env: serverEnv(database, 0),
      timeoutMs: 60_000,
    });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    await Promise.all(servers.map((s) => s.stop()));
  });

  for (const engine of ENGINES) {
    it(
      `a server killed during a run completes it exactly once after restart [${engine}]`,
      TIMEOUT,
      async () => {
        const database = await createTestDatabase(engine);
        databases.push(database);
        const port = await freePort();
        const crashing = await group.startServer(
          serverEnv(database, port, { STANDING_ORDERS_FAULT: 'crash-after-transfer' }),
          60_000,
        );
        const payer = await customer(crashing.baseUrl, '30.00');
        const payee = await customer(crashing.baseUrl, '1.00');
        const id = await createOrder(crashing.baseUrl, payer, payee, '7.00');
        // The scheduler moves the money, then the fault kills the process before it records
        // the run.
        const exit = await crashing.exit(30_000);
        assert.equal(exit.signal, 'SIGKILL');

        const config = loadConfig(serverEnv(database, port));
        const handle = await openDatabase(config);
        try {
          const pending = await handle.db
            .selectFrom('standing_order_runs')
            .selectAll()
            .where('order_id', '=', id)
            .execute();
          assert.equal(pending.length, 1);
          assert.equal(pending[0]?.status, 'pending', 'the run was not recorded');
          assert.notEqual(pending[0]?.lease_owner, null);
          const payerRow = await handle.db
            .selectFrom('accounts')
            .select('balance_minor')
            .where('account_number', '=', payer.account)
            .executeTakeFirstOrThrow();
          assert.equal(payerRow.balance_minor, 2300n, 'the money moved before the crash');
        } finally {
          await handle.close();
        }

        const restarted = await group.startServer(serverEnv(database, port), 60_000);
        await until(
          async () => (await runs(restarted.baseUrl, payer, id)).length > 0,
          30_000,
          'the run to be completed after restart',
        );
        await new Promise((resolve) => setTimeout(resolve, 800));
        const done = await runs(restarted.baseUrl, payer, id);
        assert.equal(done.length, 1);
        assert.equal(done[0]?.status, 'done');
        assert.equal(await balance(restarted.baseUrl, payer), '23.00', 'paid exactly once');
        assert.equal(await balance(restarted.baseUrl, payee), '8.00');
        // The run names the transfer that moved the money before the crash.
        const history = await httpJson<{ data: Array<{ id: string; type: string }> }>(
          restarted.baseUrl,
          'GET',
          `/api/v1/accounts/${payer.account}/transactions`,
          { token: payer.token },
        );
        const transfers = history.body.data.filter((tx) => tx.type === 'transfer_out');
        assert.equal(transfers.length, 1);
        assert.equal(transfers[0]?.id, done[0]?.transactionId);
        await restarted.stop();
      },
    );
  }
});
