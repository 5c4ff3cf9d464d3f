import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';

/**
 * A Kysely dialect for Node's built-in `node:sqlite`.
 *
 * Kysely's own SQLite dialect is written for better-sqlite3, a native addon; `node:sqlite`
 * ships with Node and needs nothing compiled. Two things differ from Kysely's driver and
 * are the reason this file exists rather than a thin adapter:
 * - write transactions start with `BEGIN IMMEDIATE`, so a transaction that reads and then
 *   writes takes the write lock up front and can never fail halfway with SQLITE_BUSY when
 *   another process (the CLI) writes at the same time;
 * - prepared statements are cached (bounded), so the hot money path does not re-parse SQL.
 */
export interface NodeSqliteOptions {
  /** File path of the database, or `:memory:`. */
  location: string;
  /** Milliseconds to wait for another process's lock before failing. */
  busyTimeoutMs: number;
}

const STATEMENT_CACHE_LIMIT = 512;

interface CachedStatement {
  statement: StatementSync;
  returnsRows: boolean;
}

class NodeSqliteConnection implements DatabaseConnection {
  readonly #database: DatabaseSync;
  readonly #statements = new Map<string, CachedStatement>();

  constructor(database: DatabaseSync) {
    this.#database = database;
  }

  #prepare(sql: string): CachedStatement {
    const cached = this.#statements.get(sql);
    if (cached !== undefined) return cached;
    const statement = this.#database.prepare(sql);
    const entry = { statement, returnsRows: statement.columns().length > 0 };
    if (this.#statements.size >= STATEMENT_CACHE_LIMIT) {
      // Maps iterate in insertion order, so the first key is the oldest statement.
      const oldest = this.#statements.keys().next().value;
      if (oldest !== undefined) this.#statements.delete(oldest);
    }
    this.#statements.set(sql, entry);
    return entry;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const { statement, returnsRows } = this.#prepare(compiledQuery.sql);
    const parameters = compiledQuery.parameters as SQLInputValue[];
    if (returnsRows) {
      return { rows: statement.all(...parameters) as R[] };
    }
    const result = statement.run(...parameters);
    return {
      rows: [],
      numAffectedRows: BigInt(result.changes),
      insertId: BigInt(result.lastInsertRowid),
    };
  }

  // biome-ignore lint/correctness/useYield: streaming is refused outright, so nothing is yielded.
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported by the node:sqlite driver');
  }
}

/** Serialises use of the single connection: SQLite has one writer, and so do we. */
class ConnectionMutex {
  #locked = false;
  readonly #waiters: Array<() => void> = [];

  async lock(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  unlock(): void {
    const next = this.#waiters.shift();
    if (next === undefined) this.#locked = false;
    else next();
  }
}

class NodeSqliteDriver implements Driver {
  readonly #options: NodeSqliteOptions;
  readonly #mutex = new ConnectionMutex();
  #database: DatabaseSync | undefined;
  #connection: NodeSqliteConnection | undefined;

  constructor(options: NodeSqliteOptions) {
    this.#options = options;
  }

  async init(): Promise<void> {
    const database = new DatabaseSync(this.#options.location, {
      readBigInts: true,
      timeout: this.#options.busyTimeoutMs,
      enableForeignKeyConstraints: true,
    });
    // WAL lets the CLI read while the server writes; synchronous=FULL fsyncs the WAL on
    // every commit, so an acknowledged deposit survives a power cut, not only a crash.
    database.exec('PRAGMA journal_mode = WAL');
    database.exec('PRAGMA synchronous = FULL');
    database.exec('PRAGMA foreign_keys = ON');
    this.#database = database;
    this.#connection = new NodeSqliteConnection(database);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock();
    if (this.#connection === undefined) throw new Error('node:sqlite driver is not initialised');
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('BEGIN IMMEDIATE'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('COMMIT'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR
    // during COMMIT). A ROLLBACK then fails with "cannot rollback - no transaction is
    // active", and that error would replace the real cause in the caller's hands.
    if (this.#database?.isTransaction === false) return;
    await connection.executeQuery(CompiledQuery.raw('ROLLBACK'));
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    this.#database?.close();
    this.#database = undefined;
    this.#connection = undefined;
  }
}

export class NodeSqliteDialect implements Dialect {
  readonly #options: NodeSqliteOptions;

  constructor(options: NodeSqliteOptions) {
    this.#options = options;
  }

  createDriver(): Driver {
    return new NodeSqliteDriver(this.#options);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's introspector takes an untyped Kysely.
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
