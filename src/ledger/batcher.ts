import type { Config } from '../config.ts';
import type { Db, Engine } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { dependencyFailureOf } from '../reliability/dependencies.ts';
import { WaitAdmission } from './admission.ts';
import type { HoldPlaceCommand, HoldVoidCommand, PaymentCommand } from './commands/command.ts';
import type {
  AnyOutcome,
  CommandOutcome,
  HoldOutcome,
  LedgerEngine,
  MoneyCommand,
} from './engine.ts';

export interface BatcherOptions {
  /** Most commands applied in one transaction (one durable commit). */
  maxBatchSize: number;
  /** Most commands waiting; beyond it callers are turned away with 503 at once. */
  maxQueueSize: number;
  /** Batches in flight at once: 1 for SQLite (one writer), a few for PostgreSQL. */
  concurrency: number;
  /** Longest a command may wait for its batch; beyond it, 503 at once (./admission.ts). */
  maxWaitMs?: number | undefined;
}

/**
 * The batcher settings a server uses for its engine and configuration. SQLite has one
 * writer, so one batch at a time; PostgreSQL commits batches on several connections at once
 * (their locks are taken in one global order, so they cannot deadlock).
 */
export function batcherOptionsOf(
  config: Pick<
    Config,
    'ledgerMaxBatchSize' | 'ledgerMaxQueueSize' | 'ledgerBatchConcurrency' | 'databasePoolSize'
  > &
    Partial<Pick<Config, 'ledgerMaxWaitMs'>>,
  engine: Engine,
): BatcherOptions {
  return {
    maxBatchSize: config.ledgerMaxBatchSize,
    maxQueueSize: config.ledgerMaxQueueSize,
    concurrency:
      config.ledgerBatchConcurrency ??
      (engine === 'sqlite' ? 1 : Math.min(4, config.databasePoolSize)),
    maxWaitMs: config.ledgerMaxWaitMs,
  };
}

interface Waiting {
  command: MoneyCommand;
  resolve: (outcome: AnyOutcome) => void;
  reject: (error: unknown) => void;
  enqueuedAtMs: number;
}

/**
 * Group commit. Money commands from concurrent requests wait in a bounded queue; whenever a
 * batch slot is free, everything waiting (up to `maxBatchSize`) is applied in one database
 * transaction and committed with one durable commit, and each caller gets its own outcome.
 * A lone request waits one event-loop turn at most: with an idle slot it runs as a batch of
 * one, and batches grow only with requests that arrived together or while earlier batches
 * were committing — which is exactly when waiting is cheaper than another commit.
 *
 * A caller's promise resolves only after the commit that holds its command has returned,
 * i.e. after SQLite's fsync (`synchronous=FULL`) or PostgreSQL's `synchronous_commit=on`.
 */
export class CommandBatcher {
  readonly #db: Db;
  readonly #engine: LedgerEngine;
  readonly #options: BatcherOptions;
  readonly #admission: WaitAdmission | undefined;
  readonly #queue: Waiting[] = [];
  #inFlight = 0;
  #scheduled = false;
  readonly #stats = { batches: 0, commands: 0, largestBatch: 0, rejected: 0 };

  constructor(db: Db, engine: LedgerEngine, options: BatcherOptions) {
    if (options.maxBatchSize < 1 || options.maxQueueSize < 1 || options.concurrency < 1) {
      throw new Error('batcher sizes must be positive');
    }
    this.#db = db;
    this.#engine = engine;
    this.#options = options;
    this.#admission =
      options.maxWaitMs === undefined
        ? undefined
        : new WaitAdmission({
            maxWaitMs: options.maxWaitMs,
            maxBatchSize: options.maxBatchSize,
            concurrency: options.concurrency,
          });
  }

  /** Commands waiting for a batch slot (not counting those being applied). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Counters since start: batches committed, commands in them, the largest, refusals. */
  get stats(): Readonly<{
    batches: number;
    commands: number;
    largestBatch: number;
    rejected: number;
  }> {
    return { ...this.#stats };
  }

  /** Kinds that post nothing answer their hold; every other kind its transaction. */
  submit(command: HoldPlaceCommand | HoldVoidCommand | PaymentCommand): Promise<HoldOutcome>;
  submit(command: MoneyCommand): Promise<CommandOutcome>;
  submit(command: MoneyCommand): Promise<AnyOutcome> {
    if (this.#queue.length >= this.#options.maxQueueSize) {
      this.#stats.rejected += 1;
      // Refusing at once keeps latency bounded instead of letting the queue grow.
      return Promise.reject(
        new CorebankError(
          'SERVICE_UNAVAILABLE',
          'too many money commands in flight; retry shortly',
        ),
      );
    }
    const refusal = this.#admission?.admit(this.#queue.length, this.#inFlight);
    if (refusal !== undefined) {
      this.#stats.rejected += 1;
      return Promise.reject(refusal);
    }
    return new Promise<AnyOutcome>((resolve, reject) => {
      this.#queue.push({ command, resolve, reject, enqueuedAtMs: performance.now() });
      this.#schedule();
    });
  }

  /**
   * Starts batches on the next turn of the event loop rather than at once. Requests whose
   * bytes arrived together (or while the previous commit held the thread: SQLite commits
   * synchronously) are parsed and queued in this turn, so they share the next batch instead
   * of each paying for a commit. The wait is one event-loop turn, not a timer.
   */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#options.concurrency && this.#queue.length > 0) {
      const batch = this.#withoutExpired(this.#queue.splice(0, this.#options.maxBatchSize));
      if (batch.length === 0) continue;
      this.#inFlight += 1;
      this.#stats.batches += 1;
      this.#stats.commands += batch.length;
      this.#stats.largestBatch = Math.max(this.#stats.largestBatch, batch.length);
      void this.#run(batch).finally(() => {
        this.#inFlight -= 1;
        this.#schedule();
      });
    }
  }

  /** Refuses (unapplied) the commands that waited past the deadline; returns the rest. */
  #withoutExpired(batch: Waiting[]): Waiting[] {
    if (this.#admission === undefined) return batch;
    const now = performance.now();
    return batch.filter((waiting) => {
      const refusal = this.#admission?.expired(waiting.enqueuedAtMs, now);
      if (refusal === undefined) return true;
      this.#stats.rejected += 1;
      waiting.reject(refusal);
      return false;
    });
  }

  async #run(batch: Waiting[]): Promise<void> {
    const startedAt = performance.now();
    try {
      const outcomes = await this.#applyInTransaction(batch.map((w) => w.command));
      this.#admission?.recordBatch(performance.now() - startedAt);
      batch.forEach((waiting, index) => {
        const outcome = outcomes[index];
        if (outcome === undefined) waiting.reject(new Error('batch returned too few outcomes'));
        else waiting.resolve(outcome);
      });
    } catch (batchError) {
      this.#admission?.recordBatch(performance.now() - startedAt);
      // A database that is down fails every command alike: answer them all now (503, none
      // applied) rather than retrying each one against it.
      if (batch.length === 1 || dependencyFailureOf(batchError) !== undefined) {
        for (const waiting of batch) waiting.reject(batchError);
        return;
      }
      if (batch.length === 1) {
        batch[0]?.reject(batchError);
        return;
      }
      // The whole transaction failed (a database error, not a rule: rules give outcomes).
      // Nothing of it was committed; retry each command alone, so one command that trips
      // the database cannot take the others down with it.
      for (const waiting of batch) {
        try {
          const [outcome] = await this.#applyInTransaction([waiting.command]);
          if (outcome === undefined) throw new Error('batch returned no outcome');
          waiting.resolve(outcome);
        } catch (error) {
          waiting.reject(error);
        }
      }
    }
  }

  #applyInTransaction(commands: MoneyCommand[]): Promise<AnyOutcome[]> {
    return this.#db.transaction().execute((trx) => this.#engine.applyAll(trx, commands));
  }
}
