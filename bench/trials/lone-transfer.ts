/**
 * A lone transfer's latency on the money path, in process (issue #17, item 4): a test app
 * on the chosen engine (a fresh database; PostgreSQL from TEST_DATABASE_URL), then N
 * transfers one after another through the server's own batcher, each a batch of one, with
 * an Idempotency-Key or without. No HTTP, so the figure is the batch's round trips and its
 * commit. Prints the mean, p50 and p99 in ms, and the statements each batch sent.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *     node bench/trials/lone-transfer.ts --engine postgres --count 300
 */
import { parseArgs } from 'node:util';
import { CommandBatcher } from '../../src/ledger/batcher.ts';
import { LedgerEngine } from '../../src/ledger/engine.ts';
import { createTestApp, DEFAULT_PIN } from '../../test/support/harness.ts';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'postgres' },
    count: { type: 'string', default: '300' },
  },
});
const engine = values.engine === 'sqlite' ? 'sqlite' : 'postgres';
const count = Number(values.count);

const t = await createTestApp(engine);
try {
  const from = await t.fundedCustomer('1000.00');
  const to = await t.fundedCustomer('1.00');
  let statements = 0;
  const db = t.runtime.database.db.withPlugin({
    transformQuery: ({ node }) => {
      statements += 1;
      return node;
    },
    transformResult: async ({ result }) => result,
  });
  const ledger = new LedgerEngine({
    engine,
    pinPepper: t.runtime.secrets.pinPepper,
    pinMaxAttempts: 3,
  });
  const batcher = new CommandBatcher(db, ledger, {
    maxBatchSize: 1,
    maxQueueSize: 10,
    concurrency: 1,
  });
  for (const keyed of [false, true]) {
    const times: number[] = [];
    statements = 0;
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const outcome = await batcher.submit({
        kind: 'transfer',
        actor: { userId: from.user.id, sessionId: 's', roles: ['customer'] },
        clientIp: '127.0.0.1',
        amountMinor: 1n,
        currency: 'USD',
        description: null,
        accountNumber: from.account,
        toAccountNumber: to.account,
        pin: DEFAULT_PIN,
        idempotency: keyed ? { key: `lone-${i}`, requestHash: 'h' } : null,
      });
      if (!outcome.ok) throw new Error(`transfer refused: ${outcome.error.code}`);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    process.stdout.write(
      `${engine}, ${keyed ? 'with' : 'without'} a key: mean ${mean.toFixed(2)} ms, ` +
        `p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms, ` +
        `${(statements / count).toFixed(1)} statements a batch (besides BEGIN and COMMIT)\n`,
    );
  }
} finally {
  await t.close();
}
