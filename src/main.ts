import { buildApp } from './app.ts';
import { type SandboxNetwork, startSandboxNetwork } from './clearing-house/sandbox.ts';
import { assertNodeVersion, exitOnStartupError, openRuntime } from './runtime.ts';

assertNodeVersion();

/**
 * With no payment network configured and outside production, a sandbox network runs beside
 * the server (src/clearing-house/sandbox.ts, loopback only) with one simulated other bank
 * that accepts every account number, so a payment can be sent and seen to settle.
 */
async function sandboxIfUnconfigured(): Promise<SandboxNetwork | null> {
  const env = process.env;
  if (env.PAYMENT_NETWORK_URL !== undefined || env.NODE_ENV === 'production') return null;
  if (env.PAYMENT_NETWORK_SANDBOX === 'off') return null;
  const port = env.PORT ?? '3000';
  const sandbox = await startSandboxNetwork({
    bankCode: env.BANK_CODE ?? 'CORBUS33',
    webhookUrl: `http://127.0.0.1:${port}/api/v1/network/events`,
    logLevel: 'warn',
  });
  env.PAYMENT_NETWORK_URL = sandbox.url;
  env.PAYMENT_NETWORK_CLIENT_ID = sandbox.clientId;
  env.PAYMENT_NETWORK_CLIENT_SECRET = sandbox.clientSecret;
  env.PAYMENT_NETWORK_WEBHOOK_SECRET = sandbox.webhookSecret;
  return sandbox;
}

async function main(): Promise<void> {
  const sandbox = await sandboxIfUnconfigured();
  const runtime = await openRuntime();
  const { config, database } = runtime;
  const app = await buildApp(runtime);
  await app.listen({ host: config.host, port: config.port });
  app.log.info({ engine: database.engine, dataDir: config.dataDir }, 'corebank is serving');
  if (sandbox !== null) {
    app.log.info(
      { network: sandbox.url, otherBank: sandbox.sandboxBankCode },
      `sandbox payment network running: pay any account number at bank ${sandbox.sandboxBankCode}`,
    );
  }

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
      .then(() => sandbox?.close())
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
