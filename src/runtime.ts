import { loadSecrets, type Secrets } from './auth/secrets.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { type DatabaseHandle, openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';

const REQUIRED_NODE_MAJOR = 24;

/** Refuses to run on an older Node.js, with a message that says how to get the right one. */
export function assertNodeVersion(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < REQUIRED_NODE_MAJOR) {
    process.stderr.write(
      `Corebank needs Node.js ${REQUIRED_NODE_MAJOR} or newer, this is ${process.versions.node}.\n` +
        'Run it through npm (npm start, npm run corebank), which uses the Node.js 24 that `npm install` brought.\n',
    );
    process.exit(1);
  }
}

export interface Runtime {
  config: Config;
  secrets: Secrets;
  database: DatabaseHandle;
}

/** Loads configuration and secrets, opens the database and brings its schema up to date. */
export async function openRuntime(env = process.env): Promise<Runtime> {
  const config = loadConfig(env);
  const secrets = loadSecrets(config);
  const database = await openDatabase(config);
  try {
    await migrateToLatest(database);
  } catch (error) {
    await database.close();
    throw error;
  }
  return { config, secrets, database };
}

/** Prints configuration problems as one clear line instead of a stack trace. */
export function exitOnStartupError(error: unknown): never {
  if (error instanceof ConfigError) {
    process.stderr.write(`corebank: configuration error: ${error.message}\n`);
  } else {
    process.stderr.write(
      `corebank: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
  }
  process.exit(1);
}
