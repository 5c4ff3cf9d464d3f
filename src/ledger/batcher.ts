import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { dependencyFailureOf } from '../reliability/dependencies.ts';
import { WaitAdmission } from './admission.ts';
import type { HoldPlaceCommand, HoldVoidCommand, PaymentCommand } from './commands/command.ts';
import type {
  AnyOutcome,
  BulkOutcome,
  BulkTransferGroup,
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
 * The batcher settings a server uses for its configuration. One batch at a time on both
 * engines by default: SQLite has one writer, and on PostgreSQL concurrent batches queue on
 * the accounts they share and split the load into smaller batches, so one at a time
 * commits more transfers a second with a lower p99 (docs/performance.md, issue #17).
 * `LEDGER_BATCH_CONCURRENCY` allows more (on PostgreSQL, each on its own connection; their
 * locks are taken in one global order, so they cannot deadlock).
 */
export function batcherOptionsOf(
  config: Pick<Config, 'ledgerMaxBatchSize' | 'ledgerMaxQueueSize' | 'ledgerBatchConcurrency'> &
    Partial<Pick<Config, 'ledgerMaxWaitMs'>>,
): BatcherOptions {
  return {
    maxBatchSize: config.ledgerMaxBatchSize,
    maxQueueSize: config.ledgerMaxQueueSize,
    concurrency: config.ledgerBatchConcurrency ?? 1,
    maxWaitMs: config.ledgerMaxWaitMs,
  };
}

interface WaitingCommand {
  command: MoneyCommand;
  resolve: (outcome: AnyOutcome) => void;
  reject: (error: unknown) => void;
  enqueuedAtMs: number;
}

/** A bulk request waits in the same queue and is applied alone, in its own transaction. */
interface WaitingBulk {
  bulk: BulkTransferGroup;
  resolve: (outcome: BulkOutcome) => void;
  reject: (error: unknown) => void;
  enqueuedAtMs: number;
}

type Waiting = WaitingCommand | WaitingBulk;

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
    const refusal = this.#refuseAtOnce();
    if (refusal !== undefined) return Promise.reject(refusal);
    return new Promise<AnyOutcome>((resolve, reject) => {
      this.#queue.push({ command, resolve, reject, enqueuedAtMs: performance.now() });
      this.#schedule();
    });
  }

  /**
   * A bulk transfer request: queued like a command, applied alone in one transaction of its
   * own (`LedgerEngine.applyBulk`), so its items are group-committed together and an atomic
   * request is all or nothing. It takes its turn in the queue (and its locks in the global
   * order), so bulk requests and single commands are serialised per account as ever.
   */
  submitBulk(bulk: BulkTransferGroup): Promise<BulkOutcome> {
    const refusal = this.#refuseAtOnce();
    if (refusal !== undefined) return Promise.reject(refusal);
    return new Promise<BulkOutcome>((resolve, reject) => {
      this.#queue.push({ bulk, resolve, reject, enqueuedAtMs: performance.now() });
      this.#schedule();
    });
  }

  /** A full queue, or a wait that would pass the deadline: refused at once, unapplied. */
  #refuseAtOnce(): CorebankError | undefined {
    if (this.#queue.length >= this.#options.maxQueueSize) {
      this.#stats.rejected += 1;
      // Refusing at once keeps latency bounded instead of letting the queue grow.
      return new CorebankError(
        'SERVICE_UNAVAILABLE',
        'too many money commands in flight; retry shortly',
      );
    }
    const refusal = this.#admission?.admit(this.#queue.length, this.#inFlight);
    if (refusal !== undefined) this.#stats.rejected += 1;
    return refusal;
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
      const head = this.#queue[0];
      if (head !== undefined && 'bulk' in head) {
        this.#queue.shift();
        if (this.#withoutExpired([head]).length === 0) continue;
        const size = head.bulk.items.length;
        this.#started(size);
        void this.#runBulk(head).finally(() => this.#finished());
        continue;
      }
      // Single commands up to the batch size, stopping at a bulk request (it runs alone).
      let count = 0;
      while (count < this.#options.maxBatchSize && count < this.#queue.length) {
        const next = this.#queue[count];
        if (next === undefined || 'bulk' in next) break;
        count += 1;
      }
      const batch = this.#withoutExpired(this.#queue.splice(0, count)) as WaitingCommand[];
      if (batch.length === 0) continue;
      this.#started(batch.length);
      void this.#run(batch).finally(() => this.#finished());
    }
  }

  #started(commands: number): void {
    this.#inFlight += 1;
    this.#stats.batches += 1;
    this.#stats.commands += commands;
    this.#stats.largestBatch = Math.max(this.#stats.largestBatch, commands);
  }

  #finished(): void {
    this.#inFlight -= 1;
    this.#schedule();
  }

  async #runBulk(waiting: WaitingBulk): Promise<void> {
    const startedAt = performance.now();
    try {
      const outcome = await this.#db
        .transaction()
        .execute((trx) => this.#engine.applyBulk(trx, waiting.bulk));
      waiting.resolve(outcome);
    } catch (error) {
      // A database error, not a rule: nothing of the request was committed.
      waiting.reject(error);
    } finally {
      this.#admission?.recordBatch(performance.now() - startedAt);
    }
  }

  /** Refuses (unapplied) the commands that waited past the deadline; returns the rest. */
  #withoutExpired<W extends Waiting>(batch: W[]): W[] {
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

  async #run(batch: WaitingCommand[]): Promise<void> {
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
