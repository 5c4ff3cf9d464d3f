import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  assertExactlyOnce,
  entriesByKey,
  makeCustomers,
  OwnPostgres,
  retryUntilApplied,
  runLoad,
  sleep,
  waitFor,
} from '../support/chaos.ts';
import {
  childEnv,
  freePort,
  httpJson,
  ProcessGroup,
  type ServerProcess,
} from '../support/process.ts';

/**
 * PostgreSQL taken away under load, on a cluster this test starts itself (own port, own
 * data directory): backends terminated by a DBA, a fast stop, and kill -9 of the whole
 * cluster. The server must stay up, answer 503 with Retry-After meanwhile (never 500),
 * recover by itself within a few seconds of PostgreSQL's return, and lose or double nothing.
 */
const TIMEOUT = { timeout: 300_000 };
const OUTAGE_MS = 1500;
/** Recovery after PostgreSQL accepts connections again must take less than this. */
const RECOVERY_BOUND_MS = 5000;

describe('PostgreSQL taken away under load', () => {
  const processes = new ProcessGroup();
  let cluster: OwnPostgres | undefined;
  let dataDir = '';

  before(async () => {
    cluster = await OwnPostgres.create();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-pgout-'));
  });

  after(async () => {
    await processes.killAll();
    await cluster?.dispose();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    'stays up, answers 503 with Retry-After, recovers, loses and doubles nothing',
    TIMEOUT,
    async () => {
      const pgCluster = cluster as OwnPostgres;
      const database = await pgCluster.createDatabase();
      const env = childEnv({
        DATABASE_URL: pgCluster.urlOf(database),
        DATA_DIR: dataDir,
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        RATE_LIMITS: 'off',
        DATABASE_CONNECT_TIMEOUT_MS: '1000',
      });
      const server: ServerProcess = await processes.startServer(env);
      const url = server.baseUrl;
      const customers = await makeCustomers(url, 6, 'pgout_');
      const me = () => httpJson(url, 'GET', '/api/v1/me', { token: customers[0]?.token as string });
      const report: string[] = [];

      const scenarios: Array<{ name: string; takeAway: () => Promise<boolean> }> = [
        {
          name: 'pg_terminate_backend',
          takeAway: async () => {
            await pgCluster.terminateBackends(database);
            return false;
          },
        },
        {
          name: 'fast stop',
          takeAway: async () => {
            await pgCluster.stopFast();
            return true;
          },
        },
        {
          name: 'kill -9',
          takeAway: async () => {
            await pgCluster.kill9();
            return true;
          },
        },
      ];
      const allAttempts = [];
      for (const scenario of scenarios) {
        const tag = `pgout-${scenario.name.replace(/\W+/g, '')}`;
        const load = runLoad(() => url, customers, 16, tag);
        await sleep(700);
        const stopped = await scenario.takeAway();
        let recoveryMs = 0;
        if (stopped) {
          await sleep(300);
          // Meanwhile: 503 with Retry-After, fast, and readiness names the database.
          const during = await me();
          assert.equal(during.status, 503, JSON.stringify(during.body));
          assert.equal(during.body.code, 'SERVICE_UNAVAILABLE');
          assert.ok(Number(during.headers.get('retry-after')) >= 1, 'Retry-After is set');
          const ready = await httpJson(url, 'GET', '/health/ready');
          assert.equal(ready.status, 503);
          assert.deepEqual(ready.body.unavailable, ['database']);
          await sleep(OUTAGE_MS);
          await pgCluster.start();
          const back = performance.now();
          // Recovery: the first transfer the load gets acknowledged after PostgreSQL is back.
          await waitFor(
            'a transfer acknowledged after PostgreSQL returned',
            () => load.attempts.some((a) => a.status === 201 && a.doneAt > back),
            RECOVERY_BOUND_MS,
          );
          recoveryMs = Math.round(performance.now() - back);
          await waitFor(
            'readiness',
            async () => (await httpJson(url, 'GET', '/health/ready')).status === 200,
            5000,
          );
        }
        await sleep(700);
        await load.stop();
        assert.equal(
          server.child.exitCode,
          null,
          `the server is still running; stderr: ${server.stderr}`,
        );
        const statuses = new Map<number, number>();
        for (const attempt of load.attempts)
          statuses.set(attempt.status, (statuses.get(attempt.status) ?? 0) + 1);
        const unexpected = load.attempts.filter((a) => a.status !== 201 && a.status !== 503);
        assert.deepEqual(
          unexpected.map((a) => `${a.status} ${a.code}`),
          [],
          `${scenario.name}: only 201 and 503 answers`,
        );
        for (const refused of load.attempts.filter((a) => a.status === 503)) {
          assert.ok(refused.retryAfter !== null, 'every 503 carries Retry-After');
        }
        const slowest = Math.max(...load.attempts.map((a) => a.latencyMs));
        assert.ok(slowest < 5000, `${scenario.name}: slowest answer ${Math.round(slowest)} ms`);
        allAttempts.push(...load.attempts);
        report.push(
          `${scenario.name}: ${JSON.stringify(Object.fromEntries(statuses))}, slowest ${Math.round(slowest)} ms` +
            (stopped
              ? `, first acknowledged transfer ${recoveryMs} ms after PostgreSQL was back`
              : ''),
        );
      }
      await retryUntilApplied(url, allAttempts);
      const found = await entriesByKey(env, 'pgout-');
      const counted = assertExactlyOnce(
        allAttempts.map((a) => ({ ...a, status: 201 })),
        found,
      );
      assert.equal(counted.found, allAttempts.length);

      const lines = server.logLines();
      const downs = lines.filter((l) => l.msg === 'database unavailable');
      const ups = lines.filter((l) => l.msg === 'database recovered');
      assert.ok(
        downs.length >= 2 && downs.length <= 3,
        `outages logged once each: ${downs.length}`,
      );
      assert.ok(ups.length >= 2, `recoveries logged: ${ups.length}`);
      assert.ok(
        lines.every((l) => l.msg !== 'request failed'),
        'no request was logged as an internal failure',
      );
      await server.stop('SIGTERM');
      for (const args of [
        ['ledger', 'verify'],
        ['audit', 'verify'],
      ]) {
        const result = await processes.runCli(args, { env });
        assert.equal(result.code, 0, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
        report.push(result.stdout.trim());
      }
      process.stdout.write(`${report.map((line) => `# ${line}`).join('\n')}\n`);
    },
  );
});
