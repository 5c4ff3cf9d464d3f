import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../src/app.ts';
import type { App } from '../src/http/types.ts';
import {
  createTestApp,
  DEFAULT_PIN,
  ENGINES,
  type TestApp,
  type TestUser,
} from './support/harness.ts';

/**
 * Request rate limits (contract: login 5/min per client and username, transfers 5/min and
 * deposits and withdrawals 20/min per user), with counters in memory and in Redis, where
 * two server instances count together.
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | number | undefined>;
}

async function call(
  app: App,
  method: 'GET' | 'POST',
  url: string,
  options: { body?: unknown; token?: string; remoteAddress?: string } = {},
): Promise<Answer> {
  const response = await app.inject({
    method,
    url,
    headers: {
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { payload: JSON.stringify(options.body) }),
    ...(options.remoteAddress === undefined ? {} : { remoteAddress: options.remoteAddress }),
  });
  const text = response.body;
  return {
    status: response.statusCode,
    body: text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: response.headers,
  };
}

function assertRateLimited(response: Answer): void {
  const context = JSON.stringify(response.body);
  assert.equal(response.status, 429, context);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  assert.equal(response.body.code, 'RATE_LIMITED', context);
  assert.equal(response.body.status, 429);
  assert.equal(typeof response.body.title, 'string');
  assert.equal(typeof response.body.detail, 'string');
  const retryAfter = Number(response.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `${retryAfter}`);
}

function login(app: App, username: string, password: string, remoteAddress?: string) {
  return call(app, 'POST', '/api/v1/auth/login', {
    body: { username, password },
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  });
}

function transfer(app: App, user: TestUser, from: string, to: string) {
  return call(app, 'POST', `/api/v1/accounts/${from}/transfers`, {
    token: user.token,
    body: { toAccount: to, amount: '1.00', pin: DEFAULT_PIN },
  });
}

function deposit(app: App, user: TestUser, account: string) {
  return call(app, 'POST', `/api/v1/accounts/${account}/deposits`, {
    token: user.token,
    body: { amount: '1.00' },
  });
}

function withdraw(app: App, user: TestUser, account: string) {
  return call(app, 'POST', `/api/v1/accounts/${account}/withdrawals`, {
    token: user.token,
    body: { amount: '1.00', pin: DEFAULT_PIN },
  });
}

for (const engine of ENGINES) {
  describe(`rate limits, in-memory counters [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { RATE_LIMITS: 'on' });
    });
    after(() => t.close());

    it('the 6th login in a minute for one client and username is refused, right password or not', async () => {
      const user = await t.customer({ pin: null });
      // customer() logged in once already; four more reach the limit of 5. Right passwords,
      // so the login back-off (a separate defence against wrong ones) stays out of it.
      for (let i = 0; i < 4; i++) {
        const response = await login(t.app, user.username, user.password);
        assert.equal(response.status, 200, `attempt ${i + 2}`);
        assert.equal(response.headers['x-ratelimit-limit'], '5');
      }
      assertRateLimited(await login(t.app, user.username, user.password));
      assertRateLimited(await login(t.app, user.username.toUpperCase(), user.password));
      // Another username from the same client, and the same username from another client,
      // have their own budgets: one attacker cannot lock everybody out.
      const other = await t.customer({ pin: null });
      assert.equal((await login(t.app, other.username, other.password)).status, 200);
      assert.equal((await login(t.app, user.username, user.password, '192.0.2.7')).status, 200);
    });

    it('malformed login attempts count too', async () => {
      const name = t.uniqueName('ghost');
      for (let i = 0; i < 5; i++) {
        const response = await call(t.app, 'POST', '/api/v1/auth/login', {
          body: { username: name, password: 'x', extra: true },
        });
        assert.equal(response.status, 400);
      }
      assertRateLimited(await login(t.app, name, 'whatever password'));
    });

    it('the 6th transfer in a minute by one user is refused, across all their accounts', async () => {
      const { user, account } = await t.fundedCustomer('100.00');
      const second = await t.openAccount(user);
      const payee = await t.fundedCustomer('1.00');
      for (let i = 0; i < 5; i++) {
        const response = await transfer(t.app, user, account, payee.account);
        assert.equal(response.status, 201, JSON.stringify(response.body));
      }
      assertRateLimited(await transfer(t.app, user, account, payee.account));
      assertRateLimited(await transfer(t.app, user, second.accountNumber, payee.account));
      assert.equal(await t.balance(user, account), '95.00');
      // The payee's own transfers are not limited by someone else's.
      assert.equal((await transfer(t.app, payee.user, payee.account, account)).status, 201);
    });

    it('deposits and withdrawals: the 21st in a minute is refused, each counted per user', async () => {
      const user = await t.customer();
      const { accountNumber } = await t.openAccount(user);
      for (let i = 0; i < 20; i++) {
        assert.equal((await deposit(t.app, user, accountNumber)).status, 201, `deposit ${i + 1}`);
      }
      assertRateLimited(await deposit(t.app, user, accountNumber));
      for (let i = 0; i < 20; i++) {
        assert.equal((await withdraw(t.app, user, accountNumber)).status, 201, `withdraw ${i + 1}`);
      }
      assertRateLimited(await withdraw(t.app, user, accountNumber));
      assert.equal(await t.balance(user, accountNumber), '0.00');
    });

    it('routes without a limit are not limited', async () => {
      const user = await t.customer({ pin: null });
      for (let i = 0; i < 30; i++) {
        assert.equal((await call(t.app, 'GET', '/api/v1/me', { token: user.token })).status, 200);
      }
    });
  });

  describe(`rate limits, configuration [${engine}]`, () => {
    it('each limit is configurable', async () => {
      const t = await createTestApp(engine, {
        RATE_LIMITS: 'on',
        RATE_LIMIT_LOGIN_PER_MINUTE: '2',
        RATE_LIMIT_CASH_PER_MINUTE: '3',
      });
      try {
        const user = await t.customer({ pin: null });
        assert.equal((await login(t.app, user.username, user.password)).status, 200);
        assertRateLimited(await login(t.app, user.username, user.password));
        const other = await t.customer({ pin: null });
        const { accountNumber } = await t.openAccount(other);
        for (let i = 0; i < 3; i++) {
          assert.equal((await deposit(t.app, other, accountNumber)).status, 201);
        }
        assertRateLimited(await deposit(t.app, other, accountNumber));
      } finally {
        await t.close();
      }
    });

    it('RATE_LIMITS=off turns every limit off', async () => {
      const t = await createTestApp(engine, { RATE_LIMITS: 'off' });
      try {
        const user = await t.customer({ pin: null });
        // Right passwords, so the login back-off (a separate defence) stays out of it.
        for (let i = 0; i < 12; i++) {
          const response = await login(t.app, user.username, user.password);
          assert.equal(response.status, 200);
          assert.equal(response.headers['x-ratelimit-limit'], undefined);
        }
      } finally {
        await t.close();
      }
    });
  });
}

describe('rate limits, Redis counters shared by two server instances', () => {
  let t: TestApp;
  let second: App;
  before(async () => {
    t = await createTestApp(ENGINES[ENGINES.length - 1] ?? 'sqlite', {
      RATE_LIMITS: 'on',
      REDIS_URL,
    });
    // A second server process: its own app and Redis connection, the same database.
    second = await buildApp(t.runtime);
    await second.ready();
  });
  after(async () => {
    await second.close();
    await t.close();
  });

  it('logins on both instances count together: the 6th is refused', async () => {
    const user = await t.customer({ pin: null });
    // One login happened on the first instance; alternate for four more.
    for (let i = 0; i < 4; i++) {
      const app = i % 2 === 0 ? second : t.app;
      assert.equal((await login(app, user.username, user.password)).status, 200);
    }
    assertRateLimited(await login(second, user.username, user.password));
    assertRateLimited(await login(t.app, user.username, user.password));
  });

  it('transfers on both instances count together: the 6th is refused', async () => {
    const { user, account } = await t.fundedCustomer('100.00');
    const payee = await t.fundedCustomer('1.00');
    for (let i = 0; i < 5; i++) {
      const app = i % 2 === 0 ? second : t.app;
      assert.equal((await transfer(app, user, account, payee.account)).status, 201);
    }
    assertRateLimited(await transfer(t.app, user, account, payee.account));
    assertRateLimited(await transfer(second, user, account, payee.account));
  });

  it('the counters live in Redis with a one-minute expiry', async () => {
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const user = await t.customer({ pin: null });
      const keys = await redis.keys(`corebank:rate-limit:*${user.username}*`);
      assert.equal(keys.length, 1, JSON.stringify(keys));
      const key = keys[0] ?? '';
      assert.equal(await redis.get(key), '1');
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= 60_000, `${ttl}`);
    } finally {
      await redis.quit();
    }
  });
});
