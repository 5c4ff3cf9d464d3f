import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { makeCustomers, runLoad, sleep } from '../support/chaos.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from '../support/harness.ts';
import { childEnv, freePort, ProcessGroup } from '../support/process.ts';

/**
 * Backup under load, restore into a new data directory (SQLite) or a new empty database
 * (PostgreSQL), and a restore drill: `ledger verify --expect-at-least N` with N the journal
 * entries acknowledged before the backup began, and `audit verify`. Restoring over the live
 * database without --force is refused.
 */
const TIMEOUT = { timeout: 240_000 };

for (const engine of ENGINES) {
  describe(`backup under load and restore [${engine}]`, () => {
    const processes = new ProcessGroup();
    const databases: TestDatabase[] = [];

    after(async () => {
      await processes.killAll();
      for (const db of databases) await db.dispose();
    });

    it('copies a consistent database under load that restores and verifies', TIMEOUT, async () => {
      const live = await createTestDatabase(engine);
      const target = await createTestDatabase(engine);
      databases.push(live, target);
      const env = childEnv(live.env, {
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        RATE_LIMITS: 'off',
      });
      const server = await processes.startServer(env);
      const customers = await makeCustomers(server.baseUrl, 6, `backup_${engine}_`);
      const load = runLoad(() => server.baseUrl, customers, 16, `backup-${engine}`);
      const file = path.join(live.dataDir, `backup-${engine}.bin`);
      let backupStarted = 0;
      let backup: Awaited<ReturnType<typeof processes.runCli>>;
      try {
        await sleep(1000);
        backupStarted = performance.now();
        backup = await processes.runCli(['backup', '--to', file], { env, timeoutMs: 120_000 });
        await sleep(500);
      } finally {
        await load.stop();
      }
      assert.equal(backup.code, 0, `${backup.stdout}${backup.stderr}`);
      assert.ok(fs.statSync(file).size > 0);
      assert.match(backup.stdout, engine === 'sqlite' ? /consistent online copy/ : /pg_dump/);
      if (engine === 'postgres') assert.match(backup.stdout, /point-in-time recovery/);
      // Deposits of the setup, plus every transfer acknowledged before the backup began.
      const acknowledgedBefore = load.attempts.filter(
        (a) => a.status === 201 && a.doneAt < backupStarted,
      ).length;
      const total = load.attempts.filter((a) => a.status === 201).length;
      const expected = customers.length + acknowledgedBefore;
      assert.ok(acknowledgedBefore > 0, 'the backup ran under load');

      // The live database is not overwritten without --force.
      const refused = await processes.runCli(['restore', '--from', file], { env });
      assert.equal(refused.code, 1, `${refused.stdout}${refused.stderr}`);
      assert.match(refused.stderr, /already/);
      await server.stop('SIGTERM');

      const targetEnv = childEnv(target.env, { NODE_ENV: 'development' });
      const restore = await processes.runCli(['restore', '--from', file], {
        env: targetEnv,
        timeoutMs: 120_000,
      });
      assert.equal(restore.code, 0, `${restore.stdout}${restore.stderr}`);
      const verify = await processes.runCli(
        ['ledger', 'verify', '--expect-at-least', String(expected)],
        {
          env: targetEnv,
        },
      );
      assert.equal(verify.code, 0, `${verify.stdout}${verify.stderr}`);
      const entries = Number(/OK \((\d+) entries/.exec(verify.stdout)?.[1]);
      assert.ok(entries >= expected && entries <= customers.length + total, `${entries} entries`);
      const tooMany = await processes.runCli(
        ['ledger', 'verify', '--expect-at-least', String(entries + 1)],
        {
          env: targetEnv,
        },
      );
      assert.equal(tooMany.code, 1, tooMany.stdout);
      assert.match(tooMany.stdout, /expected at least/);
      const audit = await processes.runCli(['audit', 'verify'], { env: targetEnv });
      assert.equal(audit.code, 0, `${audit.stdout}${audit.stderr}`);
      process.stdout.write(
        `# ${engine}: backup under load held ${entries} entries (≥ ${expected} acknowledged before it began, ≤ ${customers.length + total}); ${verify.stdout.trim()}; ${audit.stdout.trim()}\n`,
      );
    });
  });
}
