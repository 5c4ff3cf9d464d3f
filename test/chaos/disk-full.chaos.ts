import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { makeCustomers, sleep, transferOnce, waitFor } from '../support/chaos.ts';
import { childEnv, freePort, httpJson, ProcessGroup } from '../support/process.ts';

/**
 * SQLite on a full disk: the data directory is a small tmpfs this test mounts (it needs
 * root; without it the test is skipped, or fails when CI is set), filled with a file until
 * the kernel says ENOSPC. Transfers then answer 503 with Retry-After and the log names
 * SQLITE_FULL (not "cannot rollback - no transaction is active"); readiness says the
 * database is down; removing the filler brings service back by itself, and the database
 * passes integrity_check, ledger verify and audit verify.
 */
const TIMEOUT = { timeout: 180_000 };

function tryMount(dir: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', dir], {
      stdio: 'pipe',
    });
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function fill(dir: string): string {
  const filler = path.join(dir, 'filler');
  const handle = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (let i = 0; i < 1000; i++) fs.writeSync(handle, chunk);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOSPC') throw error;
  }
  // Then byte by byte-ish, so not even a page is left.
  const small = Buffer.alloc(512, 1);
  try {
    for (let i = 0; i < 1000; i++) fs.writeSync(handle, small);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOSPC') throw error;
  }
  fs.closeSync(handle);
  return filler;
}

describe('SQLite on a full disk', () => {
  const processes = new ProcessGroup();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-full-'));
  let mounted = false;

  after(async () => {
    await processes.killAll();
    if (mounted) execFileSync('umount', ['-l', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(
    'answers 503 naming SQLITE_FULL in the log, recovers when space returns, integrity intact',
    TIMEOUT,
    async (t) => {
      const refused = tryMount(dir);
      if (refused !== undefined) {
        if (process.env.CI !== undefined) assert.fail(`cannot mount a tmpfs: ${refused}`);
        t.skip(`cannot mount a tmpfs (needs root): ${refused}`);
        return;
      }
      mounted = true;
      const env = childEnv({
        DATA_DIR: dir,
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        RATE_LIMITS: 'off',
      });
      const server = await processes.startServer(env);
      const url = server.baseUrl;
      const [alice, bob] = await makeCustomers(url, 2, 'diskfull_');
      assert.ok(alice !== undefined && bob !== undefined);
      const ok = await transferOnce(url, 'full-before', alice, bob);
      assert.equal(ok.status, 201);

      const filler = fill(dir);
      // The WAL may still have room for a few commits; keep going until the disk refuses.
      let refusedAt = -1;
      const answers: number[] = [];
      for (let i = 0; i < 300 && refusedAt < 0; i++) {
        const attempt = await transferOnce(url, `full-${i}`, alice, bob);
        answers.push(attempt.status);
        if (attempt.status !== 201) {
          assert.equal(attempt.status, 503, `answer ${i}: ${attempt.status} ${attempt.code}`);
          assert.equal(attempt.code, 'SERVICE_UNAVAILABLE');
          assert.ok(attempt.retryAfter !== null, 'Retry-After is set');
          assert.ok(attempt.latencyMs < 2000, `answered fast: ${attempt.latencyMs} ms`);
          refusedAt = i;
        }
      }
      assert.ok(refusedAt >= 0, `the full disk was noticed: ${answers.join(',')}`);
      const again = await transferOnce(url, 'full-again', alice, bob);
      assert.equal(again.status, 503);
      const ready = await httpJson(url, 'GET', '/health/ready');
      assert.equal(ready.status, 503, JSON.stringify(ready.body));
      assert.deepEqual(ready.body.unavailable, ['database']);

      const lines = server.logLines();
      const outage = lines.filter((l) => l.msg === 'database unavailable');
      assert.equal(outage.length, 1, 'logged once');
      assert.match(String(outage[0]?.cause), /SQLITE_FULL/);
      assert.ok(
        !server.stdout.includes('cannot rollback') && !server.stderr.includes('cannot rollback'),
        'the real cause is not hidden by a failed ROLLBACK',
      );
      assert.ok(
        lines.every((l) => l.msg !== 'request failed'),
        'no 500 was logged',
      );

      fs.rmSync(filler);
      const started = performance.now();
      await waitFor(
        'readiness after space returns',
        async () => (await httpJson(url, 'GET', '/health/ready')).status === 200,
        10_000,
      );
      const after = await transferOnce(url, 'full-after', alice, bob);
      assert.equal(after.status, 201);
      const recoveryMs = Math.round(performance.now() - started);
      await sleep(100);
      assert.ok(server.logLines().some((l) => l.msg === 'database recovered'));
      await server.stop('SIGTERM');

      const database = new DatabaseSync(path.join(dir, 'corebank.db'), { readOnly: true });
      try {
        const rows = database.prepare('pragma integrity_check').all() as Array<{
          integrity_check: string;
        }>;
        assert.deepEqual(
          rows.map((r) => r.integrity_check),
          ['ok'],
        );
      } finally {
        database.close();
      }
      for (const args of [
        ['ledger', 'verify'],
        ['audit', 'verify'],
      ]) {
        const result = await processes.runCli(args, { env });
        assert.equal(result.code, 0, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
      }
      process.stdout.write(
        `# disk full: ${refusedAt} transfers still fitted, then 503 (SQLITE_FULL logged once); ready and transferring again ${recoveryMs} ms after space returned\n`,
      );
    },
  );
});
