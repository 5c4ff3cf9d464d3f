import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import {
  type BackoffPolicy,
  delayAfter,
  LoginBackoff,
  MemoryBackoffStore,
  RedisBackoffStore,
} from '../src/auth/login-backoff.ts';
import { CorebankError } from '../src/errors.ts';
import { assertProblem, auditEvents } from './support/auth-helpers.ts';
import { createTestApp, DEFAULT_PASSWORD, ENGINES, type TestApp } from './support/harness.ts';

/**
 * Login back-off: growing waits after wrong passwords, per client+username and per
 * username, answered with 429 RATE_LIMITED and Retry-After before the password is checked,
 * and identical for usernames that do not exist.
 */
const POLICY: BackoffPolicy = { freeFailures: 2, baseDelayMs: 1000, maxDelayMs: 900_000 };

describe('back-off schedule (pure)', () => {
  const table: ReadonlyArray<[number, number]> = [
    [0, 0],
    [1, 0],
    [2, 0],
    [3, 1000],
    [4, 2000],
    [5, 4000],
    [12, 512_000],
    [13, 900_000],
    [500, 900_000],
  ];
  for (const [failures, delay] of table) {
    it(`${failures} failures wait ${delay} ms`, () =>
      assert.equal(delayAfter(failures, POLICY), delay));
  }

  for (const store of ['memory', 'redis'] as const) {
    it(`grows, expires with time and resets on success (${store} store)`, async () => {
      let now = 1_000_000;
      const redis =
        store === 'redis'
          ? new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379')
          : null;
      try {
        const backing =
          redis === null
            ? new MemoryBackoffStore()
            : new RedisBackoffStore(redis, `corebank:test:${process.pid}:${Date.now()}:`);
        const backoff = new LoginBackoff(
          backing,
          { perClient: POLICY, perUsername: { ...POLICY, freeFailures: 100 } },
          () => now,
        );
        const retryAfter = async () => {
          try {
            await backoff.assertAllowed('Victim', '10.0.0.1');
            return 0;
          } catch (error) {
            assert.ok(error instanceof CorebankError && error.code === 'RATE_LIMITED');
            return error.retryAfterSeconds ?? -1;
          }
        };
        await backoff.recordFailure('victim', '10.0.0.1');
        await backoff.recordFailure('victim', '10.0.0.1');
        assert.equal(await retryAfter(), 0, 'two free failures');
        await backoff.recordFailure('victim', '10.0.0.1');
        assert.equal(await retryAfter(), 1);
        await backoff.recordFailure('victim', '10.0.0.1');
        assert.equal(await retryAfter(), 2);
        // Another client is not held up by this one's key.
        await backoff.assertAllowed('victim', '10.0.0.2');
        now += 2000;
        assert.equal(await retryAfter(), 0, 'the wait runs out');
        await backoff.recordFailure('victim', '10.0.0.1');
        assert.equal(await retryAfter(), 4, 'and the next failure doubles it');
        await backoff.recordSuccess('victim', '10.0.0.1');
        assert.equal(await retryAfter(), 0, 'a success resets the client key');
      } finally {
        redis?.disconnect();
      }
    });
  }
});

for (const engine of ENGINES) {
  describe(`login back-off [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, {
        RATE_LIMITS: 'off',
        LOGIN_BACKOFF_FREE_FAILURES: '2',
        LOGIN_BACKOFF_USERNAME_FREE_FAILURES: '6',
        LOGIN_BACKOFF_BASE_MS: '1500',
        LOGIN_BACKOFF_USERNAME_MAX_MS: '2000',
      });
    });
    after(() => t.close());

    const login = (username: string, password: string, ip = '127.0.0.1') =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        remoteAddress: ip,
        payload: { username, password },
      });

    /** Status, problem code and Retry-After of each attempt: what a prober can observe. */
    async function probe(username: string, passwords: string[]) {
      const seen: Array<[number, string, string | undefined]> = [];
      for (const password of passwords) {
        const response = await login(username, password);
        const body = response.json() as { code?: string; detail?: string };
        const retry = response.headers['retry-after'];
        seen.push([
          response.statusCode,
          `${body.code}:${body.detail}`,
          retry === undefined ? undefined : String(retry),
        ]);
      }
      return seen;
    }

    it('throttles after wrong passwords with 429 RATE_LIMITED and Retry-After, before checking the password', async () => {
      const user = await t.customer({ pin: null });
      for (let i = 0; i < 3; i++) {
        assert.equal((await login(user.username, 'wrong password number')).statusCode, 401);
      }
      // Even the right password is refused while the wait lasts: nothing is checked.
      const throttled = await login(user.username, DEFAULT_PASSWORD);
      assert.equal(throttled.statusCode, 429, throttled.body);
      assert.match(String(throttled.headers['content-type']), /^application\/problem\+json/);
      assert.equal((throttled.json() as { code: string }).code, 'RATE_LIMITED');
      const retryAfter = Number(throttled.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 2, String(retryAfter));
      // Another client (the real owner elsewhere) is not locked out by a stranger.
      assert.equal((await login(user.username, DEFAULT_PASSWORD, '10.9.8.7')).statusCode, 200);
      await new Promise((resolve) => setTimeout(resolve, 1600));
      assert.equal((await login(user.username, DEFAULT_PASSWORD)).statusCode, 200);
      // The success reset this client's counter: one wrong password is free again.
      assert.equal((await login(user.username, 'wrong password number')).statusCode, 401);
      assert.equal((await login(user.username, DEFAULT_PASSWORD)).statusCode, 200);
    });

    it('answers an unknown username exactly like a real one at every step', async () => {
      const user = await t.customer({ pin: null });
      const ghost = t.uniqueName('ghost');
      const attempts = [
        'wrong one number 1',
        'wrong one number 2',
        'wrong one number 3',
        'wrong one 4',
      ];
      const real = await probe(user.username, attempts);
      const unknown = await probe(ghost, attempts);
      assert.deepEqual(unknown, real);
      assert.deepEqual(
        real.map(([status]) => status),
        [401, 401, 401, 429],
      );
    });

    it('many clients guessing one username hit a capped per-username wait, then the owner gets in', async () => {
      const user = await t.customer({ pin: null });
      for (let i = 0; i < 7; i++) {
        const response = await login(user.username, 'distributed guess', `10.1.0.${i + 1}`);
        assert.equal(response.statusCode, 401, response.body);
      }
      const blocked = await login(user.username, DEFAULT_PASSWORD, '10.2.0.1');
      assertProblem(
        { status: blocked.statusCode, body: blocked.json(), headers: blocked.headers },
        429,
        'RATE_LIMITED',
      );
      assert.ok(Number(blocked.headers['retry-after']) <= 2, 'per-username wait is capped');
      await new Promise((resolve) => setTimeout(resolve, 2100));
      assert.equal((await login(user.username, DEFAULT_PASSWORD, '10.2.0.1')).statusCode, 200);
    });

    it('audits login success and failure under username:<name>, never with the password', async () => {
      const user = await t.customer({ pin: null });
      await login(user.username, 'a wrong secret guess');
      await login(user.username, DEFAULT_PASSWORD);
      const events = (await auditEvents(t, 'auth.login')).filter(
        (e) => e.target === `username:${user.username}`,
      );
      const outcomes = events.map((e) => e.outcome);
      assert.ok(outcomes.includes('failure') && outcomes.includes('success'), outcomes.join());
      assert.equal(events.find((e) => e.outcome === 'success')?.actor_user_id, user.id);
      for (const event of events) {
        const text = JSON.stringify({ ...event, id: String(event.id) });
        assert.ok(!text.includes('a wrong secret guess'));
        assert.ok(!text.includes(DEFAULT_PASSWORD));
      }
    });
  });
}
