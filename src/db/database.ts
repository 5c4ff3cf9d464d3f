import fs from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.ts';
import type { Database } from './schema.ts';
import { NodeSqliteDialect } from './sqlite-dialect.ts';

export type Engine = 'sqlite' | 'postgres';

/** A Kysely handle outside any transaction. */
export type Db = Kysely<Database>;
/** A Kysely handle inside a transaction: functions that take `Trx` must run in one. */
export type Trx = Transaction<Database>;

export interface DatabaseHandle {
  db: Db;
  /**
   * Where reads that accept a replica's lag go (history, statements, balances in time,
   * staff reads): the `DATABASE_READ_URL` replica, or `db` itself when there is none. Money,
   * idempotency, anything read under a lock or read back after a write uses `db`.
   */
  readDb: Db;
  engine: Engine;
  close(): Promise<void>;
}

const PG_INT8 = 20;
const PG_TIMESTAMPTZ = 1184;

/**
 * Type parsers for this pool only (not pg's global registry): 64-bit integers become
 * bigint, never a lossy number, and timestamps become the same ISO strings SQLite holds.
 */
function pgTypes(): pg.CustomTypesConfig {
  const parseTimestamp = pg.types.getTypeParser(PG_TIMESTAMPTZ);
  return {
    getTypeParser: ((oid: number, format?: string) => {
      if (oid === PG_INT8) return (value: string) => BigInt(value);
      if (oid === PG_TIMESTAMPTZ) {
        return (value: string) => (parseTimestamp(value) as Date).toISOString();
      }
      return pg.types.getTypeParser(oid, format as 'text');
    }) as pg.CustomTypesConfig['getTypeParser'],
  };
}

export function sqliteFile(dataDir: string): string {
  return path.join(dataDir, 'corebank.db');
}

type DatabaseConfig = Pick<Config, 'databaseUrl' | 'dataDir' | 'databasePoolSize'> &
  Partial<
    Pick<Config, 'databaseConnectTimeoutMs' | 'databaseStatementTimeoutMs' | 'databaseReadUrl'>
  >;

function postgresDb(config: DatabaseConfig, url: string, readOnly: boolean): Db {
  const connectTimeoutMs = config.databaseConnectTimeoutMs ?? 5000;
  const statementTimeoutMs = config.databaseStatementTimeoutMs ?? 5000;
  const pool = new pg.Pool({
    connectionString: url,
    max: config.databasePoolSize,
    types: pgTypes(),
    // Every wait on PostgreSQL is bounded, so an outage answers 503 quickly instead of
    // holding requests: connecting, each statement on the server, a transaction left
    // idle, and (client side) a query whose connection went silent.
    connectionTimeoutMillis: connectTimeoutMs,
    query_timeout: statementTimeoutMs + 1000,
    // A bank's commit must be durable before it is acknowledged, whatever the server's
    // default says; this is set per connection so a misconfigured server cannot weaken it.
    // The replica's pool is read-only as well, so no code path can write through it.
    options:
      `-c synchronous_commit=on -c timezone=UTC -c statement_timeout=${statementTimeoutMs}` +
      ` -c idle_in_transaction_session_timeout=${statementTimeoutMs * 2}` +
      (readOnly ? ' -c default_transaction_read_only=on' : ''),
  });
  // A connection can be ended by the server at any moment (restart, failover, a DBA's
  // pg_terminate_backend): pg reports it as an 'error' event on the client, and on the
  // pool while the client is idle. Unhandled, either would crash the process. A client
  // that is checked out has no pool listener, so every client gets its own at connect;
  // the query in flight fails on its own (its batch answers 503, nothing is applied) and
  // the pool discards the broken client on release and opens a new one on demand.
  const logLost = (error: Error) => {
    process.stderr.write(
      `${JSON.stringify({ level: 40, time: Date.now(), msg: readOnly ? 'PostgreSQL replica connection lost' : 'PostgreSQL connection lost', err: error.message, code: (error as { code?: unknown }).code })}\n`,
    );
  };
  pool.on('error', logLost);
  pool.on('connect', (client) => {
    client.on('error', logLost);
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export async function openDatabase(config: DatabaseConfig): Promise<DatabaseHandle> {
  if (config.databaseUrl !== undefined) {
    const db = postgresDb(config, config.databaseUrl, false);
    const replica =
      config.databaseReadUrl === undefined
        ? null
        : postgresDb(config, config.databaseReadUrl, true);
    return {
      db,
      readDb: replica ?? db,
      engine: 'postgres',
      close: async () => {
        await Promise.all([db.destroy(), replica?.destroy()]);
      },
    };
  }
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = new Kysely<Database>({
    dialect: new NodeSqliteDialect({ location: sqliteFile(config.dataDir), busyTimeoutMs: 5000 }),
  });
  return { db, readDb: db, engine: 'sqlite', close: () => db.destroy() };
}

export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}

/** A durable write (one row, migration 0007): proves the database accepts commits again. */
export async function writeProbe(db: Db): Promise<void> {
  await sql`update health_probe set checked_at = ${new Date().toISOString()} where id = 1`.execute(
    db,
  );
}

/** Error codes of the two engines, folded into the few cases the code distinguishes. */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, errcode, message } = error as {
    code?: unknown;
    errcode?: unknown;
    message?: unknown;
  };
  if (code === '23505') return true;
  // SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555).
  if (errcode === 2067 || errcode === 1555) return true;
  return typeof message === 'string' && message.startsWith('UNIQUE constraint failed');
}

/**
 * Whether the error is the database refusing an account beyond the per-customer limit
 * (the trigger of migration 0006), so it can be answered as ACCOUNT_LIMIT_REACHED.
 */
export function isAccountLimitViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { message } = error as { message?: unknown };
  return typeof message === 'string' && message.includes('corebank:account_limit_reached');
}
