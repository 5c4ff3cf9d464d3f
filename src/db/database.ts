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

export async function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'databasePoolSize'>,
): Promise<DatabaseHandle> {
  if (config.databaseUrl !== undefined) {
    const pool = new pg.Pool({
      connectionString: config.databaseUrl,
      max: config.databasePoolSize,
      types: pgTypes(),
      // A bank's commit must be durable before it is acknowledged, whatever the server's
      // default says; this is set per connection so a misconfigured server cannot weaken it.
      options: '-c synchronous_commit=on -c timezone=UTC',
    });
    // An idle pooled connection can be closed by the server (restart, failover, admin).
    // pg reports that as an 'error' event on the pool; unhandled, it would crash the
    // process. The pool drops the dead connection and opens a new one on demand.
    pool.on('error', (error) => {
      process.stderr.write(
        `${JSON.stringify({ level: 50, msg: 'idle PostgreSQL connection failed', err: error.message })}\n`,
      );
    });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, engine: 'postgres', close: () => db.destroy() };
  }
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = new Kysely<Database>({
    dialect: new NodeSqliteDialect({ location: sqliteFile(config.dataDir), busyTimeoutMs: 5000 }),
  });
  return { db, engine: 'sqlite', close: () => db.destroy() };
}

export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
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
