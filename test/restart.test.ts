import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/harness.ts';
import {
  childEnv,
  freePort,
  httpJson,
  ProcessGroup,
  type ServerProcess,
} from './support/process.ts';

const PASSWORD = 'restart test password';
const PIN = '8642';

interface Customer {
  username: string;
  token: string;
  accounts: string[];
}

/** Everything a customer can read about their money, for before/after comparison. */
async function statement(baseUrl: string, customer: Customer): Promise<unknown> {
  const list = await httpJson(baseUrl, 'GET', '/api/v1/accounts', { token: customer.token });
  assert.equal(list.status, 200, JSON.stringify(list.body));
  const accounts: unknown[] = [];
  for (const accountNumber of customer.accounts) {
    const account = await httpJson(baseUrl, 'GET', `/api/v1/accounts/${accountNumber}`, {
      token: customer.token,
    });
    assert.equal(account.status, 200, JSON.stringify(account.body));
    // Walk every page of the history, so nothing beyond the first page is missed.
    const history: unknown[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`;
      const response = await httpJson<{ data: unknown[]; nextCursor: string | null }>(
        baseUrl,
        'GET',
        `/api/v1/accounts/${accountNumber}/transactions${query}`,
        { token: customer.token },
      );
      assert.equal(response.status, 200, JSON.stringify(response.body));
      history.push(...response.body.data);
      cursor = response.body.nextCursor;
      if (cursor === null) break;
    }
    assert.equal(cursor, null, 'history pages ended');
    accounts.push({ account: account.body, history });
  }
  return { list: list.body, accounts };
}

async function registerCustomer(baseUrl: string, username: string): Promise<Customer> {
  const register = await httpJson(baseUrl, 'POST', '/api/v1/auth/register', {
    body: {
      username,
      password: PASSWORD,
      fullName: `Customer ${username}`,
      email: `${username}@example.com`,
    },
  });
  assert.equal(register.status, 201, JSON.stringify(register.body));
  const login = await httpJson<{ accessToken: string }>(baseUrl, 'POST', '/api/v1/auth/login', {
    body: { username, password: PASSWORD },
  });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const token = login.body.accessToken;
  const pin = await httpJson(baseUrl, 'PUT', '/api/v1/me/pin', {
    token,
    body: { password: PASSWORD, pin: PIN },
  });
  assert.equal(pin.status, 204, JSON.stringify(pin.body));
  return { username, token, accounts: [] };
}

async function openAccount(baseUrl: string, customer: Customer, body: object): Promise<string> {
  const response = await httpJson<{ accountNumber: string }>(baseUrl, 'POST', '/api/v1/accounts', {
    token: customer.token,
    body,
  });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  customer.accounts.push(response.body.accountNumber);
  return response.body.accountNumber;
}

async function move(
  baseUrl: string,
  customer: Customer,
  url: string,
  body: object,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const response = await httpJson(baseUrl, 'POST', url, { token: customer.token, body, headers });
  assert.equal(response.status, 201, `${url}: ${JSON.stringify(response.body)}`);
  return response.body;
}

for (const engine of ENGINES) {
  describe(`server restart and shutdown [${engine}]`, () => {
    const processes = new ProcessGroup();
    const databases: TestDatabase[] = [];

    async function database(): Promise<TestDatabase> {
      const db = await createTestDatabase(engine);
      databases.push(db);
      return db;
    }
    async function serverEnv(db: TestDatabase): Promise<NodeJS.ProcessEnv> {
      return childEnv(db.env, {
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        RATE_LIMITS: 'off',
      });
    }
    async function stopCleanly(server: ServerProcess): Promise<void> {
      const exit = await server.stop('SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${server.stderr}`);
      const messages = server.logLines().map((line) => line.msg);
      assert.ok(messages.includes('shut down cleanly'), `log: ${messages.join(' | ')}`);
    }

    after(async () => {
      await processes.killAll();
      for (const db of databases) await db.dispose();
    });

    it('keeps balances, histories, tokens, PINs and idempotency keys across a restart', async () => {
      const db = await database();
      const env = await serverEnv(db);
      const first = await processes.startServer(env);
      const url = first.baseUrl;

      const alice = await registerCustomer(url, 'alice_restart');
      const bob = await registerCustomer(url, 'bob_restart');
      const aliceUsd = await openAccount(url, alice, { nickname: 'main' });
      const aliceJpy = await openAccount(url, alice, { currency: 'JPY', type: 'savings' });
      const bobUsd = await openAccount(url, bob, {});

      await move(url, alice, `/api/v1/accounts/${aliceUsd}/deposits`, { amount: '500.00' });
      await move(url, alice, `/api/v1/accounts/${aliceJpy}/deposits`, { amount: '20000' });
      await move(url, alice, `/api/v1/accounts/${aliceUsd}/withdrawals`, {
        amount: '20.25',
        pin: PIN,
      });
      await move(url, alice, `/api/v1/accounts/${aliceUsd}/transfers`, {
        toAccount: bobUsd,
        amount: '100.10',
        pin: PIN,
        description: 'rent',
      });
      const keyed = await move(
        url,
        bob,
        `/api/v1/accounts/${bobUsd}/deposits`,
        { amount: '7.00', description: 'keyed' },
        { 'idempotency-key': 'restart-key-1' },
      );
      await move(url, bob, `/api/v1/accounts/${bobUsd}/transfers`, {
        toAccount: aliceUsd,
        amount: '1.01',
        pin: PIN,
      });
      await move(url, alice, `/api/v1/accounts/${aliceJpy}/withdrawals`, {
        amount: '1234',
        pin: PIN,
      });

      const aliceBefore = await statement(url, alice);
      const bobBefore = await statement(url, bob);
      const aliceMe = await httpJson(url, 'GET', '/api/v1/me', { token: alice.token });
      assert.equal(aliceMe.status, 200);
      // The numbers are what the movements add up to, so the comparison below is not vacuous.
      const balances = (aliceBefore as { accounts: Array<{ account: { balance: string } }> })
        .accounts;
      assert.deepEqual(
        balances.map((a) => a.account.balance),
        ['380.66', '18766'],
      );

      await stopCleanly(first);
      const secrets = path.join(db.dataDir, 'secrets.json');
      assert.ok(fs.existsSync(secrets), 'development secrets were generated under DATA_DIR');

      const second = await processes.startServer(env);
      try {
        // The old access token still works: the signing key came back from DATA_DIR.
        const me = await httpJson(url, 'GET', '/api/v1/me', { token: alice.token });
        assert.equal(me.status, 200, JSON.stringify(me.body));
        assert.deepEqual(me.body, aliceMe.body);

        assert.deepEqual(await statement(url, alice), aliceBefore);
        assert.deepEqual(await statement(url, bob), bobBefore);

        // The idempotency key survived: the same request is answered from the store.
        const replay = await httpJson(url, 'POST', `/api/v1/accounts/${bobUsd}/deposits`, {
          token: bob.token,
          body: { amount: '7.00', description: 'keyed' },
          headers: { 'idempotency-key': 'restart-key-1' },
        });
        assert.equal(replay.status, 201, JSON.stringify(replay.body));
        assert.deepEqual(replay.body, keyed);
        assert.deepEqual(await statement(url, bob), bobBefore, 'the replay moved no money');

        // The PIN pepper survived too: the old PIN still authorises a withdrawal.
        const withdrawal = await httpJson(url, 'POST', `/api/v1/accounts/${aliceUsd}/withdrawals`, {
          token: alice.token,
          body: { amount: '0.66', pin: PIN },
        });
        assert.equal(withdrawal.status, 201, JSON.stringify(withdrawal.body));
        assert.equal(withdrawal.body.balanceAfter, '380.00');

        const verify = await processes.runCli(['ledger', 'verify'], { env: childEnv(db.env) });
        assert.equal(verify.code, 0, `${verify.stdout}${verify.stderr}`);
        assert.match(verify.stdout, /OK \(8 entries, 16 postings, 5 accounts\)/);
      } finally {
        await stopCleanly(second);
      }
    });

    it('finishes in-flight requests on SIGTERM and exits 0', async () => {
      const db = await database();
      const env = await serverEnv(db);
      const server = await processes.startServer(env);
      const url = server.baseUrl;
      await registerCustomer(url, 'busy_user');

      const count = 20;
      let signalledAt = 0;
      let firstSettled: () => void = () => {};
      const firstResponse = new Promise<void>((resolve) => {
        firstSettled = resolve;
      });
      const logins = Array.from({ length: count }, async () => {
        try {
          const response = await fetch(`${url}/api/v1/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username: 'busy_user', password: PASSWORD }),
            signal: AbortSignal.timeout(20_000),
          });
          firstSettled();
          const text = await response.text();
          return { status: response.status, text, at: performance.now() };
        } catch (error) {
          firstSettled();
          return { status: 0, text: String(error), at: performance.now() };
        }
      });
      // Each login is tens of milliseconds of Argon2; signal as soon as the first answer
      // is back, while most of the others are still being worked on.
      await firstResponse;
      signalledAt = performance.now();
      server.child.kill('SIGTERM');

      const results = await Promise.all(logins);
      const exit = await server.exit(15_000);
      for (const [index, result] of results.entries()) {
        assert.equal(result.status, 200, `login ${index}: ${result.status} ${result.text}`);
        const body = JSON.parse(result.text) as { accessToken?: unknown; tokenType?: unknown };
        assert.equal(typeof body.accessToken, 'string', `login ${index} body is complete`);
        assert.equal(body.tokenType, 'Bearer');
      }
      const lateAnswers = results.filter((result) => result.at > signalledAt).length;
      assert.ok(lateAnswers > 0, 'some requests were still in flight when SIGTERM arrived');
      const messages = server.logLines().map((line) => line.msg);
      assert.deepEqual(
        exit,
        { code: 0, signal: null },
        `exit after SIGTERM; log: ${messages.join(' | ')}; stderr: ${server.stderr}`,
      );
      assert.ok(messages.includes('shutting down'), messages.join(' | '));
      assert.ok(messages.includes('shut down cleanly'), messages.join(' | '));
      // The port is closed afterwards.
      await assert.rejects(fetch(`${url}/health/live`, { signal: AbortSignal.timeout(5_000) }));
    });

    it('refuses to start in production without secrets, naming them, and writes none', async () => {
      const db = await database();
      const dataDir = path.join(db.dataDir, 'production');
      const cases: Array<{ given: Record<string, string>; missing: string[] }> = [
        { given: {}, missing: ['JWT_PRIVATE_KEY', 'JWT_KEY_ID', 'PIN_PEPPER'] },
        { given: { JWT_KEY_ID: 'prod-1' }, missing: ['JWT_PRIVATE_KEY', 'PIN_PEPPER'] },
      ];
      for (const { given, missing } of cases) {
        const env = childEnv(db.env, {
          NODE_ENV: 'production',
          LOG_LEVEL: 'info',
          DATA_DIR: dataDir,
          HOST: '127.0.0.1',
          PORT: String(await freePort()),
          ...given,
        });
        const result = await processes.run('src/main.ts', [], { env, timeoutMs: 20_000 });
        const output = `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
        assert.notEqual(result.code, 0, output);
        assert.equal(result.signal, null, output);
        assert.doesNotMatch(result.stdout, /corebank is serving/, output);
        const lines = result.stderr.trim().split('\n');
        assert.equal(lines.length, 1, `one line on stderr: ${output}`);
        assert.doesNotMatch(result.stderr, /^\s+at /m, `no stack trace: ${output}`);
        for (const name of missing) assert.match(result.stderr, new RegExp(name), output);
        for (const name of Object.keys(given)) {
          assert.doesNotMatch(result.stderr, new RegExp(`${name}(?!_)`), `${name} was given`);
        }
        assert.equal(
          fs.existsSync(path.join(dataDir, 'secrets.json')),
          false,
          'no development secrets were generated in production',
        );
      }
    });
  });
}
