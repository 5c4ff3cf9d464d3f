import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { WaitAdmission } from '../src/ledger/admission.ts';
import { reliabilityOf } from '../src/reliability/context.ts';
import { DependencyMonitor, dependencyFailureOf } from '../src/reliability/dependencies.ts';
import {
  EntryAdmission,
  INITIAL_IN_FLIGHT,
  MIN_IN_FLIGHT,
} from '../src/reliability/entry-admission.ts';
import { RedisWatch, redisClientOptions } from '../src/reliability/redis.ts';
import { OwnRedis, sleep, waitFor } from './support/chaos.ts';
import {
  createTestApp,
  createTestDatabase,
  ENGINES,
  type TestApp,
  type TestDatabase,
} from './support/harness.ts';
import { childEnv, freePort, ProcessGroup } from './support/process.ts';

/**
 * The quick half of the reliability work (the slow half is `npm run test:chaos`): which
 * errors are outages, the shedding decision, readiness naming Redis when it is absent at
 * start, and the verify commands refusing a database that is not there without creating it.
 */
describe('dependency failures are recognised by their real cause', () => {
  const cases: Array<[string, unknown, string | undefined]> = [
    [
      'SQLite disk full',
      { errcode: 13, errstr: 'database or disk is full', message: 'x' },
      'database',
    ],
    [
      'SQLite I/O error (extended code)',
      { errcode: 10 | (4 << 8), errstr: 'disk I/O error' },
      'database',
    ],
    ['SQLite busy', { errcode: 5, errstr: 'database is locked' }, 'database'],
    [
      'SQLite constraint is a bug, not an outage',
      { errcode: 2067, errstr: 'UNIQUE constraint failed' },
      undefined,
    ],
    [
      'PostgreSQL admin shutdown',
      { code: '57P01', message: 'terminating connection due to administrator command' },
      'database',
    ],
    [
      'PostgreSQL cannot connect now',
      { code: '57P03', message: 'the database system is starting up' },
      'database',
    ],
    [
      'PostgreSQL connection exception class',
      { code: '08006', message: 'connection failure' },
      'database',
    ],
    [
      'PostgreSQL statement timeout',
      { code: '57014', message: 'canceling statement due to statement timeout' },
      'database',
    ],
    [
      'connection refused',
      { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' },
      'database',
    ],
    ['pg connection ended', new Error('Connection terminated unexpectedly'), 'database'],
    ['pg pool timeout', new Error('timeout exceeded when trying to connect'), 'database'],
    [
      'wrapped in an AggregateError',
      new AggregateError([{ code: 'ECONNREFUSED', message: 'x' }]),
      'database',
    ],
    ['Redis closed', new Error('Connection is closed.'), 'redis'],
    ['Redis command timeout', new Error('Command timed out'), 'redis'],
    [
      'PostgreSQL unique violation is not an outage',
      { code: '23505', message: 'duplicate key' },
      undefined,
    ],
    ['a plain bug', new TypeError('x is undefined'), undefined],
    ['not an object', 'boom', undefined],
  ];
  for (const [name, error, dependency] of cases) {
    it(name, () => {
      assert.equal(dependencyFailureOf(error)?.dependency, dependency);
    });
  }
  it('a Redis command timeout is slow, a closed connection an outage', () => {
    assert.equal(dependencyFailureOf(new Error('Command timed out'))?.kind, 'slow');
    assert.equal(dependencyFailureOf(new Error('Connection is closed.'))?.kind, 'outage');
    assert.equal(dependencyFailureOf({ code: '57P01', message: 'x' })?.kind, 'outage');
  });
  it('names SQLITE_FULL in the cause', () => {
    assert.match(
      String(dependencyFailureOf({ errcode: 13, errstr: 'database or disk is full' })?.cause),
      /^SQLITE_FULL: /,
    );
  });
});

describe('shedding by waiting time', () => {
  it('admits everything before the first batch and while batches are fast', () => {
    const admission = new WaitAdmission({ maxWaitMs: 100, maxBatchSize: 10, concurrency: 1 });
    assert.equal(admission.admit(1000, 1), undefined, 'no estimate yet');
    admission.recordBatch(20);
    assert.equal(admission.admit(0, 1), undefined, '20 ms behind the batch in flight');
    assert.equal(admission.admit(39, 1), undefined, '3 rounds + 1 = 80 ms');
  });
  it('refuses at once when the estimated wait passes the deadline, with Retry-After', () => {
    const admission = new WaitAdmission({ maxWaitMs: 100, maxBatchSize: 10, concurrency: 1 });
    admission.recordBatch(20);
    const refusal = admission.admit(50, 1);
    assert.equal(refusal?.code, 'SERVICE_UNAVAILABLE', '5 rounds + 1 = 120 ms');
    assert.equal(refusal?.retryAfterSeconds, 1);
    assert.equal(admission.shed, 1);
  });
  it('spreads the wait over concurrent batches', () => {
    const admission = new WaitAdmission({ maxWaitMs: 100, maxBatchSize: 10, concurrency: 4 });
    admission.recordBatch(20);
    assert.equal(admission.admit(50, 4), undefined, '1 round + 1 = 40 ms');
    assert.equal(admission.admit(50, 3), undefined, 'a free slot');
  });
  it('refuses a command that has already waited past the deadline', () => {
    const admission = new WaitAdmission({ maxWaitMs: 100, maxBatchSize: 10, concurrency: 1 });
    assert.equal(admission.expired(0, 100), undefined);
    assert.equal(admission.expired(0, 101)?.code, 'SERVICE_UNAVAILABLE');
  });
  it('refuses nonsense bounds', () => {
    assert.throws(() => new WaitAdmission({ maxWaitMs: 0, maxBatchSize: 1, concurrency: 1 }));
  });
});

describe('shedding at the door', () => {
  function fill(gate: EntryAdmission, count: number, nowMs: number): number[] {
    const tickets: number[] = [];
    for (let i = 0; i < count; i++) {
      const ticket = gate.tryEnter(nowMs);
      if (ticket !== undefined) tickets.push(ticket);
    }
    return tickets;
  }

  it('starts small and sheds beyond the limit at once', () => {
    const gate = new EntryAdmission({ targetMs: 250, maxInFlight: 1024 });
    assert.equal(fill(gate, 100, 0).length, INITIAL_IN_FLIGHT);
    assert.equal(gate.shed, 100 - INITIAL_IN_FLIGHT);
    assert.equal(gate.inFlight, INITIAL_IN_FLIGHT);
  });

  it('grows while the latency is well under the target and the limit holds requests back', () => {
    const gate = new EntryAdmission({ targetMs: 250, maxInFlight: 1024 });
    let now = 0;
    for (let window = 0; window < 60; window++) {
      const tickets = fill(gate, 2000, now);
      now += 10;
      for (const ticket of tickets) gate.leave(ticket, now);
      gate.adjust(now, 5);
    }
    assert.ok(gate.limit > 500, `limit ${gate.limit}`);
    assert.ok(gate.limit <= 1024);
  });

  it('cuts the limit by what Little says, when answers or the requests in flight are late', () => {
    const gate = new EntryAdmission({ targetMs: 200, maxInFlight: 1024 });
    fill(gate, INITIAL_IN_FLIGHT, 0);
    // Nothing answered for 400 ms: the ages of the requests in flight are the news.
    gate.adjust(400, 0);
    assert.equal(gate.limit, Math.max(MIN_IN_FLIGHT, INITIAL_IN_FLIGHT / 2));
    assert.ok(gate.observedMs >= 400);
  });

  it('counts the event loop delay as latency', () => {
    const gate = new EntryAdmission({ targetMs: 200, maxInFlight: 1024 });
    const tickets = fill(gate, INITIAL_IN_FLIGHT, 0);
    for (const ticket of tickets) gate.leave(ticket, 10);
    gate.adjust(10, 300);
    assert.ok(gate.limit < INITIAL_IN_FLIGHT, `limit ${gate.limit}`);
  });

  it('always admits a few, and never cuts when only a few are in flight', () => {
    const gate = new EntryAdmission({ targetMs: 100, maxInFlight: 1024 });
    for (let window = 0; window < 20; window++) {
      const tickets = fill(gate, INITIAL_IN_FLIGHT, 0);
      gate.adjust(5000, 1000);
      for (const ticket of tickets) gate.leave(ticket, 5000);
    }
    assert.equal(gate.limit, MIN_IN_FLIGHT);
    assert.equal(fill(gate, MIN_IN_FLIGHT, 0).length, MIN_IN_FLIGHT);
    const slow = new EntryAdmission({ targetMs: 100, maxInFlight: 1024 });
    const few = fill(slow, MIN_IN_FLIGHT - 1, 0);
    slow.adjust(5000, 0);
    assert.equal(slow.limit, INITIAL_IN_FLIGHT, 'a slow machine with few requests is no overload');
    assert.equal(few.length, MIN_IN_FLIGHT - 1);
  });

  it('a ticket given back twice counts once', () => {
    const gate = new EntryAdmission({ targetMs: 100, maxInFlight: 64 });
    const [ticket] = fill(gate, 1, 0);
    assert.ok(ticket !== undefined);
    gate.leave(ticket, 1);
    gate.leave(ticket, 2);
    assert.equal(gate.inFlight, 0);
  });

  it('refuses nonsense bounds', () => {
    assert.throws(() => new EntryAdmission({ targetMs: 0, maxInFlight: 64 }));
    assert.throws(() => new EntryAdmission({ targetMs: 100, maxInFlight: MIN_IN_FLIGHT - 1 }));
  });

  describe('in the app', () => {
    let t: TestApp | undefined;
    after(async () => {
      await t?.app.close();
      await t?.runtime.database.close();
      await t?.database.dispose();
    });

    it('answers 503 with Retry-After before any work, and never sheds the health checks', async () => {
      // At most 16 in flight; 48 logins at once (each hashes a password, so they overlap).
      t = await createTestApp('sqlite', {
        ADMISSION_TARGET_MS: '250',
        ADMISSION_MAX_IN_FLIGHT: '16',
      });
      const logins = Array.from({ length: 48 }, () =>
        t?.request('POST', '/api/v1/auth/login', {
          body: { username: 'nobody_here', password: 'correct horse battery staple' },
        }),
      );
      const health = [t.request('GET', '/health/live'), t.request('GET', '/health/ready')];
      const answers = await Promise.all(logins);
      const statuses = answers.map((a) => a?.status);
      const refused = answers.filter((a) => a?.status === 503);
      assert.ok(refused.length > 0, `some were shed: ${statuses}`);
      assert.ok(
        statuses.every((s) => s === 401 || s === 503),
        `401 or 503 only: ${statuses}`,
      );
      const first = refused[0];
      assert.ok(first !== undefined);
      assert.equal(first.headers['retry-after'], '1');
      assert.equal(first.headers['x-frame-options'], 'DENY');
      assert.equal(first.headers['cache-control'], 'no-store');
      assert.equal(first.body.code, 'SERVICE_UNAVAILABLE');
      assert.equal(typeof first.headers['x-request-id'], 'string');
      for (const answer of await Promise.all(health)) assert.equal(answer.status, 200);
    });
  });
});

describe('readiness with Redis absent at start', () => {
  let t: TestApp | undefined;
  after(async () => {
    await t?.app.close();
    await t?.runtime.database.close();
    await t?.database.dispose();
  });
  it('builds the app, serves, and answers 503 naming redis', async () => {
    const port = await freePort();
    t = await createTestApp('sqlite', {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      RATE_LIMITS: 'on',
    });
    const ready = await t.request('GET', '/health/ready');
    assert.equal(ready.status, 503, JSON.stringify(ready.body));
    assert.deepEqual(ready.body.unavailable, ['redis']);
    assert.equal(ready.headers['retry-after'], '1');
    // The rate-limited login still answers (in-process counters), not 500.
    const login = await t.request('POST', '/api/v1/auth/login', {
      body: { username: 'nobody_here', password: 'correct horse battery staple' },
    });
    assert.equal(login.status, 401, JSON.stringify(login.body));
  });
});

/**
 * Redis that answers late is not Redis that is gone. `CLIENT PAUSE` on the test's own
 * redis-server holds every command for a while with every connection up: commands time out,
 * the callers fall back, and that must be counted as slow, not reported as an outage, and
 * readiness must stay 200. It also must not make the client drop its connection: the
 * ready check's INFO used to time out on a reconnection during such a pause, which ioredis
 * treats as fatal, so the client closed and reconnected in a loop (src/reliability/redis.ts).
 */
describe('a slow Redis is slow, not down', () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function ownRedis(): Promise<{ redis: OwnRedis; admin: Redis }> {
    const redis = await OwnRedis.create();
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    admin.on('error', () => undefined);
    cleanups.push(async () => {
      admin.disconnect();
      await redis.dispose();
    });
    return { redis, admin };
  }

  it('commands held by CLIENT PAUSE: counted slow, no outage, readiness 200', async () => {
    const { redis, admin } = await ownRedis();
    const t = await createTestApp('sqlite', {
      REDIS_URL: redis.url,
      RATE_LIMITS: 'on',
      REDIS_COMMAND_TIMEOUT_MS: '100',
    });
    cleanups.push(async () => {
      await t.app.close();
      await t.runtime.database.close();
      await t.database.dispose();
    });
    await waitFor(
      'ready with Redis',
      async () => (await t.request('GET', '/health/ready')).status === 200,
    );
    const { monitor } = reliabilityOf(t.app);
    assert.equal(monitor.slowCalls('redis'), 0);

    // Long enough that a busy machine still sends the login's Redis commands inside it.
    assert.equal(await admin.client('PAUSE', '3000', 'ALL'), 'OK');
    // A rate-limited route whose counters live in Redis: answered from the local fallback.
    const login = await t.request('POST', '/api/v1/auth/login', {
      body: { username: 'nobody_here', password: 'correct horse battery staple' },
    });
    assert.equal(login.status, 401, JSON.stringify(login.body));
    assert.ok(monitor.slowCalls('redis') >= 1, 'the timed-out commands are counted as slow');
    const during = await t.request('GET', '/health/ready');
    assert.equal(during.status, 200, JSON.stringify(during.body));

    await sleep(3000);
    assert.equal(monitor.outages('redis'), 0, 'no outage was reported');
    assert.equal(monitor.isDown('redis'), false);
    assert.equal((await t.request('GET', '/health/ready')).status, 200);
  });

  it('a connection cut during a pause reconnects once, without timing out its handshake', async () => {
    const { redis, admin } = await ownRedis();
    const warnings: string[] = [];
    const errors: string[] = [];
    const monitor = new DependencyMonitor({
      error: (_object, message) => errors.push(message),
      warn: (_object, message) => warnings.push(message),
      info: () => undefined,
    });
    const watch = new RedisWatch(monitor);
    const client = new Redis(redis.url, redisClientOptions(100));
    watch.add(client);
    let closes = 0;
    client.on('close', () => {
      closes += 1;
    });
    cleanups.push(async () => {
      monitor.close();
      client.disconnect();
    });
    await waitFor('client ready', () => client.status === 'ready', 5000);
    const id = await client.client('ID');
    // One step on the server: cut our connection, then hold every command for 600 ms.
    const replies = await admin
      .multi()
      .client('KILL', 'ID', String(id))
      .client('PAUSE', '600', 'ALL')
      .exec();
    assert.deepEqual(
      replies?.map(([error]) => error),
      [null, null],
    );
    await waitFor('client ready again', () => client.status === 'ready', 5000);
    await sleep(1200);
    assert.equal(client.status, 'ready');
    assert.equal(closes, 1, `the connection was cut once and reopened once: ${errors} ${warnings}`);
    assert.equal(monitor.outages('redis'), 1, 'the cut is one outage');
    assert.equal(monitor.isDown('redis'), false, 'and it is over');
  });
});

for (const engine of ENGINES) {
  describe(`verify commands never create a database [${engine}]`, () => {
    const processes = new ProcessGroup();
    const databases: TestDatabase[] = [];
    after(async () => {
      await processes.killAll();
      for (const db of databases) await db.dispose();
    });

    it('exit 1 naming the missing tables, and create nothing', async () => {
      const db = await createTestDatabase(engine);
      databases.push(db);
      const env = childEnv(db.env);
      for (const [args, table] of [
        [['ledger', 'verify'], /accounts|journal_entries|postings|no database/],
        [['audit', 'verify'], /audit_events|no database/],
        [['ledger', 'verify', '--expect-at-least', '1'], /accounts|no database/],
      ] as const) {
        const result = await processes.runCli(args, { env });
        assert.equal(result.code, 1, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
        assert.match(result.stderr, table);
        assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
      }
      if (engine === 'sqlite') {
        assert.equal(
          fs.existsSync(path.join(db.dataDir, 'corebank.db')),
          false,
          'no file was created',
        );
      }
      // Still empty: nothing was migrated.
      const again = await processes.runCli(['ledger', 'verify'], { env });
      assert.equal(again.code, 1);
      // After a migration, an empty ledger verifies, with its counts, but not an expectation.
      assert.equal((await processes.runCli(['migrate'], { env })).code, 0);
      const empty = await processes.runCli(['ledger', 'verify'], { env });
      assert.equal(empty.code, 0, empty.stdout);
      assert.match(empty.stdout, /OK \(0 entries, 0 postings, 0 accounts\)/);
      const expected = await processes.runCli(['ledger', 'verify', '--expect-at-least', '1'], {
        env,
      });
      assert.equal(expected.code, 1);
      assert.match(expected.stdout, /expected at least 1 entries, found 0/);
      const bad = await processes.runCli(['ledger', 'verify', '--expect-at-least', 'many'], {
        env,
      });
      assert.equal(bad.code, 2);
    });

    it('backup refuses an existing target, restore refuses a file of the other kind', async () => {
      const db = await createTestDatabase(engine);
      databases.push(db);
      const env = childEnv(db.env);
      assert.equal((await processes.runCli(['migrate'], { env })).code, 0);
      const existing = path.join(db.dataDir, 'exists.bin');
      fs.writeFileSync(existing, 'x');
      const backup = await processes.runCli(['backup', '--to', existing], { env });
      assert.equal(backup.code, 1, backup.stderr);
      assert.match(backup.stderr, /already exists/);
      const restore = await processes.runCli(['restore', '--from', existing], { env });
      assert.equal(restore.code, 1, restore.stderr);
      assert.match(restore.stderr, /is not a/);
      const usage = await processes.runCli(['backup'], { env });
      assert.equal(usage.code, 2);
    });
  });
}
