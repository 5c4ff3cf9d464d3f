import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/harness.ts';
import {
  childEnv,
  freePort,
  httpJson,
  ProcessGroup,
  type ServerProcess,
} from './support/process.ts';

/**
 * More than one server process on one PostgreSQL database, with Redis for the shared
 * rate-limit counters and session revocation: the ledger's invariants must hold when
 * conflicting money commands arrive through different processes at once. Each process
 * has its own batcher and connection pool, so only the database's row locks (users, then
 * accounts, each in ascending order) stand between them.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PASSWORD = 'two processes share one ledger';
const PIN = '9173';
const TIMEOUT = { timeout: 180_000 };

interface Customer {
  username: string;
  token: string;
  refreshToken: string;
  account: string;
}

if (!ENGINES.includes('postgres')) {
  describe('two server processes on one database [postgres + redis]', () => {
    it('keeps every ledger invariant', {
      skip: 'TEST_DATABASE_URL=off: several processes need a shared PostgreSQL server',
    }, () => {});
  });
} else {
  describe('two server processes on one database [postgres + redis]', () => {
    const group = new ProcessGroup();
    const servers: ServerProcess[] = [];
    let database: TestDatabase;
    let env: NodeJS.ProcessEnv;
    let counter = 0;

    const server = (index: number): ServerProcess => {
      const found = servers[index % servers.length];
      if (found === undefined) throw new Error('servers are not running');
      return found;
    };

    async function customer(via: ServerProcess, deposit: string | null): Promise<Customer> {
      counter += 1;
      const username = `mp${counter}_${crypto.randomBytes(3).toString('hex')}`;
      const base = via.baseUrl;
      const register = await httpJson(base, 'POST', '/api/v1/auth/register', {
        body: {
          username,
          password: PASSWORD,
          fullName: `Customer ${username}`,
          email: `${username}@example.com`,
        },
      });
      assert.equal(register.status, 201, JSON.stringify(register.body));
      const login = await httpJson<{ accessToken: string; refreshToken: string }>(
        base,
        'POST',
        '/api/v1/auth/login',
        { body: { username, password: PASSWORD } },
      );
      assert.equal(login.status, 200, JSON.stringify(login.body));
      const token = login.body.accessToken;
      const pin = await httpJson(base, 'PUT', '/api/v1/me/pin', {
        token,
        body: { password: PASSWORD, pin: PIN },
      });
      assert.equal(pin.status, 204, JSON.stringify(pin.body));
      const opened = await httpJson<{ accountNumber: string }>(base, 'POST', '/api/v1/accounts', {
        token,
        body: {},
      });
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      const account = opened.body.accountNumber;
      if (deposit !== null) {
        const funded = await httpJson(base, 'POST', `/api/v1/accounts/${account}/deposits`, {
          token,
          body: { amount: deposit },
        });
        assert.equal(funded.status, 201, JSON.stringify(funded.body));
      }
      return { username, token, refreshToken: login.body.refreshToken, account };
    }

    function transfer(via: ServerProcess, from: Customer, to: Customer, amount: string) {
      return httpJson<{ code?: string }>(
        via.baseUrl,
        'POST',
        `/api/v1/accounts/${from.account}/transfers`,
        { token: from.token, body: { toAccount: to.account, amount, pin: PIN } },
      );
    }

    function withdraw(via: ServerProcess, from: Customer, amount: string) {
      return httpJson<{ code?: string }>(
        via.baseUrl,
        'POST',
        `/api/v1/accounts/${from.account}/withdrawals`,
        { token: from.token, body: { amount, pin: PIN } },
      );
    }

    /** The balance as each process reports it; both must agree. */
    async function balance(of: Customer): Promise<string> {
      const seen = await Promise.all(
        servers.map(async (s) => {
          const response = await httpJson<{ balance: string }>(
            s.baseUrl,
            'GET',
            `/api/v1/accounts/${of.account}`,
            { token: of.token },
          );
          assert.equal(response.status, 200, JSON.stringify(response.body));
          return response.body.balance;
        }),
      );
      assert.equal(new Set(seen).size, 1, `the processes disagree: ${seen.join(' vs ')}`);
      return seen[0] ?? '';
    }

    async function ledgerVerify(): Promise<void> {
      const verify = await group.runCli(['ledger', 'verify'], { env, timeoutMs: 60_000 });
      assert.equal(verify.code, 0, `${verify.stdout}${verify.stderr}`);
      assert.match(verify.stdout, /ledger verify: OK/);
    }

    before(async () => {
      database = await createTestDatabase('postgres');
      env = childEnv(database.env, { REDIS_URL, RATE_LIMITS: 'off' });
      // One after the other: the first applies the migrations, the second finds them done.
      for (let i = 0; i < 2; i++) {
        const port = await freePort();
        servers.push(
          await group.startServer(
            childEnv(database.env, {
              HOST: '127.0.0.1',
              PORT: String(port),
              REDIS_URL,
              RATE_LIMITS: 'off',
              LOG_LEVEL: 'info',
              // Long enough that only the Redis message can end a session in the other process.
              SESSION_CACHE_TTL_MS: '60000',
            }),
            60_000,
          ),
        );
      }
      assert.notEqual(server(0).child.pid, server(1).child.pid);
    });

    after(async () => {
      // Graceful stops close the pools, so the database can be dropped without force.
      await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
      await group.killAll();
      await database?.dispose();
    });

    it(
      'opposite transfers A→B and B→A through both processes: all commit, balances exact',
      TIMEOUT,
      async () => {
        const alice = await customer(server(0), '100.00');
        const bob = await customer(server(1), '100.00');
        const rounds = 40;
        // Each direction alternates between the processes, so every pair of opposite
        // transfers in flight has one on each side, each locking the same two accounts.
        const responses = await Promise.all(
          Array.from({ length: rounds }, (_, i) => [
            transfer(server(i), alice, bob, '1.00'),
            transfer(server(i + 1), bob, alice, '0.50'),
          ]).flat(),
        );
        const statuses = responses.map((r) => r.status);
        assert.deepEqual(
          statuses.filter((s) => s !== 201),
          [],
          JSON.stringify(responses.find((r) => r.status !== 201)?.body),
        );
        // 100 - 40 × 1.00 + 40 × 0.50 and 100 + 40 × 1.00 - 40 × 0.50.
        assert.equal(await balance(alice), '80.00');
        assert.equal(await balance(bob), '120.00');
        await ledgerVerify();
      },
    );

    it(
      'whole-balance double spends split across both processes: exactly one succeeds',
      TIMEOUT,
      async () => {
        const payees = [await customer(server(0), null), await customer(server(1), null)];
        const expectedMinor = [0n, 0n];
        const rounds = 5;
        const attemptsPerRound = 8;
        for (let round = 0; round < rounds; round++) {
          const payer = await customer(server(round), '25.00');
          // Half the attempts through each process; a withdrawal of the whole balance
          // competes with the transfers, so two kinds of command race for the same funds.
          const responses = await Promise.all(
            Array.from({ length: attemptsPerRound }, (_, i) => {
              const via = server(i);
              if (i === attemptsPerRound - 1) return withdraw(via, payer, '25.00');
              return transfer(via, payer, payees[i % payees.length] as Customer, '25.00');
            }),
          );
          const winners = responses.flatMap((r, i) => (r.status === 201 ? [i] : []));
          assert.equal(
            winners.length,
            1,
            `round ${round}: ${JSON.stringify(responses.map((r) => r.status))}`,
          );
          for (const refused of responses.filter((r) => r.status !== 201)) {
            assert.equal(refused.status, 422, JSON.stringify(refused.body));
            assert.equal(refused.body.code, 'INSUFFICIENT_FUNDS');
          }
          const winner = winners[0] ?? -1;
          if (winner !== attemptsPerRound - 1) {
            const payee = winner % payees.length;
            expectedMinor[payee] = (expectedMinor[payee] ?? 0n) + 2500n;
          }
          assert.equal(await balance(payer), '0.00');
        }
        // Each payee holds exactly what the winning transfers sent it.
        for (const [index, payee] of payees.entries()) {
          const minor = expectedMinor[index] ?? 0n;
          const expected = `${minor / 100n}.${String(minor % 100n).padStart(2, '0')}`;
          assert.equal(await balance(payee), expected);
        }
        await ledgerVerify();
      },
    );

    it('a logout through one process ends the session in the other at once', TIMEOUT, async () => {
      const someone = await customer(server(0), null);
      const me = (via: ServerProcess) =>
        httpJson(via.baseUrl, 'GET', '/api/v1/me', { token: someone.token });
      assert.equal((await me(server(1))).status, 200, 'the second process caches the session');
      const out = await httpJson(server(0).baseUrl, 'POST', '/api/v1/auth/logout', {
        token: someone.token,
        body: { refreshToken: someone.refreshToken },
      });
      assert.equal(out.status, 204, JSON.stringify(out.body));
      // Redis carries the revocation; the bound is far below the session cache lifetime.
      let status = 0;
      for (let attempt = 0; attempt < 40; attempt++) {
        status = (await me(server(1))).status;
        if (status === 401) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(status, 401, 'the second process still accepts a logged-out token');
    });
  });
}
