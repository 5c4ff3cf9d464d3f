/**
 * The SQLite batch worker of the worker trial (issue #17 item 3), started by
 * ./worker-batcher.ts (`--engine-worker`, `--server-worker`). It owns a second connection to the bench's
 * SQLite file, opened by `openDatabase` exactly as the server opens its own (WAL,
 * synchronous=FULL, foreign keys, 5 s busy timeout, `BEGIN IMMEDIATE`), and applies each
 * batch the main thread posts in one transaction: the same `LedgerEngine.applyAll` and the
 * same durable commit, but the commit's fsync blocks this thread instead of the main one.
 *
 * Messages cross the thread boundary by structured clone. Commands and outcomes are plain
 * objects of strings, numbers, booleans, bigints and arrays, which clone unchanged. Two
 * things do not: a Buffer arrives as a plain Uint8Array (the PIN pepper is turned back into
 * a Buffer below), and an Error arrives without its own properties (node:sqlite's `errcode`
 * and `errstr`, pg's `code`), which the batcher needs to tell an outage from a bug, so
 * errors are sent as `ClonedError` and rebuilt on the other side.
 */
import { Buffer } from 'node:buffer';
import { parentPort, workerData } from 'node:worker_threads';
import { sql } from 'kysely';
import type { DailyLimitsConfig } from '../../src/controls/limits.ts';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.ts';
import { type AnyOutcome, LedgerEngine, type MoneyCommand } from '../../src/ledger/engine.ts';

/** What the main thread hands the worker when it starts it. */
export interface BatchWorkerData {
  /** The bench database's data directory (the SQLite file is `corebank.db` in it). */
  dataDir: string;
  databasePoolSize: number;
  pinPepper: Uint8Array;
  pinMaxAttempts: number;
  /** The server's daily outgoing limits (a Map of bigints clones unchanged); absent: none. */
  limits: DailyLimitsConfig | undefined;
}

/** One batch (one message, one transaction), or the request to close and exit. */
export type BatchRequest =
  | { kind: 'batch'; id: number; commands: MoneyCommand[] }
  | { kind: 'close' };

/** An error's fields that survive the thread boundary, including the driver's codes. */
export interface ClonedError {
  name: string;
  message: string;
  stack: string | undefined;
  code?: unknown;
  errcode?: unknown;
  errstr?: unknown;
}

export type BatchReply =
  /** The database is open; `durability` as the worker's own connection reports it. */
  | { kind: 'ready'; durability: string }
  | { kind: 'outcomes'; id: number; outcomes: AnyOutcome[] }
  | { kind: 'error'; id: number; error: ClonedError };

function cloneError(error: unknown): ClonedError {
  if (!(error instanceof Error)) {
    return { name: 'Error', message: String(error), stack: undefined };
  }
  const { code, errcode, errstr } = error as {
    code?: unknown;
    errcode?: unknown;
    errstr?: unknown;
  };
  return {
    name: error.name,
    message: error.message,
    stack: error.stack,
    ...(code === undefined ? {} : { code }),
    ...(errcode === undefined ? {} : { errcode }),
    ...(errstr === undefined ? {} : { errstr }),
  };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('sqlite-batch-worker.ts runs only as a worker thread');
  const data = workerData as BatchWorkerData;
  const database: DatabaseHandle = await openDatabase({
    databaseUrl: undefined,
    dataDir: data.dataDir,
    databasePoolSize: data.databasePoolSize,
  });
  if (database.engine !== 'sqlite') throw new Error('the batch worker is for SQLite only');
  // The same deps as the main thread's engine (the engine bench gives it no daily limits).
  const engine = new LedgerEngine({
    engine: 'sqlite',
    pinPepper: Buffer.from(data.pinPepper),
    pinMaxAttempts: data.pinMaxAttempts,
    ...(data.limits === undefined ? {} : { limits: data.limits }),
  });
  // One batch at a time, in arrival order: the batcher sends one at a time for SQLite, and
  // the chain keeps it so even if it did not (the driver's mutex would too).
  let chain = Promise.resolve();
  port.on('message', (request: BatchRequest) => {
    chain = chain.then(async () => {
      if (request.kind === 'close') {
        await database.close();
        port.close();
        return;
      }
      try {
        const outcomes = await database.db
          .transaction()
          .execute((trx) => engine.applyAll(trx, request.commands));
        const reply: BatchReply = { kind: 'outcomes', id: request.id, outcomes };
        port.postMessage(reply);
      } catch (error) {
        // Nothing of the batch was committed; the batcher decides what to do (retry alone).
        const reply: BatchReply = { kind: 'error', id: request.id, error: cloneError(error) };
        port.postMessage(reply);
      }
    });
  });
  // synchronous is a per-connection setting: the worker's own connection is the one that commits.
  const { rows } = await sql<{ synchronous: bigint }>`pragma synchronous`.execute(database.db);
  const { rows: journal } = await sql<{
    journal_mode: string;
  }>`pragma journal_mode`.execute(database.db);
  const level = Number(rows[0]?.synchronous ?? -1n);
  const synchronous = ['OFF', 'NORMAL', 'FULL', 'EXTRA'][level] ?? String(level);
  const durability = `SQLite ${journal[0]?.journal_mode?.toUpperCase()}, synchronous=${synchronous} (batch worker's connection)`;
  const ready: BatchReply = { kind: 'ready', durability };
  port.postMessage(ready);
}

await main();
