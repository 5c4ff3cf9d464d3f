import { buildApp } from './app.ts';
import { assertNodeVersion, exitOnStartupError, openRuntime } from './runtime.ts';

assertNodeVersion();

async function main(): Promise<void> {
  const runtime = await openRuntime();
  const { config, database } = runtime;
  const app = await buildApp(runtime);
  await app.listen({ host: config.host, port: config.port });
  app.log.info({ engine: database.engine, dataDir: config.dataDir }, 'corebank is serving');

  // Graceful shutdown: stop accepting connections, let in-flight requests finish (each
  // money command commits or rolls back as a whole), then close the database. A second
  // signal, or the grace period running out, ends the process at once.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      app.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      app.log.error('shutdown grace period ran out: exiting');
      process.exit(1);
    }, config.shutdownGraceMs);
    timer.unref();
    // app.close() stops accepting connections and closes the idle ones once; a keep-alive
    // connection that was busy at that moment would stay open after its response and hold
    // the close up. Closing idle connections again every few ms lets each one go as soon
    // as its last response is out.
    const sweeper = setInterval(() => app.server.closeIdleConnections(), 25);
    sweeper.unref();
    app
      .close()
      .then(() => database.close())
      .then(() => {
        app.log.info('shut down cleanly');
        process.exit(0);
      })
      .catch((error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch(exitOnStartupError);
