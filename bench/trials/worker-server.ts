/**
 * The server of the worker trial through HTTP (issue #17 item 3): `src/main.ts`'s server,
 * on SQLite, except that its money commands' batches are applied by the batch worker of
 * bench/lib/worker-batcher.ts (one message per batch, the worker's own connection), so the
 * commits' fsyncs leave the event loop. `npm run bench -- --engines sqlite --server-worker`
 * starts it in place of `src/main.ts`; nothing else runs it.
 *
 * Left out on purpose, as the trial measures the transfer path only: bulk requests (the
 * worker does not carry them) and the sandbox payment network `src/main.ts` starts beside
 * an unconfigured server (idle during the benchmark).
 */
import { buildApp } from '../../src/app.ts';
import { assertNodeVersion, exitOnStartupError, openRuntime } from '../../src/runtime.ts';
import { startWorkerBatcher } from '../lib/worker-batcher.ts';

assertNodeVersion();

async function main(): Promise<void> {
  const runtime = await openRuntime();
  const { config, database } = runtime;
  if (database.engine !== 'sqlite') throw new Error('the worker trial is for SQLite only');
  const app = await buildApp({
    ...runtime,
    ledgerBatcher: (engine, options) =>
      startWorkerBatcher(
        engine,
        { dataDir: config.dataDir, databasePoolSize: config.databasePoolSize },
        options,
      ),
  });
  await app.listen({ host: config.host, port: config.port });
  app.log.info({ engine: database.engine, worker: true }, 'corebank (worker trial) is serving');
  const stop = () => {
    // The batcher's worker closes with the app (its onClose hook), then the main database.
    void app
      .close()
      .then(() => database.close())
      .then(() => process.exit(0), exitOnStartupError);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch(exitOnStartupError);
