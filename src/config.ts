import path from 'node:path';

/**
 * Every environment variable Corebank reads, parsed and validated in one place. Nothing
 * else in the code base touches `process.env`, so the README's table of variables can be
 * checked against this file alone.
 */
export interface Config {
  /** `production` turns missing secrets into a start-up failure instead of generating them. */
  env: 'production' | 'development' | 'test';
  host: string;
  port: number;
  /** Where the embedded database and generated development secrets live. */
  dataDir: string;
  /** PostgreSQL connection string; undefined selects the embedded SQLite database. */
  databaseUrl: string | undefined;
  /** Size of the PostgreSQL connection pool. */
  databasePoolSize: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  jwtIssuer: string;
  jwtAudience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** Largest amount one money movement may carry, in major units of its currency. */
  maxAmountMajor: bigint;
  bodyLimitBytes: number;
  /** Wrong transaction PINs in a row that lock the user. */
  pinMaxAttempts: number;
  /** Group commit: most money commands per transaction, waiting commands, batches at once. */
  ledgerMaxBatchSize: number;
  ledgerMaxQueueSize: number;
  ledgerBatchConcurrency: number | undefined;
  /** Time allowed for in-flight requests to finish on SIGTERM before connections are cut. */
  shutdownGraceMs: number;
  /** Secrets supplied by the environment (required in production). */
  secrets: {
    jwtPrivateKeyPem: string | undefined;
    jwtKeyId: string | undefined;
    pinPepper: string | undefined;
  };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function text(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = text(env, 'NODE_ENV', 'development');
  if (nodeEnv !== 'production' && nodeEnv !== 'development' && nodeEnv !== 'test') {
    throw new ConfigError(`NODE_ENV must be production, development or test, got "${nodeEnv}"`);
  }
  const logLevel = text(env, 'LOG_LEVEL', nodeEnv === 'test' ? 'silent' : 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const databaseUrl = optional(env, 'DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// URL (unset it for embedded SQLite)');
  }
  const maxAmountRaw = text(env, 'MAX_AMOUNT', '1000000');
  if (!/^[1-9]\d{0,14}$/.test(maxAmountRaw)) {
    throw new ConfigError('MAX_AMOUNT must be a positive whole number of major units');
  }
  return {
    env: nodeEnv,
    host: text(env, 'HOST', '127.0.0.1'),
    port: integer(env, 'PORT', 3000, 0, 65535),
    dataDir: path.resolve(text(env, 'DATA_DIR', './data')),
    databaseUrl,
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 200),
    logLevel: logLevel as Config['logLevel'],
    jwtIssuer: text(env, 'JWT_ISSUER', 'corebank'),
    jwtAudience: text(env, 'JWT_AUDIENCE', 'corebank-api'),
    accessTokenTtlSeconds: integer(env, 'ACCESS_TOKEN_TTL_SECONDS', 900, 30, 86_400),
    refreshTokenTtlSeconds: integer(env, 'REFRESH_TOKEN_TTL_SECONDS', 604_800, 60, 7_776_000),
    maxAmountMajor: BigInt(maxAmountRaw),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 16_384, 1024, 1_048_576),
    pinMaxAttempts: integer(env, 'PIN_MAX_ATTEMPTS', 3, 1, 10),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 120_000),
    ledgerMaxBatchSize: integer(env, 'LEDGER_MAX_BATCH', 256, 1, 2000),
    ledgerMaxQueueSize: integer(env, 'LEDGER_MAX_QUEUE', 10_000, 1, 1_000_000),
    ledgerBatchConcurrency:
      env.LEDGER_BATCH_CONCURRENCY === undefined || env.LEDGER_BATCH_CONCURRENCY === ''
        ? undefined
        : integer(env, 'LEDGER_BATCH_CONCURRENCY', 1, 1, 64),
    secrets: {
      jwtPrivateKeyPem: optional(env, 'JWT_PRIVATE_KEY'),
      jwtKeyId: optional(env, 'JWT_KEY_ID'),
      pinPepper: optional(env, 'PIN_PEPPER'),
    },
  };
}
