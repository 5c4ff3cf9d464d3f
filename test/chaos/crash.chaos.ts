import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  assertExactlyOnce,
  entriesByKey,
  makeCustomers,
  retryUntilApplied,
  runLoad,
  sleep,
} from '../support/chaos.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from '../support/harness.ts';
import { childEnv, freePort, ProcessGroup, type ServerProcess } from '../support/process.ts';

/**
 * Crash suite: a real server under load from a client that records every answer, killed
 * with SIGKILL at a random moment, restarted on the same data. Every transfer it
 * acknowledged (201) is there exactly once; every request left unanswered is retried with
 * its Idempotency-Key and applied exactly once; `ledger verify` and `audit verify` pass.
 * Rounds: CHAOS_CRASH_ROUNDS (default 2 per engine).
 */
const ROUNDS = Number(process.env.CHAOS_CRASH_ROUNDS ?? '2');
const TIMEOUT = { timeout: 240_000 };

for (const engine of ENGINES) {
  describe(`crash suite: kill -9 under load [${engine}]`, () => {
    const processes = new ProcessGroup();
    let db: TestDatabase | undefined;

    after(async () => {
      await processes.killAll();
      await db?.dispose();
    });

    it(
      `loses no acknowledged transfer and applies retries once, ${ROUNDS} rounds`,
      TIMEOUT,
      async () => {
        db = await createTestDatabase(engine);
        const env = childEnv(db.env, {
          HOST: '127.0.0.1',
          PORT: String(await freePort()),
          NODE_ENV: 'development',
          LOG_LEVEL: 'info',
          RATE_LIMITS: 'off',
        });
        let server: ServerProcess = await processes.startServer(env);
        const customers = await makeCustomers(server.baseUrl, 8, `crash_${engine}_`);
        const report: string[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const tag = `crash-${engine}-r${round}`;
          const load = runLoad(() => server.baseUrl, customers, 32, tag);
          // A random moment between 0.5 and 2.5 s into the load.
          await sleep(500 + Math.floor(Math.random() * 2000));
          server.child.kill('SIGKILL');
          await server.exit(10_000);
          await load.stop();
          const acknowledgedBeforeCrash = load.attempts.filter((a) => a.status === 201).length;
          const unanswered = load.attempts.filter((a) => a.status === 0).length;
          assert.ok(acknowledgedBeforeCrash > 0, 'the load was acknowledged before the crash');
          // Nothing the dead server acknowledged may be missing, before any retry.
          const beforeRetry = await entriesByKey(env, tag);
          const counted = assertExactlyOnce(load.attempts, beforeRetry);

          server = await processes.startServer(env);
          const { retried } = await retryUntilApplied(server.baseUrl, load.attempts);
          const afterRetry = await entriesByKey(env, tag);
          const final = assertExactlyOnce(
            load.attempts.map((a) => ({ ...a, status: 201 })),
            afterRetry,
          );
          assert.equal(final.found, load.attempts.length, 'every attempt is applied exactly once');
          report.push(
            `${engine} round ${round}: ${acknowledgedBeforeCrash} acknowledged, ${counted.found} found; ` +
              `${unanswered} unanswered, ${retried} retried, ${afterRetry.size} applied once after retries`,
          );
        }
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
}
