/**
 * The payment network as its own process: `npm run clearing-house`. Configured by `HOST`,
 * `PORT`, `CLEARING_MEMBERS` and the `CLEARING_*` variables (src/clearing-house/config.ts).
 */
import { assertNodeVersion } from '../runtime.ts';
import { buildClearingHouse } from './app.ts';
import { ClearingConfigError, loadClearingHouseConfig } from './config.ts';

assertNodeVersion();

async function main(): Promise<void> {
  const config = loadClearingHouseConfig();
  const house = await buildClearingHouse(config);
  await house.app.listen({ host: config.host, port: config.port });
  house.start();
  house.app.log.info(
    {
      members: config.members.map((member) => member.bankCode),
      sandboxBankCode: config.sandboxBankCode ?? null,
      storage: config.databaseFile,
      control: config.controlToken !== undefined,
    },
    'clearing-house is serving',
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    house.app.log.info({ signal }, 'shutting down');
    house
      .close()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  const message =
    error instanceof ClearingConfigError ? `configuration: ${error.message}` : String(error);
  process.stderr.write(`clearing-house failed to start: ${message}\n`);
  process.exit(1);
});
