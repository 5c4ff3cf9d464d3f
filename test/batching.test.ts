import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Principal } from '../src/auth/roles.ts';
import { CommandBatcher } from '../src/ledger/batcher.ts';
import { type CommandOutcome, LedgerEngine, type MoneyCommand } from '../src/ledger/engine.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import {
  createTestApp,
  createTestDatabase,
  DEFAULT_PIN,
  ENGINES,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { childEnv, freePort, httpJson, ProcessGroup } from './support/process.ts';

const TIMEOUT = { timeout: 120_000 };

function principal(user: TestUser): Principal {
  return { userId: user.id, sessionId: 'batch-test', roles: ['customer'] };
}

function codeOf(outcome: CommandOutcome): string {
  return outcome.ok ? 'ok' : outcome.error.code;
}

function base(user: TestUser, accountNumber: string, amountMinor: bigint) {
  return {
    actor: principal(user),
    clientIp: '127.0.0.1',
    amountMinor,
    currency: 'USD',
    description: null,
    idempotency: null,
    accountNumber,
  };
}

async function metric(t: TestApp, name: string): Promise<number> {
  const response = await t.request('GET', '/metrics');
  const line = String(response.body)
    .split('\n')
    .find((l) => l.startsWith(`${name} `));
  assert.ok(line, `metric ${name} is exported`);
  return Number(line.split(' ')[1]);
}

for (const engine of ENGINES) {
  describe(`group commit [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    it(
      'applies a mixed batch in one transaction, each command with its own outcome',
      TIMEOUT,
      async () => {
        const alice = await t.fundedCustomer('100.00');
        const bob = await t.customer();
        const bobAccount = (await t.openAccount(bob)).accountNumber;
        const dave = await t.fundedCustomer('5.00');
        await t.runtime.database.db
          .updateTable('accounts')
          .set({ status: 'frozen' })
          .where('account_number', '=', dave.account)
          .execute();
        const key = { key: 'batch-key-1', requestHash: 'hash-1' };
        const commands: MoneyCommand[] = [
          { ...base(alice.user, alice.account, 1000n), kind: 'deposit' },
          { ...base(alice.user, alice.account, 50_000n), kind: 'withdrawal', pin: DEFAULT_PIN },
          {
            ...base(alice.user, alice.account, 5000n),
            kind: 'transfer',
            toAccountNumber: bobAccount,
            pin: '0000',
          },
          {
            ...base(alice.user, alice.account, 6000n),
            kind: 'transfer',
            toAccountNumber: bobAccount,
            pin: DEFAULT_PIN,
            idempotency: key,
          },
          {
            ...base(alice.user, alice.account, 6000n),
            kind: 'transfer',
            toAccountNumber: bobAccount,
            pin: DEFAULT_PIN,
          },
          {
            ...base(alice.user, alice.account, 6000n),
            kind: 'transfer',
            toAccountNumber: bobAccount,
            pin: DEFAULT_PIN,
            idempotency: key,
          },
          {
            ...base(alice.user, alice.account, 6000n),
            kind: 'transfer',
            toAccountNumber: bobAccount,
            pin: DEFAULT_PIN,
            idempotency: { key: 'batch-key-1', requestHash: 'another-request' },
          },
          { ...base(dave.user, dave.account, 100n), kind: 'withdrawal', pin: DEFAULT_PIN },
          { ...base(bob, alice.account, 100n), kind: 'deposit' },
        ];
        const ledger = new LedgerEngine({
          engine,
          pinPepper: t.runtime.secrets.pinPepper,
          pinMaxAttempts: 3,
        });
        const outcomes = await t.runtime.database.db
          .transaction()
          .execute(async (trx) => (await ledger.applyAll(trx, commands)) as CommandOutcome[]);

        assert.deepEqual(outcomes.map(codeOf), [
          'ok',
          'INSUFFICIENT_FUNDS',
          'INVALID_PIN',
          'ok',
          // Sees the running balance left by the transfer before it in the same batch.
          'INSUFFICIENT_FUNDS',
          'ok',
          'IDEMPOTENCY_KEY_REUSED',
          'ACCOUNT_FROZEN',
          'NOT_FOUND',
        ]);
        const [deposit, , , transfer, , replay] = outcomes;
        assert.ok(deposit?.ok && transfer?.ok && replay?.ok);
        assert.equal(deposit.transaction.balanceAfter, '110.00');
        assert.equal(transfer.transaction.balanceAfter, '50.00');
        assert.equal(replay.replayed, true);
        assert.equal(transfer.replayed, false);
        assert.deepEqual(
          replay.transaction,
          transfer.transaction,
          'replay within a batch is the same transaction',
        );
        assert.ok(
          BigInt(transfer.transaction.id) > BigInt(deposit.transaction.id),
          'ids follow apply order',
        );

        assert.equal(await t.balance(alice.user, alice.account), '50.00');
        assert.equal(await t.balance(bob, bobAccount), '60.00');
        assert.equal(await t.balance(dave.user, dave.account), '5.00');
        const history = await t.request<{ data: Array<{ id: string; type: string }> }>(
          'GET',
          `/api/v1/accounts/${alice.account}/transactions`,
          { token: alice.user.token },
        );
        assert.deepEqual(
          history.body.data.map((row) => [row.id, row.type]),
          [
            [transfer.transaction.id, 'transfer_out'],
            [deposit.transaction.id, 'deposit'],
            [history.body.data[2]?.id, 'deposit'],
          ],
        );
        // The wrong PIN was counted, then the right one in the same batch reset the counter.
        const user = await t.runtime.database.db
          .selectFrom('users')
          .select('failed_pin_attempts')
          .where('id', '=', alice.user.id)
          .executeTakeFirstOrThrow();
        assert.equal(user.failed_pin_attempts, 0n);
        const stored = await t.runtime.database.db
          .selectFrom('idempotency_keys')
          .select('key')
          .where('user_id', '=', alice.user.id)
          .execute();
        assert.deepEqual(
          stored.map((row) => row.key),
          ['batch-key-1'],
        );
        assert.deepEqual((await verifyLedger(t.runtime.database.db)).ok, true);
      },
    );

    it('commits concurrent HTTP requests in fewer batches than requests', TIMEOUT, async () => {
      const { user, account } = await t.fundedCustomer('1.00');
      const batchesBefore = await metric(t, 'corebank_ledger_batches_total');
      const commandsBefore = await metric(t, 'corebank_ledger_commands_total');
      const responses = await Promise.all(
        Array.from({ length: 200 }, () => t.deposit(user, account, '0.01')),
      );
      assert.ok(responses.every((r) => r.status === 201));
      assert.equal(await t.balance(user, account), '3.00');
      const batches = (await metric(t, 'corebank_ledger_batches_total')) - batchesBefore;
      const commands = (await metric(t, 'corebank_ledger_commands_total')) - commandsBefore;
      assert.equal(commands, 200);
      assert.ok(batches < commands, `200 commands took ${batches} batches`);
      assert.ok((await metric(t, 'corebank_ledger_largest_batch')) > 1);
    });

    it(
      'a batch reads everything in one statement on PostgreSQL, one per table on SQLite (#17)',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('1.00');
        const other = await t.fundedCustomer('1.00');
        const ledger = new LedgerEngine({
          engine,
          pinPepper: t.runtime.secrets.pinPepper,
          pinMaxAttempts: 3,
        });
        // Every statement the batch sends, by the kind of its root node, in order.
        const sent: string[] = [];
        const db = t.runtime.database.db.withPlugin({
          transformQuery: ({ node }) => {
            sent.push(node.kind);
            return node;
          },
          transformResult: async ({ result }) => result,
        });
        const batcher = new CommandBatcher(db, ledger, {
          maxBatchSize: 100,
          maxQueueSize: 100,
          concurrency: 1,
        });
        const outcome = await batcher.submit({
          ...base(user, account, 25n),
          kind: 'transfer',
          pin: DEFAULT_PIN,
          toAccountNumber: other.account,
        });
        assert.equal(codeOf(outcome), 'ok');
        // The reads (users, limits, keys, accounts, holds), then the ids, then the write (with
        // its events, as nothing else is to be written).
        if (engine === 'postgres') {
          assert.deepEqual(sent, ['RawNode', 'RawNode', 'RawNode'], 'read, allocate ids, write');
        } else {
          assert.ok(sent.length >= 6, `SQLite: one statement per table (${sent.join(', ')})`);
        }
        // With an Idempotency-Key, the key is stored by the same write; its replay only reads.
        const keyed = {
          ...base(user, account, 25n),
          kind: 'transfer' as const,
          pin: DEFAULT_PIN,
          toAccountNumber: other.account,
          idempotency: { key: 'reads-once', requestHash: 'same' },
        };
        for (const expected of [
          { replayed: false, statements: 3 },
          { replayed: true, statements: 1 },
        ]) {
          sent.length = 0;
          const again = await batcher.submit(keyed);
          assert.equal(codeOf(again), 'ok');
          assert.equal(again.replayed, expected.replayed);
          if (engine === 'postgres') assert.equal(sent.length, expected.statements, sent.join());
        }
        assert.equal(await t.balance(user, account), '0.50');
        assert.equal(await t.balance(other.user, other.account), '1.50');
      },
    );

    it('one command that fails in the database does not take its batch down', TIMEOUT, async () => {
      const { user, account } = await t.fundedCustomer('1.00');
      const ledger = new LedgerEngine({
        engine,
        pinPepper: t.runtime.secrets.pinPepper,
        pinMaxAttempts: 3,
      });
      const batcher = new CommandBatcher(t.runtime.database.db, ledger, {
        maxBatchSize: 100,
        maxQueueSize: 100,
        concurrency: 1,
      });
      const deposit = (actor: Principal): MoneyCommand => ({
        ...base(user, account, 100n),
        actor,
        kind: 'deposit',
      });
      const ghost: Principal = { userId: 'no-such-user', sessionId: 's', roles: ['customer'] };
      // Submitted in one tick, all seven form one batch; the ghost (an actor that does not
      // exist) makes the database work fail, and the batch is retried command by command.
      const settled = await Promise.allSettled([
        batcher.submit(deposit(principal(user))),
        ...[1, 2, 3].map(() => batcher.submit(deposit(principal(user)))),
        batcher.submit(deposit(ghost)),
        ...[5, 6].map(() => batcher.submit(deposit(principal(user)))),
      ]);
      assert.deepEqual(
        settled.map((s) => (s.status === 'fulfilled' ? codeOf(s.value) : 'rejected')),
        ['ok', 'ok', 'ok', 'ok', 'rejected', 'ok', 'ok'],
      );
      assert.equal(batcher.stats.batches, 1);
      assert.equal(batcher.stats.largestBatch, 7);
      assert.equal(await t.balance(user, account), '7.00');
      assert.equal((await verifyLedger(t.runtime.database.db)).ok, true);
    });
  });

  describe(`group commit, bounded queue [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { LEDGER_MAX_QUEUE: '3', LEDGER_BATCH_CONCURRENCY: '1' });
    });
    after(() => t.close());

    it(
      'a full queue answers 503 with Retry-After at once and moves nothing for it',
      TIMEOUT,
      async () => {
        const { user, account } = await t.fundedCustomer('1.00');
        const responses = await Promise.all(
          Array.from({ length: 100 }, () => t.deposit(user, account, '1.00')),
        );
        const accepted = responses.filter((r) => r.status === 201);
        const refused = responses.filter((r) => r.status === 503);
        assert.equal(accepted.length + refused.length, 100);
        assert.ok(refused.length > 0, 'some requests met a full queue');
        for (const response of refused) {
          assert.equal(response.body.code, 'SERVICE_UNAVAILABLE');
          assert.equal(response.headers['retry-after'], '1');
        }
        assert.equal(await t.balance(user, account), `${1 + accepted.length}.00`);
        assert.equal((await verifyLedger(t.runtime.database.db)).ok, true);
      },
    );
  });

  describe(`group commit, crash between batches [${engine}]`, () => {
    const group = new ProcessGroup();
    after(() => group.killAll());

    it('a killed server loses nothing it acknowledged', TIMEOUT, async () => {
      const database = await createTestDatabase(engine);
      try {
        const env = childEnv(database.env, {
          PORT: String(await freePort()),
          HOST: '127.0.0.1',
          NODE_ENV: 'development',
          LOG_LEVEL: 'info',
          RATE_LIMITS: 'off',
        });
        let server = await group.startServer(env);
        const url = server.baseUrl;
        const username = `crash${Date.now()}`;
        const password = 'crash test password 1';
        await httpJson(url, 'POST', '/api/v1/auth/register', {
          body: { username, password, fullName: 'Crash Test', email: `${username}@example.com` },
        });
        const login = await httpJson<{ accessToken: string }>(url, 'POST', '/api/v1/auth/login', {
          body: { username, password },
        });
        const token = login.body.accessToken;
        const opened = await httpJson<{ accountNumber: string }>(url, 'POST', '/api/v1/accounts', {
          token,
          body: {},
        });
        const account = opened.body.accountNumber;

        const acknowledged: string[] = [];
        let stop = false;
        const worker = async () => {
          while (!stop) {
            try {
              const response = await httpJson<{ id: string }>(
                url,
                'POST',
                `/api/v1/accounts/${account}/deposits`,
                { token, body: { amount: '1.00' } },
              );
              if (response.status === 201) acknowledged.push(response.body.id);
            } catch {
              return; // the server is gone
            }
          }
        };
        const workers = Array.from({ length: 32 }, worker);
        while (acknowledged.length < 300) await new Promise((r) => setTimeout(r, 5));
        server.child.kill('SIGKILL');
        stop = true;
        await Promise.all(workers);
        await server.exit();

        server = await group.startServer(env);
        const ids = new Set<string>();
        let cursor: string | null = null;
        for (let page = 0; page < 1000; page++) {
          const query: string = cursor === null ? '?limit=100' : `?limit=100&cursor=${cursor}`;
          const response = await httpJson<{
            data: Array<{ id: string }>;
            nextCursor: string | null;
          }>(server.baseUrl, 'GET', `/api/v1/accounts/${account}/transactions${query}`, { token });
          assert.equal(response.status, 200);
          for (const row of response.body.data) ids.add(row.id);
          cursor = response.body.nextCursor;
          if (cursor === null) break;
        }
        const lost = acknowledged.filter((id) => !ids.has(id));
        assert.deepEqual(
          lost,
          [],
          `${lost.length} of ${acknowledged.length} acknowledged deposits were lost`,
        );
        const read = await httpJson<{ balance: string }>(
          server.baseUrl,
          'GET',
          `/api/v1/accounts/${account}`,
          {
            token,
          },
        );
        assert.equal(read.body.balance, `${ids.size}.00`, 'balance matches the surviving history');
        await server.stop();
        const verify = await group.runCli(['ledger', 'verify'], { env });
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      } finally {
        await database.dispose();
      }
    });
  });
}
