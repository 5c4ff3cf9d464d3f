import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  makeCustomers,
  OwnRedis,
  PASSWORD,
  percentile,
  runLoad,
  sleep,
  waitFor,
} from '../support/chaos.ts';
import { createTestDatabase, type TestDatabase } from '../support/harness.ts';
import { childEnv, freePort, httpJson, ProcessGroup } from '../support/process.ts';

/**
 * Redis killed and restarted under load, on a Redis this test starts itself: no 500, bounded
 * latency (rate limits fall back to in-process counters), readiness names Redis while it is
 * gone, a logout still ends the session at once (the revocation check is not skipped: the
 * session cache is bypassed while revocations cannot arrive). And a server started while
 * Redis is down starts, says so in readiness, and reports ready once Redis is there.
 */
const TIMEOUT = { timeout: 240_000 };

describe('Redis taken away', () => {
  const processes = new ProcessGroup();
  const cleanups: Array<() => Promise<void>> = [];

  after(async () => {
    await processes.killAll();
    for (const cleanup of cleanups) await cleanup();
  });

  async function serverEnv(redisUrl: string): Promise<NodeJS.ProcessEnv> {
    const db: TestDatabase = await createTestDatabase('sqlite');
    cleanups.push(() => db.dispose());
    return childEnv(db.env, {
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      REDIS_URL: redisUrl,
      // Limits on, shared through Redis, high enough that the load itself is never limited.
      RATE_LIMITS: 'on',
      RATE_LIMIT_TRANSFERS_PER_MINUTE: '100000',
      RATE_LIMIT_LOGIN_PER_MINUTE: '1000',
    });
  }

  it(
    'killed and restarted under load: no 500, bounded latency, readiness reports it',
    TIMEOUT,
    async () => {
      const redis = await OwnRedis.create();
      cleanups.push(() => redis.dispose());
      const env = await serverEnv(redis.url);
      const server = await processes.startServer(env);
      const url = server.baseUrl;
      const customers = await makeCustomers(url, 5, 'redisout_');
      const ready = () => httpJson(url, 'GET', '/health/ready');
      assert.equal((await ready()).status, 200);
      assert.equal((await ready()).body.redis, 'ok');

      let downUntil = 0;
      let back = 0;
      let recoveryMs = 0;
      let killedAtMs = 0;
      const load = runLoad(() => url, customers, 12, 'redisout');
      try {
        await sleep(700);
        killedAtMs = Date.now();
        await redis.kill9();
        await waitFor('readiness names redis', async () => {
          const r = await ready();
          return r.status === 503 && JSON.stringify(r.body.unavailable) === '["redis"]';
        });
        // Logins still work (back-off counts in process), and a logout still ends the session.
        const login = await httpJson<{ accessToken: string; refreshToken: string }>(
          url,
          'POST',
          '/api/v1/auth/login',
          {
            body: { username: 'redisout_0', password: PASSWORD },
          },
        );
        assert.equal(login.status, 200, JSON.stringify(login.body));
        const token = login.body.accessToken;
        assert.equal((await httpJson(url, 'GET', '/api/v1/me', { token })).status, 200);
        const logout = await httpJson(url, 'POST', '/api/v1/auth/logout', {
          token,
          body: { refreshToken: login.body.refreshToken },
        });
        assert.equal(logout.status, 204, JSON.stringify(logout.body));
        assert.equal((await httpJson(url, 'GET', '/api/v1/me', { token })).status, 401);
        await sleep(1500);
        downUntil = load.attempts.length;
        await redis.start();
        back = performance.now();
        recoveryMs = await waitFor(
          'readiness after Redis returns',
          async () => (await ready()).status === 200,
          10_000,
        );
        await sleep(700);
      } finally {
        await load.stop();
      }

      assert.equal(server.child.exitCode, null, 'the server is still running');
      const statuses: Record<number, number> = {};
      for (const a of load.attempts) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
      assert.deepEqual(
        load.attempts.filter((a) => a.status !== 201).map((a) => `${a.status} ${a.code}`),
        [],
        'every transfer was acknowledged, Redis or not',
      );
      const p99 = percentile(
        load.attempts.map((a) => a.latencyMs),
        0.99,
      );
      const slowest = Math.max(...load.attempts.map((a) => a.latencyMs));
      assert.ok(slowest < 2000, `slowest answer ${Math.round(slowest)} ms`);
      const lines = server.logLines();
      // The outage this test makes is logged once, and it is the only one: a Redis command
      // that timed out under the load, on a connection that stayed up, is logged as slow and
      // is not an outage, and the clients do not drop their connections under load.
      const downs = lines.filter((l) => l.msg === 'redis unavailable');
      assert.equal(
        downs.length,
        1,
        `the outage is logged once: ${JSON.stringify(downs.map((l) => ({ at: Number(l.time) - killedAtMs, cause: l.cause })))}`,
      );
      assert.ok(Number(downs[0]?.time) >= killedAtMs, 'and not before the kill');
      const slow = lines.filter((l) => String(l.msg).startsWith('redis slow')).length;
      assert.ok(lines.some((l) => l.msg === 'redis recovered'));
      assert.ok(
        lines.every((l) => l.msg !== 'request failed'),
        'no request failed as internal',
      );
      process.stdout.write(
        `# redis kill -9 under load: ${JSON.stringify(statuses)} (${downUntil} before restart), p99 ${Math.round(p99)} ms, slowest ${Math.round(slowest)} ms, ready ${Math.round(recoveryMs)} ms after restart (${Math.round(performance.now() - back)} ms incl. settle), ${slow} slow-Redis log lines\n`,
      );
      await server.stop('SIGTERM');
    },
  );

  it(
    'a server started while Redis is down starts, reports it, and becomes ready',
    TIMEOUT,
    async () => {
      const redis = await OwnRedis.create(false);
      cleanups.push(() => redis.dispose());
      const env = await serverEnv(redis.url);
      const server = await processes.startServer(env);
      const url = server.baseUrl;
      const ready = await httpJson(url, 'GET', '/health/ready');
      assert.equal(ready.status, 503, JSON.stringify(ready.body));
      assert.deepEqual(ready.body.unavailable, ['redis']);
      assert.ok(ready.headers.get('retry-after') !== null);
      // Serving meanwhile: registration, login (rate-limited route) and a deposit.
      const [customer] = await makeCustomers(url, 1, 'redisdown_');
      assert.ok(customer !== undefined);
      await redis.start();
      await waitFor(
        'ready once Redis is up',
        async () => (await httpJson(url, 'GET', '/health/ready')).status === 200,
        15_000,
      );
      await server.stop('SIGTERM');
    },
  );
});
