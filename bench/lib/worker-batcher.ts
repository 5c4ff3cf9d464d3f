/**
 * The worker trial of issue #17 item 3, for the in-process engine bench (`--engine-worker`)
 * and the server started by bench/trials/worker-server.ts (`--server-worker`); the server
 * itself is unchanged: the server's own CommandBatcher (src/ledger/batcher.ts), with its queue, its
 * maximum batch size and its one batch at a time for SQLite, but each batch is applied by a
 * worker thread (./sqlite-batch-worker.ts) on its own SQLite connection, one message per
 * batch, so the batch's statements and its commit's fsync no longer block the main thread.
 *
 * batcher.ts is not touched. It applies a batch as
 * `db.transaction().execute((trx) => engine.applyAll(trx, commands))`, so the trial gives it
 * two stand-ins: an engine whose `applyAll` posts the commands to the worker and answers
 * the worker's outcomes, and a Kysely handle whose transactions are empty shells (no BEGIN,
 * no COMMIT, and any SQL through it throws). The real transaction is the worker's. A real
 * main-thread transaction here would hold SQLite's write lock while the worker waited for it.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import {
  type DatabaseConnection,
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import type { Db, Trx } from '../../src/db/database.ts';
import type { Database } from '../../src/db/schema.ts';
import { type BatcherOptions, CommandBatcher } from '../../src/ledger/batcher.ts';
import {
  type AnyOutcome,
  type BulkOutcome,
  LedgerEngine,
  type LedgerEngineDeps,
  type MoneyCommand,
} from '../../src/ledger/engine.ts';
// Types only: importing the worker's module for its values would run the worker here.
import type {
  BatchReply,
  BatchRequest,
  BatchWorkerData,
  ClonedError,
} from './sqlite-batch-worker.ts';

/** Longest the worker may take to open its database before the trial gives up. */
const WORKER_START_TIMEOUT_MS = 30_000;

/** An Error again, with the driver's codes the batcher reads (`dependencyFailureOf`). */
function revive(cloned: ClonedError): Error {
  const error = new Error(cloned.message);
  error.name = cloned.name;
  if (cloned.stack !== undefined) error.stack = `${cloned.stack}\n    (in the SQLite batch worker)`;
  const { code, errcode, errstr } = cloned;
  return Object.assign(
    error,
    code === undefined ? {} : { code },
    errcode === undefined ? {} : { errcode },
    errstr === undefined ? {} : { errstr },
  );
}

/** The shell transaction's connection: the main thread must run no SQL in the trial. */
class NoSqlConnection implements DatabaseConnection {
  executeQuery(): Promise<never> {
    return Promise.reject(
      new Error('the worker trial runs no SQL on the main thread (the worker applies batches)'),
    );
  }

  // biome-ignore lint/correctness/useYield: streaming is refused outright, so nothing is yielded.
  async *streamQuery(): AsyncIterableIterator<never> {
    throw new Error('the worker trial runs no SQL on the main thread');
  }
}

class ShellDriver extends DummyDriver {
  override async acquireConnection(): Promise<DatabaseConnection> {
    return new NoSqlConnection();
  }
}

/** A Kysely handle whose transactions begin and commit nothing (see the file comment). */
function shellDb(): Db {
  return new Kysely<Database>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new ShellDriver(),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
}

interface Pending {
  resolve: (outcomes: AnyOutcome[]) => void;
  reject: (error: unknown) => void;
}

/**
 * A LedgerEngine whose `applyAll` is carried out by the batch worker. The deps it is built
 * with go to the worker's real engine; this one only forwards.
 */
export class WorkerLedgerEngine extends LedgerEngine {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #failure: Error | undefined;
  /** The worker connection's journal mode and synchronous setting, as it reported them. */
  readonly durability: string;

  private constructor(deps: LedgerEngineDeps, worker: Worker, durability: string) {
    super(deps);
    this.#worker = worker;
    this.durability = durability;
    worker.on('message', (reply: BatchReply) => this.#answer(reply));
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', (code) => this.#fail(new Error(`the SQLite batch worker exited (${code})`)));
  }

  /** Starts the worker and waits until its database is open. */
  static async start(
    deps: LedgerEngineDeps,
    database: { dataDir: string; databasePoolSize: number },
  ): Promise<WorkerLedgerEngine> {
    if (deps.engine !== 'sqlite') throw new Error('the worker trial is for SQLite only');
    const workerData: BatchWorkerData = {
      dataDir: database.dataDir,
      databasePoolSize: database.databasePoolSize,
      pinPepper: deps.pinPepper,
      pinMaxAttempts: deps.pinMaxAttempts,
      limits: deps.limits,
    };
    const worker = new Worker(new URL('./sqlite-batch-worker.ts', import.meta.url), {
      workerData,
    });
    const [ready] = (await Promise.race([
      once(worker, 'message'),
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error('the SQLite batch worker did not start')),
          WORKER_START_TIMEOUT_MS,
        ).unref(),
      ),
    ])) as [BatchReply];
    if (ready.kind !== 'ready') {
      await worker.terminate();
      throw new Error(`the SQLite batch worker answered ${ready.kind} before it was ready`);
    }
    return new WorkerLedgerEngine(deps, worker, ready.durability);
  }

  /** One message per batch; the outcomes come back in the commands' order. */
  override applyAll(_trx: Trx, commands: readonly MoneyCommand[]): Promise<AnyOutcome[]> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (commands.length === 0) return Promise.resolve([]);
    const id = this.#nextId++;
    return new Promise<AnyOutcome[]>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const request: BatchRequest = { kind: 'batch', id, commands: [...commands] };
      this.#worker.postMessage(request);
    });
  }

  /** The benchmarks' transfer runs send no bulk requests; the trial does not carry them. */
  override applyBulk(): Promise<BulkOutcome> {
    return Promise.reject(new Error('the worker trial does not apply bulk requests'));
  }

  /** The worker thread's own event-loop utilisation since it started (perf_hooks). */
  workerEventLoopUtilisation(): ReturnType<Worker['performance']['eventLoopUtilization']> {
    return this.#worker.performance.eventLoopUtilization();
  }

  /** Closes the worker's database (after its last batch) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.#failure !== undefined) return;
    const exited = once(this.#worker, 'exit');
    const request: BatchRequest = { kind: 'close' };
    this.#worker.postMessage(request);
    await exited;
  }

  #answer(reply: BatchReply): void {
    if (reply.kind === 'ready') return;
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) {
      this.#fail(new Error(`the SQLite batch worker answered unknown batch ${reply.id}`));
      return;
    }
    this.#pending.delete(reply.id);
    if (reply.kind === 'outcomes') pending.resolve(reply.outcomes);
    else pending.reject(revive(reply.error));
  }

  /** A worker that died answers nothing more: every batch still waiting fails now. */
  #fail(error: Error): void {
    this.#failure ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/**
 * The server's CommandBatcher with the given settings, applying its batches in a worker.
 * `close` ends the worker (and its database connection) once no batch is in flight.
 */
export async function startWorkerBatcher(
  deps: LedgerEngineDeps,
  database: { dataDir: string; databasePoolSize: number },
  options: BatcherOptions,
): Promise<{ batcher: CommandBatcher; engine: WorkerLedgerEngine; close: () => Promise<void> }> {
  const engine = await WorkerLedgerEngine.start(deps, database);
  const db = shellDb();
  const batcher = new CommandBatcher(db, engine, options);
  return {
    batcher,
    engine,
    close: async () => {
      await engine.close();
      await db.destroy();
    },
  };
}
